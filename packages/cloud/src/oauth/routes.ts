import formbody from '@fastify/formbody';
import type { CloudApp, CloudContext } from '../routes/context.js';
import { registerAuthorizeRoutes } from './authorize-routes.js';
import { registerConsentRoutes } from './consent-routes.js';
import { oauthErrorHandler } from './errors.js';
import { registerMetadataRoutes } from './metadata-routes.js';
import type { OAuthServer } from './server.js';
import { registerTestUserConsentRoute } from './test-user-routes.js';
import { registerTokenRoutes } from './token-routes.js';

/** OAuth requests are small: a code, a verifier, a refresh token or a consent signature. */
const OAUTH_BODY_LIMIT = 16 * 1024;
/** A consent carries a hybrid key and signature (about 7 KiB in base64url). */
const CONSENT_BODY_LIMIT = 32 * 1024;

/**
 * The OAuth 2.1 authorization server (docs/cloud-api.md, "OAuth 2.1"). The OAuth endpoints take
 * `application/x-www-form-urlencoded` (RFC 6749) as well as JSON, in their own scope only, and
 * answer RFC 6749 errors (`error_description` beside SELF's `message` and `details`); the
 * person's consent routes and the test-user route are JSON like the rest of the cloud.
 */
export function registerOAuthRoutes(app: CloudApp, ctx: CloudContext, server: OAuthServer): void {
  app.register(async (scope: CloudApp) => {
    await scope.register(formbody, { bodyLimit: OAUTH_BODY_LIMIT });
    scope.setErrorHandler(oauthErrorHandler(OAUTH_BODY_LIMIT, true));
    registerMetadataRoutes(scope, ctx, server);
    registerAuthorizeRoutes(scope, ctx, server);
    registerTokenRoutes(scope, ctx, server, OAUTH_BODY_LIMIT);
  });
  app.register(async (scope: CloudApp) => {
    scope.setErrorHandler(oauthErrorHandler(CONSENT_BODY_LIMIT, false));
    registerConsentRoutes(scope, ctx, server, CONSENT_BODY_LIMIT);
    registerTestUserConsentRoute(scope, ctx, server);
  });
}
