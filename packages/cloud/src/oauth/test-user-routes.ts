import { CONSENT_DEFAULT_TTL_MS, CONSENT_MAX_TTL_MS, CONSENT_MIN_TTL_MS, signConsent } from '@self/crypto';
import { Type } from '@sinclair/typebox';
import { bearerToken } from '../auth/tokens.js';
import { authenticateDeveloper } from '../developers/api-keys.js';
import { TestUserStore } from '../developers/test-users.js';
import { NoQuery } from '../http/schemas.js';
import type { CloudApp, CloudContext } from '../routes/context.js';
import { OAuthError } from './errors.js';
import type { OAuthServer } from './server.js';

const DidParams = Type.Object(
  { did: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);

const TestConsentBody = Type.Object(
  {
    request: Type.String({ minLength: 1, maxLength: 64, description: 'the request id or its user code' }),
    approve: Type.Boolean(),
    expires_in: Type.Optional(
      Type.Integer({
        minimum: CONSENT_MIN_TTL_MS / 1000,
        maximum: CONSENT_MAX_TTL_MS / 1000,
        description: 'seconds the grant lasts (default 90 days)',
      }),
    ),
  },
  { additionalProperties: false },
);
interface TestConsentBody {
  request: string;
  approve: boolean;
  expires_in?: number;
}

/**
 * `POST /v1/developers/test-users/{did}/consent` (testnets only): the cloud decides an
 * authorization request as one of the developer's test users, signing the consent with the test
 * user's account key exactly as a device would, so a test harness runs the whole OAuth flow
 * without a person. Answers what approve or deny answer.
 */
export function registerTestUserConsentRoute(scope: CloudApp, ctx: CloudContext, s: OAuthServer): void {
  const testUsers = new TestUserStore(ctx.db);
  scope.post(
    '/v1/developers/test-users/:did/consent',
    {
      onRequest: [...ctx.hooks.anonymous],
      schema: { params: DidParams, querystring: NoQuery, body: TestConsentBody },
    },
    async (request) => {
      if (ctx.environment !== 'testnet')
        throw new OAuthError(403, 'not_on_production', 'test users exist only on testnets');
      const bearer = bearerToken(request.headers.authorization);
      const dev = bearer === null ? null : authenticateDeveloper(ctx.db, bearer);
      if (!dev)
        throw new OAuthError(
          401,
          'unauthenticated',
          'this route needs a developer API key (Authorization: Bearer self_dk_…)',
          {},
          {
            'www-authenticate': 'Bearer',
          },
        );
      const { did } = request.params as { did: string };
      const keys = testUsers.signingKeyOf(did, dev.developerId);
      if (!keys) throw new OAuthError(404, 'not_found', 'you have no test user with this DID');
      const body = request.body as TestConsentBody;
      const req = s.consent.forPerson(body.request, did);
      if (!body.approve) return s.consent.deny(req);
      const issuedAt = ctx.now();
      const expiresAt =
        issuedAt + (body.expires_in !== undefined ? body.expires_in * 1000 : CONSENT_DEFAULT_TTL_MS);
      const signature = signConsent(keys.account, s.consent.fields(req, did, issuedAt, expiresAt));
      return s.consent.approve(req, did, {
        publicKey: keys.account.publicKey,
        signature,
        issuedAt,
        expiresAt,
      });
    },
  );
}
