import { randomBytes } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { instanceEndpoint } from '../http/views.js';
import type { SigningKeyPair } from './signing-key.js';

/** Access tokens live 15 minutes: short enough that a leaked one is soon useless. */
export const ACCESS_TOKEN_TTL_S = 900;

/** A JWT: three base64url parts. Bounded so a huge header is refused before any parsing. */
const JWT_RE = /^[A-Za-z0-9_-]{1,2048}\.[A-Za-z0-9_-]{1,8192}\.[A-Za-z0-9_-]{1,256}$/;

export const looksLikeJwt = (token: string): boolean => JWT_RE.test(token);

/** The claims of an access token (RFC 9068, plus SELF's `grant` and `fam`). */
export interface AccessClaims {
  iss: string;
  /** The person's DID. */
  sub: string;
  /** `<iss>/v1/i/<sub>`: the person's instance endpoint, the only place the token is good for. */
  aud: string;
  client_id: string;
  /** Space-separated. */
  scope: string;
  grant: string;
  /** The token family (the refresh chain) it belongs to; revoking the family revokes it. */
  fam: string;
  jti: string;
  iat: number;
  exp: number;
}

export type TokenRefusal = 'bad_token' | 'expired' | 'wrong_audience';

export type VerifyResult = { ok: true; claims: AccessClaims } | { ok: false; reason: TokenRefusal };

export interface IssueInput {
  did: string;
  clientId: string;
  scopes: readonly string[];
  grantId: string;
  familyId: string;
}

/**
 * Signs and checks access tokens: JWTs per RFC 9068 (`typ: at+jwt`, EdDSA) whose audience is one
 * person's instance. The gateway checks them before forwarding; the instance checks them again
 * with the published key, so neither trusts the other's word.
 */
/** Verified tokens kept at most; the oldest goes first (a Map iterates in insertion order). */
const VERIFIED_CACHE_ENTRIES = 8192;

export class AccessTokens {
  /**
   * Tokens whose signature already verified, with their claims: an app's every request carries the
   * same token for 15 minutes, and an EdDSA verification per request would be most of the
   * gateway's cost. Expiry and audience are still checked on each call; revocation is the
   * family's, checked by the caller every time.
   */
  private readonly verified = new Map<string, AccessClaims>();

  constructor(
    private readonly key: SigningKeyPair,
    readonly issuer: string,
    private readonly now: () => number,
  ) {}

  audienceOf(did: string): string {
    return instanceEndpoint(this.issuer, did);
  }

  async issue(input: IssueInput): Promise<{ token: string; claims: AccessClaims }> {
    const iat = Math.floor(this.now() / 1000);
    const claims: AccessClaims = {
      iss: this.issuer,
      sub: input.did,
      aud: this.audienceOf(input.did),
      client_id: input.clientId,
      scope: input.scopes.join(' '),
      grant: input.grantId,
      fam: input.familyId,
      jti: randomBytes(16).toString('base64url'),
      iat,
      exp: iat + ACCESS_TOKEN_TTL_S,
    };
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: this.key.kid })
      .sign(this.key.privateKey);
    return { token, claims };
  }

  /**
   * Checks signature, type, issuer, expiry and, when given, that the audience is the instance of
   * `did`. `ignoreExpiry` is for revocation: an expired token still names the family to revoke.
   */
  async verify(token: string, opts: { did?: string; ignoreExpiry?: boolean } = {}): Promise<VerifyResult> {
    const cached = this.verified.get(token);
    if (cached !== undefined) {
      if (!opts.ignoreExpiry && cached.exp * 1000 <= this.now()) {
        this.verified.delete(token);
        return { ok: false, reason: 'expired' };
      }
      if (opts.did !== undefined && cached.aud !== this.audienceOf(opts.did))
        return { ok: false, reason: 'wrong_audience' };
      return { ok: true, claims: cached };
    }
    const result = await this.verifySignature(token, opts);
    if (result.ok) {
      if (this.verified.size >= VERIFIED_CACHE_ENTRIES)
        this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, result.claims);
    }
    return result;
  }

  private async verifySignature(
    token: string,
    opts: { did?: string; ignoreExpiry?: boolean },
  ): Promise<VerifyResult> {
    if (!looksLikeJwt(token)) return { ok: false, reason: 'bad_token' };
    try {
      if (decodeProtectedHeader(token).kid !== this.key.kid) return { ok: false, reason: 'bad_token' };
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: ['EdDSA'],
        typ: 'at+jwt',
        issuer: this.issuer,
        requiredClaims: ['sub', 'aud', 'client_id', 'scope', 'grant', 'fam', 'jti', 'iat', 'exp'],
        currentDate: new Date(opts.ignoreExpiry ? 0 : this.now()),
        clockTolerance: 0,
      });
      const claims = payload as unknown as AccessClaims;
      if (
        typeof claims.sub !== 'string' ||
        typeof claims.aud !== 'string' ||
        typeof claims.client_id !== 'string' ||
        typeof claims.scope !== 'string' ||
        typeof claims.grant !== 'string' ||
        typeof claims.fam !== 'string' ||
        claims.aud !== this.audienceOf(claims.sub)
      )
        return { ok: false, reason: 'bad_token' };
      if (opts.did !== undefined && claims.aud !== this.audienceOf(opts.did))
        return { ok: false, reason: 'wrong_audience' };
      return { ok: true, claims };
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
      return { ok: false, reason: 'bad_token' };
    }
  }
}
