import { APP_ID_RE, GRANT_ID_RE, isConsentScope } from '@self/crypto';
import { createLocalJWKSet, errors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { Actor, Instance } from '../instance.js';
import { GrantError, type TokenRefusal } from './errors.js';

/**
 * App access tokens at the instance (docs/instance-api.md, "Apps"). The gateway verifies an app's
 * token too, but the instance trusts no one's word for it: it checks the JWT itself against the
 * issuer's public keys from its process config, then the grant the token names against the grants
 * the person signed and it holds. So a compromised control plane that mints a token still gets
 * nothing: without a grant the person signed, no token opens the instance.
 */

/** Who signs app tokens: the cloud's public URL (`iss`) and its public JWKs (Ed25519). */
export interface AppTokenConfig {
  issuer: string;
  keys: JWK[];
}

/** The claims of a verified token that the instance uses. */
interface Claims {
  appId: string;
  scopes: string[];
  grantId: string;
  /** `exp` in ms since the epoch. */
  expMs: number;
}

/** Verified tokens kept at most; the oldest goes first (a Map iterates in insertion order). */
const CACHE_ENTRIES = 4096;

const MESSAGES: Readonly<Record<TokenRefusal, string>> = {
  no_issuer: 'this instance accepts no app tokens (no token issuer is configured)',
  bad_token: 'the access token is not one the issuer signed for this instance',
  expired: 'the access token has expired; refresh it',
  wrong_audience: "the access token is for another person's instance",
  unknown_grant: 'the access token names a grant this instance does not hold for this app',
  grant_revoked: 'the grant behind this access token was revoked; ask the person to approve the app again',
  grant_expired: 'the grant behind this access token has expired; ask the person to approve the app again',
  scope_not_granted: 'the access token carries scopes the grant does not give',
};

/** A refusal before an Actor exists; `app`/`grant` are set once the token's signature checked out. */
class Refusal extends Error {
  constructor(
    readonly reason: TokenRefusal,
    readonly app: string | null = null,
    readonly grant: string | null = null,
  ) {
    super(MESSAGES[reason]);
  }
}

function scopesOf(scope: unknown): string[] | null {
  if (typeof scope !== 'string' || scope.length === 0) return null;
  const scopes = scope.split(' ');
  return scopes.every(isConsentScope) ? scopes : null;
}

/** The claims SELF's tokens must carry, beyond what jwtVerify checked. */
function claimsOf(payload: JWTPayload, did: string): Claims {
  const { client_id: appId, grant: grantId, exp, sub } = payload as JWTPayload & Record<string, unknown>;
  if (typeof appId !== 'string' || !APP_ID_RE.test(appId)) throw new Refusal('bad_token');
  if (typeof grantId !== 'string' || !GRANT_ID_RE.test(grantId)) throw new Refusal('bad_token', appId);
  const scopes = scopesOf(payload.scope);
  if (scopes === null || typeof exp !== 'number') throw new Refusal('bad_token', appId, grantId);
  if (sub !== did) throw new Refusal('wrong_audience', appId, grantId);
  return { appId, scopes, grantId, expMs: exp * 1000 };
}

export class AppTokens {
  private readonly keys: ReturnType<typeof createLocalJWKSet> | null;
  private readonly audience: string | null;
  private readonly cache = new Map<string, Claims>();

  constructor(
    private readonly instance: Instance,
    private readonly config: AppTokenConfig | null,
    private readonly now: () => number,
  ) {
    this.keys = config === null ? null : createLocalJWKSet({ keys: config.keys });
    this.audience = config === null ? null : `${config.issuer}/v1/i/${instance.did}`;
  }

  /**
   * The Actor of an app request for `did` carrying `token`, or GrantError('invalid_token') with
   * details.reason, audited as a denied `app.access`. A token verified before is looked up, not
   * verified again, until it expires; its grant is read on every call, so a revocation or a grant's
   * expiry takes effect at the very next request.
   */
  async authenticate(did: string, token: string): Promise<Actor> {
    try {
      if (did !== this.instance.did) throw new Refusal('wrong_audience');
      const claims = await this.claims(token);
      const grant = this.instance.grants().get(claims.grantId);
      const refuse = (reason: TokenRefusal): never => {
        throw new Refusal(reason, claims.appId, claims.grantId);
      };
      if (grant === null || grant.appId !== claims.appId) refuse('unknown_grant');
      if (grant!.revokedAt !== null) refuse('grant_revoked');
      if (grant!.expiresAt <= this.now()) refuse('grant_expired');
      if (!claims.scopes.every((s) => grant!.scopes.includes(s))) refuse('scope_not_granted');
      this.instance.grants().noteUse(claims.grantId);
      return { kind: 'app', did, appId: claims.appId, scopes: claims.scopes, grantId: claims.grantId };
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.instance.auditDenied({
        actor: did,
        app: err.app,
        scope: 'token',
        action: 'app.access',
        object: err.grant === null ? err.reason : `grants/${err.grant} ${err.reason}`,
      });
      throw new GrantError('invalid_token', err.message, { reason: err.reason });
    }
  }

  private async claims(token: string): Promise<Claims> {
    const cached = this.cache.get(token);
    const now = this.now();
    if (cached !== undefined) {
      if (cached.expMs > now) return cached;
      this.cache.delete(token);
    }
    if (this.keys === null || this.config === null || this.audience === null) throw new Refusal('no_issuer');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.config.issuer,
        audience: this.audience,
        typ: 'at+jwt',
        algorithms: ['EdDSA'],
        requiredClaims: ['exp', 'sub', 'client_id', 'scope', 'grant'],
        currentDate: new Date(now),
      }));
    } catch (err) {
      throw refusalOf(err);
    }
    const claims = claimsOf(payload, this.instance.did);
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, claims);
    return claims;
  }
}

/** jose's verdict as a refusal; the app and grant only from a payload whose signature verified. */
function refusalOf(err: unknown): Refusal {
  const verified = (payload: JWTPayload): [string | null, string | null] => {
    const { client_id: app, grant } = payload as Record<string, unknown>;
    return [
      typeof app === 'string' && APP_ID_RE.test(app) ? app : null,
      typeof grant === 'string' && GRANT_ID_RE.test(grant) ? grant : null,
    ];
  };
  if (err instanceof errors.JWTExpired) return new Refusal('expired', ...verified(err.payload));
  if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') {
    return new Refusal('wrong_audience', ...verified(err.payload));
  }
  return new Refusal('bad_token');
}
