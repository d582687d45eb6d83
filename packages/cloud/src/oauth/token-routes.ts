import { Type } from '@sinclair/typebox';
import { bearerToken } from '../auth/tokens.js';
import { authenticateDeveloper } from '../developers/api-keys.js';
import type { CloudApp, CloudContext } from '../routes/context.js';
import { looksLikeJwt } from './access-tokens.js';
import { authenticateClient } from './client-auth.js';
import { OAuthError } from './errors.js';
import { isRefreshTokenShape } from './families.js';
import type { OAuthServer } from './server.js';
import { exchangeCode, refresh, type TokenParams } from './token-grants.js';

// RFC 6749 §3.2: unknown parameters are ignored, so the objects stay open; a repeated parameter
// arrives as an array and fails its string type (invalid_request), as §3.1 asks.
const param = (maxLength: number): ReturnType<typeof Type.String> => Type.String({ maxLength });
const ClientParams = {
  client_id: Type.Optional(param(128)),
  client_secret: Type.Optional(param(256)),
};

const TokenBody = Type.Object(
  {
    grant_type: Type.String({ minLength: 1, maxLength: 128 }),
    code: Type.Optional(param(256)),
    redirect_uri: Type.Optional(param(2048)),
    code_verifier: Type.Optional(param(256)),
    refresh_token: Type.Optional(param(256)),
    scope: Type.Optional(param(4096)),
    ...ClientParams,
  },
  { additionalProperties: true },
);

const TokenRefBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 16_384 }),
    token_type_hint: Type.Optional(param(64)),
    ...ClientParams,
  },
  { additionalProperties: true },
);

type TokenRef = { token: string; client_id?: string; client_secret?: string };

/** RFC 6749 §5.1: token responses are never cached. */
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** What a token is, if this server issued it and it is still good. */
async function describeToken(
  s: OAuthServer,
  token: string,
): Promise<(Record<string, unknown> & { client_id: string }) | null> {
  if (isRefreshTokenShape(token)) {
    const r = s.families.inspect(token);
    if (r.kind !== 'live') return null;
    const f = r.family;
    return {
      active: true,
      scope: r.scopes.join(' '),
      client_id: f.clientId,
      sub: f.did,
      aud: s.tokens.audienceOf(f.did),
      iss: s.issuer,
      exp: Math.floor(r.expiresAt / 1000),
      iat: Math.floor(f.createdAt / 1000),
      token_type: 'refresh_token',
      grant: f.grantId,
    };
  }
  if (!looksLikeJwt(token)) return null;
  const v = await s.tokens.verify(token);
  if (!v.ok || !s.families.isLive(v.claims.fam)) return null;
  const c = v.claims;
  return {
    active: true,
    scope: c.scope,
    client_id: c.client_id,
    sub: c.sub,
    aud: c.aud,
    iss: c.iss,
    exp: c.exp,
    iat: c.iat,
    jti: c.jti,
    token_type: 'Bearer',
    grant: c.grant,
  };
}

/** `POST /oauth/token`, `/oauth/revoke` (RFC 7009) and `/oauth/introspect` (RFC 7662). */
export function registerTokenRoutes(
  scope: CloudApp,
  ctx: CloudContext,
  s: OAuthServer,
  bodyLimit: number,
): void {
  scope.post(
    '/oauth/token',
    { onRequest: [...ctx.hooks.anonymous], bodyLimit, schema: { body: TokenBody } },
    async (request, reply) => {
      const p = request.body as TokenParams & Record<string, unknown>;
      if (p.grant_type !== 'authorization_code' && p.grant_type !== 'refresh_token')
        throw new OAuthError(
          400,
          'unsupported_grant_type',
          'grant_type must be authorization_code or refresh_token',
          {
            supported: ['authorization_code', 'refresh_token'],
          },
        );
      const client = authenticateClient(s.clients, request.headers.authorization, p);
      const answer =
        p.grant_type === 'authorization_code'
          ? await exchangeCode(s, client, p)
          : await refresh(s, ctx.provisioner, client, p);
      return reply.headers(NO_STORE).send(answer);
    },
  );

  scope.post(
    '/oauth/revoke',
    { onRequest: [...ctx.hooks.anonymous], bodyLimit, schema: { body: TokenRefBody } },
    async (request, reply) => {
      const body = request.body as TokenRef;
      const client = authenticateClient(s.clients, request.headers.authorization, body);
      // RFC 7009 §2.2: unknown, invalid or foreign tokens get the same 200, so the answer tells
      // nothing; a token of this client revokes its whole family (refresh chain and access tokens).
      if (isRefreshTokenShape(body.token)) {
        const r = s.families.inspect(body.token);
        if (r.kind !== 'unknown' && r.family.clientId === client.app.appId)
          s.families.revoke(r.family.id, 'revoked_by_client');
      } else if (looksLikeJwt(body.token)) {
        const v = await s.tokens.verify(body.token, { ignoreExpiry: true });
        if (v.ok && v.claims.client_id === client.app.appId)
          s.families.revoke(v.claims.fam, 'revoked_by_client');
      }
      return reply.headers(NO_STORE).code(200).send({});
    },
  );

  scope.post(
    '/oauth/introspect',
    { onRequest: [...ctx.hooks.anonymous], bodyLimit, schema: { body: TokenRefBody } },
    async (request, reply) => {
      const body = request.body as TokenRef;
      // The app's developer (API key) or the app itself, authenticated as a confidential client.
      const bearer = bearerToken(request.headers.authorization);
      let allowed: (clientId: string) => boolean;
      if (bearer !== null) {
        const dev = authenticateDeveloper(ctx.db, bearer);
        if (!dev)
          throw new OAuthError(
            401,
            'invalid_client',
            'the developer API key is unknown or revoked',
            {},
            {
              'www-authenticate': 'Bearer',
            },
          );
        allowed = (clientId) => s.clients.apps.get(clientId)?.developerId === dev.developerId;
      } else {
        const client = authenticateClient(s.clients, request.headers.authorization, body);
        if (client.method === 'none')
          throw new OAuthError(
            401,
            'invalid_client',
            'introspection needs a confidential client or the developer’s API key',
          );
        allowed = (clientId) => clientId === client.app.appId;
      }
      const described = await describeToken(s, body.token);
      const answer = described && allowed(described.client_id) ? described : { active: false };
      return reply.headers(NO_STORE).send(answer);
    },
  );
}
