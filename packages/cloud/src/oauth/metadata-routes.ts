import type { CloudApp, CloudContext } from '../routes/context.js';
import { SUPPORTED_SCOPES } from './scope-text.js';
import type { OAuthServer } from './server.js';

const CLIENT_AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'];

/** RFC 8414 authorization server metadata. */
export function serverMetadata(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    jwks_uri: `${issuer}/oauth/jwks`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    // Introspection is for confidential clients (the app's developer may also send their API key
    // as a bearer token, which has no registered method name to advertise).
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: [...SUPPORTED_SCOPES],
    authorization_response_iss_parameter_supported: true,
  };
}

/** `GET /.well-known/oauth-authorization-server` (RFC 8414) and `GET /oauth/jwks`. */
export function registerMetadataRoutes(scope: CloudApp, ctx: CloudContext, s: OAuthServer): void {
  const metadata = serverMetadata(s.issuer);
  // RFC 8414 §3: an issuer with a path has its metadata at the well-known prefix plus that path.
  const path = new URL(s.issuer).pathname.replace(/\/+$/, '');
  const urls = [
    '/.well-known/oauth-authorization-server',
    ...(path ? [`/.well-known/oauth-authorization-server${path}`] : []),
  ];
  for (const url of urls)
    scope.get(url, { onRequest: [...ctx.hooks.anonymous] }, async (_request, reply) =>
      reply.header('cache-control', 'public, max-age=300').send(metadata),
    );
  scope.get('/oauth/jwks', { onRequest: [...ctx.hooks.anonymous] }, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send({ keys: [s.key.publicJwk] }),
  );
}
