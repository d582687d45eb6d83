import { CONSENT_MAX_TTL_MS, CONSENT_MIN_TTL_MS, verifyConsent, type ConsentFields } from '@self/crypto';
import type { Provisioner } from '../instances/index.js';
import type { AppView, Clients } from './clients.js';
import type { CodeStore } from './codes.js';
import { OAuthError } from './errors.js';
import { callAsPerson, grantOf, instanceFailure, type InstanceGrant } from './instance-calls.js';
import type { AuthRequest, RequestStore } from './requests.js';
import { describeScope } from './scope-text.js';

/** How far a device's clock may be from ours when it stamps issued_at. */
export const ISSUED_AT_SKEW_MS = 10 * 60 * 1000;

/** A consent as the device signed it (byte strings already decoded). */
export interface SignedConsent {
  publicKey: Uint8Array;
  signature: Uint8Array;
  issuedAt: number;
  expiresAt: number;
}

/** What the person sees of a request (GET /v1/consent/requests/{ref}). */
export interface RequestView {
  id: string;
  user_code: string;
  app: AppView | { app_id: string; verified_on_chain: false };
  scopes: Array<{ scope: string; description: string }>;
  redirect_uri: string;
  grant_id: string;
  origin: string;
  created_at: number;
  expires_at: number;
  status: 'pending' | 'approved' | 'denied' | 'expired';
}

/** `uri` with these parameters added to its query (RFC 6749 §4.1.2: keep any query it has). */
export function withQuery(uri: string, params: Record<string, string | null>): string {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== null) q.append(name, value);
  return `${uri}${uri.includes('?') ? '&' : '?'}${q.toString()}`;
}

export const scopeList = (scopes: readonly string[]): Array<{ scope: string; description: string }> =>
  scopes.map((scope) => ({ scope, description: describeScope(scope) }));

interface ConsentDeps {
  requests: RequestStore;
  codes: CodeStore;
  clients: Clients;
  provisioner: Provisioner;
  /** The issuer (the cloud's public URL), the `iss` of the authorization response (RFC 9207). */
  issuer: string;
  /** signInOrigin(issuer): what consents must name. */
  origin: string;
  now: () => number;
}

/**
 * The person's decision on an authorization request: a consent signed on their device (or, for a
 * test user, by the cloud with the test user's key) is checked, relayed to their instance, which
 * verifies and stores it as a grant, and only then is the code issued.
 */
export class ConsentService {
  constructor(private readonly d: ConsentDeps) {}

  /**
   * The request `ref` names (id or user code), for `did`: claimed for them when unbound. Unknown:
   * 404; someone else's: 403; past its 10 minutes: 410 `request_expired`.
   */
  forPerson(ref: string, did: string): AuthRequest {
    let req = this.d.requests.find(ref);
    if (!req) throw new OAuthError(404, 'not_found', 'no authorization request with this id or code');
    if (req.did === null) req = this.d.requests.claim(req.id, did);
    if (req.did !== did)
      throw new OAuthError(403, 'forbidden', 'this authorization request is for another person');
    if (req.status === 'pending' && this.d.now() >= req.expiresAt)
      throw new OAuthError(
        410,
        'request_expired',
        'this authorization request has expired; start again from the app',
        {
          expired_at: req.expiresAt,
        },
      );
    return req;
  }

  async view(req: AuthRequest): Promise<RequestView> {
    const client = await this.d.clients.resolve(req.clientId);
    const expired = req.status === 'pending' && this.d.now() >= req.expiresAt;
    return {
      id: req.id,
      user_code: req.userCode,
      app: client ? this.d.clients.view(client) : { app_id: req.clientId, verified_on_chain: false },
      scopes: scopeList(req.scopes),
      redirect_uri: req.redirectUri,
      grant_id: req.grantId,
      origin: this.d.origin,
      created_at: req.createdAt,
      expires_at: req.expiresAt,
      status: expired ? 'expired' : req.status,
    };
  }

  /** The ConsentFields the device must have signed for `req`. */
  fields(req: AuthRequest, did: string, issuedAt: number, expiresAt: number): ConsentFields {
    return {
      origin: this.d.origin,
      did,
      grant: req.grantId,
      app: req.clientId,
      scopes: req.scopes,
      issuedAt,
      expiresAt,
    };
  }

  async approve(
    req: AuthRequest,
    did: string,
    signed: SignedConsent,
  ): Promise<{ redirect_to: string; grant: InstanceGrant }> {
    this.checkPending(req);
    const now = this.d.now();
    const ttl = signed.expiresAt - signed.issuedAt;
    if (!(ttl >= CONSENT_MIN_TTL_MS && ttl <= CONSENT_MAX_TTL_MS))
      throw new OAuthError(400, 'invalid_consent', 'a grant lasts from 1 hour to 400 days', {
        reason: 'bad_expiry',
        min_ms: CONSENT_MIN_TTL_MS,
        max_ms: CONSENT_MAX_TTL_MS,
      });
    if (Math.abs(signed.issuedAt - now) > ISSUED_AT_SKEW_MS)
      throw new OAuthError(400, 'invalid_consent', 'issued_at is too far from now; check the device clock', {
        reason: 'bad_issued_at',
        now,
      });
    const fields = this.fields(req, did, signed.issuedAt, signed.expiresAt);
    // Cheap pre-check; the instance verifies again before it stores anything.
    if (!verifyConsent(fields, signed.publicKey, signed.signature))
      throw new OAuthError(
        400,
        'invalid_consent',
        'the consent signature does not verify for this request and DID',
        {
          reason: 'bad_signature',
        },
      );
    const answer = await callAsPerson(this.d.provisioner, did, 'POST', '/v1/grants', {
      consent: {
        origin: fields.origin,
        did,
        grant: fields.grant,
        app: fields.app,
        scopes: req.scopes,
        issued_at: fields.issuedAt,
        expires_at: fields.expiresAt,
      },
      public_key: Buffer.from(signed.publicKey).toString('base64url'),
      signature: Buffer.from(signed.signature).toString('base64url'),
    });
    const grant = grantOf(answer);
    if ((answer.status !== 200 && answer.status !== 201) || grant === null)
      throw instanceFailure(answer, 'store the grant');
    const code = this.d.codes.issue({
      requestId: req.id,
      clientId: req.clientId,
      did,
      grantId: req.grantId,
      scopes: req.scopes,
      redirectUri: req.redirectUri,
      codeChallenge: req.codeChallenge,
      grantExpiresAt: signed.expiresAt,
    });
    const redirectTo = withQuery(req.redirectUri, { code, state: req.state, iss: this.d.issuer });
    if (!this.d.requests.decide(req.id, 'approved', redirectTo)) throw decided();
    return { redirect_to: redirectTo, grant };
  }

  deny(req: AuthRequest): { redirect_to: string } {
    this.checkPending(req);
    const redirectTo = withQuery(req.redirectUri, {
      error: 'access_denied',
      error_description: 'the person refused the request',
      state: req.state,
      iss: this.d.issuer,
    });
    if (!this.d.requests.decide(req.id, 'denied', redirectTo)) throw decided();
    return { redirect_to: redirectTo };
  }

  private checkPending(req: AuthRequest): void {
    if (req.status !== 'pending') throw decided();
    if (this.d.now() >= req.expiresAt)
      throw new OAuthError(
        410,
        'request_expired',
        'this authorization request has expired; start again from the app',
      );
  }
}

const decided = (): OAuthError =>
  new OAuthError(409, 'request_decided', 'this authorization request was already approved or denied');
