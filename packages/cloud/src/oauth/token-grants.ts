import type { Provisioner } from '../instances/index.js';
import { ACCESS_TOKEN_TTL_S } from './access-tokens.js';
import type { AuthenticatedClient } from './client-auth.js';
import { OAuthError, invalidGrant, invalidRequest, invalidScope } from './errors.js';
import type { Family } from './families.js';
import { callAsPerson, grantOf } from './instance-calls.js';
import { verifyS256 } from './pkce.js';
import type { OAuthServer } from './server.js';

/** The token endpoint's parameters (RFC 6749 §4.1.3, §6), as validated at the edge. */
export interface TokenParams {
  grant_type: string;
  code?: string;
  redirect_uri?: string;
  code_verifier?: string;
  refresh_token?: string;
  scope?: string;
}

/** A successful token response (RFC 6749 §5.1, with SELF's `did`, `instance_url`, `grant_id`). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
  did: string;
  instance_url: string;
  grant_id: string;
}

/**
 * A requested `scope` parameter as a subset of `allowed`; absent: all of `allowed`. Anything
 * outside is `invalid_scope`: a token or refresh may narrow a grant, never widen it.
 */
export function narrowScopes(requested: string | undefined, allowed: readonly string[]): string[] {
  if (requested === undefined) return [...allowed];
  const asked = [...new Set(requested.split(' ').filter((s) => s !== ''))].sort();
  if (asked.length === 0) throw invalidScope('scope is empty');
  const extra = asked.filter((s) => !allowed.includes(s));
  if (extra.length > 0)
    throw invalidScope('the requested scope exceeds what was granted', {
      not_granted: extra,
      granted: allowed,
    });
  return asked;
}

async function tokensFor(
  s: OAuthServer,
  family: Family,
  refreshScopes: readonly string[],
  accessScopes: readonly string[],
): Promise<TokenResponse> {
  const refresh = s.families.issueRefresh(family, refreshScopes);
  const { token } = await s.tokens.issue({
    did: family.did,
    clientId: family.clientId,
    scopes: accessScopes,
    grantId: family.grantId,
    familyId: family.id,
  });
  return {
    access_token: token,
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_TTL_S,
    refresh_token: refresh.token,
    scope: accessScopes.join(' '),
    did: family.did,
    instance_url: s.tokens.audienceOf(family.did),
    grant_id: family.grantId,
  };
}

/** `authorization_code` (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.6). */
export async function exchangeCode(
  s: OAuthServer,
  client: AuthenticatedClient,
  p: TokenParams,
): Promise<TokenResponse> {
  if (p.code === undefined) throw invalidRequest('code is required');
  if (p.redirect_uri === undefined) throw invalidRequest('redirect_uri is required');
  if (p.code_verifier === undefined) throw invalidRequest('code_verifier is required (PKCE)');
  const found = s.codes.redeem(p.code);
  if (found.kind === 'unknown') throw invalidGrant('the code is unknown');
  if (found.kind === 'reused') {
    // OAuth 2.1 §4.1.3: a code used twice was stolen or replayed; what its first use made goes.
    if (found.code.familyId !== null) s.families.revoke(found.code.familyId, 'code_reuse');
    throw invalidGrant('the code was already used; the tokens it gave were revoked');
  }
  const code = found.code;
  // Whichever check fails, the code is spent: a stolen code gets one try.
  if (code.clientId !== client.app.appId) throw invalidGrant('the code was issued to another client');
  if (found.expired) throw invalidGrant('the code has expired');
  if (p.redirect_uri !== code.redirectUri)
    throw invalidGrant('redirect_uri differs from the authorization request’s');
  if (!verifyS256(p.code_verifier, code.codeChallenge))
    throw invalidGrant('code_verifier does not match the code_challenge');
  const scopes = narrowScopes(p.scope, code.scopes);
  const family = s.families.create({
    clientId: code.clientId,
    did: code.did,
    grantId: code.grantId,
    scopes: code.scopes,
    expiresAt: code.grantExpiresAt,
  });
  s.codes.attachFamily(p.code, family.id);
  return tokensFor(s, family, code.scopes, scopes);
}

/**
 * Asks the person's instance whether the grant still stands. Revoked, expired or gone: the family
 * is revoked here too. The instance being unreachable is not a verdict: 503, the client retries.
 */
async function checkGrant(s: OAuthServer, provisioner: Provisioner, family: Family): Promise<void> {
  let answer;
  try {
    answer = await callAsPerson(provisioner, family.did, 'GET', `/v1/grants/${family.grantId}`);
  } catch {
    throw new OAuthError(
      503,
      'temporarily_unavailable',
      'the person’s instance cannot be reached; retry shortly',
      {},
      {
        'retry-after': '5',
      },
    );
  }
  const grant = grantOf(answer);
  if (answer.status === 200 && grant !== null) {
    if (grant.state === 'active') return;
    const reason = grant.state === 'expired' ? 'grant_expired' : 'grant_revoked';
    s.families.revoke(family.id, reason);
    throw invalidGrant(`the grant was ${grant.state === 'expired' ? 'expired' : 'revoked'}`, { reason });
  }
  if (answer.status === 404) {
    s.families.revoke(family.id, 'grant_revoked');
    throw invalidGrant('the person’s instance no longer holds this grant', { reason: 'grant_revoked' });
  }
  throw new OAuthError(
    503,
    'temporarily_unavailable',
    'the person’s instance could not confirm the grant; retry shortly',
    {
      instance_status: answer.status,
    },
    { 'retry-after': '5' },
  );
}

/** `refresh_token` (RFC 6749 §6) with rotation and reuse detection (OAuth 2.1 §4.3.1). */
export async function refresh(
  s: OAuthServer,
  provisioner: Provisioner,
  client: AuthenticatedClient,
  p: TokenParams,
): Promise<TokenResponse> {
  if (p.refresh_token === undefined) throw invalidRequest('refresh_token is required');
  const seen = s.families.inspect(p.refresh_token);
  if (seen.kind === 'unknown') throw invalidGrant('the refresh token is unknown');
  if (seen.family.clientId !== client.app.appId)
    throw invalidGrant('the refresh token was issued to another client');
  if (seen.kind === 'reused') {
    s.families.rotate(p.refresh_token); // revokes the family
    throw invalidGrant('the refresh token was already used; every token of this grant was revoked', {
      reason: 'refresh_reuse',
    });
  }
  if (seen.kind === 'revoked') throw invalidGrant('the refresh token was revoked');
  if (seen.kind === 'expired') throw invalidGrant('the refresh token has expired');
  const scopes = narrowScopes(p.scope, seen.scopes);
  await checkGrant(s, provisioner, seen.family);
  // Rotate only now: a concurrent use of the same token between inspect and here is a reuse.
  const used = s.families.rotate(p.refresh_token);
  if (used.kind !== 'live')
    throw invalidGrant('the refresh token was already used; every token of this grant was revoked', {
      reason: 'refresh_reuse',
    });
  return tokensFor(s, used.family, used.scopes, scopes);
}
