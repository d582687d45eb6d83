import { CloudError, notFound } from '../http/errors.js';
import { NoQuery } from '../http/schemas.js';
import { DeveloperApps } from '../developers/app-service.js';
import { AppStore } from '../developers/apps.js';
import { developerHooks, developerOf } from '../developers/auth.js';
import { DeveloperStore } from '../developers/developers.js';
import {
  AppParams,
  CreateAppBody,
  expectNoBody,
  KeyParams,
  RegisterDeveloperBody,
  TestUserBody,
  UpdateAppBody,
} from '../developers/schemas.js';
import { TestUserStore, createTestUser } from '../developers/test-users.js';
import { appJson, developerJson, keyJson, testUserJson } from '../developers/views.js';
import type { CloudApp, CloudContext } from './context.js';

/**
 * Test users per developer: each is a real account with a running instance, so a runaway test
 * harness must not be able to fill the host.
 */
export const MAX_TEST_USERS_PER_DEVELOPER = 50;

/**
 * Developer routes (docs/cloud-api.md, "Developers"): registration with a person's session, API
 * keys, apps registered on chain by the developer's own signed transactions, and testnet test
 * users. Everything after registration takes an API key or the developer's session.
 */
export function registerDeveloperRoutes(app: CloudApp, ctx: CloudContext): void {
  const developers = new DeveloperStore(ctx.db, ctx.now);
  const apps = new DeveloperApps(ctx.chain, new AppStore(ctx.db, ctx.now));
  const testUsers = new TestUserStore(ctx.db, ctx.now);
  const dev = { onRequest: developerHooks(ctx, developers) };

  app.post(
    '/v1/developers/register',
    { onRequest: [...ctx.hooks.person], schema: { body: RegisterDeveloperBody, querystring: NoQuery } },
    async (request, reply) => {
      const principal = request.selfPrincipal;
      if (!principal) throw notFound('no session'); // unreachable: requirePerson ran
      const { email, project } = request.body as RegisterDeveloperBody;
      const made = developers.register({ did: principal.did, email, project });
      if (!made) {
        const existing = developers.byDid(principal.did);
        throw new CloudError(409, 'exists', `${principal.did} is already a developer here`, {
          developer_id: existing?.id,
        });
      }
      reply.code(201);
      return { developer: developerJson(made.developer), api_key: made.apiKey, key: keyJson(made.key) };
    },
  );

  app.get('/v1/developers/me', { ...dev, schema: { querystring: NoQuery } }, async (request) => {
    const developer = developerOf(request);
    return {
      developer: developerJson(developer),
      keys: developers.keys.list(developer.id).length,
      apps: apps.store.list(developer.id).length,
      test_users: testUsers.count(developer.id),
    };
  });

  app.post('/v1/developers/keys', { ...dev, schema: { querystring: NoQuery } }, async (request, reply) => {
    expectNoBody(request);
    const { key, info } = developers.keys.create(developerOf(request).id);
    reply.code(201);
    return { api_key: key, key: keyJson(info) };
  });

  app.get('/v1/developers/keys', { ...dev, schema: { querystring: NoQuery } }, async (request) => ({
    keys: developers.keys.list(developerOf(request).id).map(keyJson),
  }));

  app.delete(
    '/v1/developers/keys/:prefix',
    { ...dev, schema: { params: KeyParams, querystring: NoQuery } },
    async (request) => {
      const { prefix } = request.params as KeyParams;
      const revoked = developers.keys.revoke(developerOf(request).id, prefix);
      if (!revoked) throw notFound(`you have no live API key ${prefix}…`);
      return { key: keyJson(revoked) };
    },
  );

  app.post(
    '/v1/developers/apps',
    { ...dev, schema: { body: CreateAppBody, querystring: NoQuery } },
    async (request, reply) => {
      const body = request.body as CreateAppBody;
      const made = await apps.create(developerOf(request), body.transaction, body.client_type);
      reply.code(201);
      return { app: appJson(made.app), ...(made.secret !== null ? { client_secret: made.secret } : {}) };
    },
  );

  app.get('/v1/developers/apps', { ...dev, schema: { querystring: NoQuery } }, async (request) => ({
    apps: apps.store.list(developerOf(request).id).map(appJson),
  }));

  app.get(
    '/v1/developers/apps/:app_id',
    { ...dev, schema: { params: AppParams, querystring: NoQuery } },
    async (request) => ({
      app: appJson(apps.owned(developerOf(request), (request.params as AppParams).app_id)),
    }),
  );

  app.post(
    '/v1/developers/apps/:app_id/update',
    { ...dev, schema: { params: AppParams, body: UpdateAppBody, querystring: NoQuery } },
    async (request) => {
      const { app_id } = request.params as AppParams;
      const { transaction } = request.body as UpdateAppBody;
      return { app: appJson(await apps.update(developerOf(request), app_id, transaction)) };
    },
  );

  app.post(
    '/v1/developers/apps/:app_id/secret',
    { ...dev, schema: { params: AppParams, querystring: NoQuery } },
    async (request) => {
      expectNoBody(request);
      const owned = apps.owned(developerOf(request), (request.params as AppParams).app_id);
      const secret = owned.clientType === 'confidential' ? apps.store.rotateSecret(owned.appId) : null;
      if (secret === null)
        throw new CloudError(
          400,
          'invalid_request',
          'a public client has no secret: it proves itself with PKCE',
          {
            reason: 'public_client',
          },
        );
      return { app_id: owned.appId, client_secret: secret };
    },
  );

  app.post(
    '/v1/developers/test-users',
    { ...dev, schema: { body: TestUserBody, querystring: NoQuery } },
    async (request, reply) => {
      onTestnetOnly(ctx);
      const developer = developerOf(request);
      if (testUsers.count(developer.id) >= MAX_TEST_USERS_PER_DEVELOPER)
        throw new CloudError(
          403,
          'forbidden',
          `at most ${MAX_TEST_USERS_PER_DEVELOPER} test users per developer`,
          {
            reason: 'test_user_limit',
            limit: MAX_TEST_USERS_PER_DEVELOPER,
          },
        );
      const { tier } = request.body as TestUserBody;
      const { user, signup } = await createTestUser(
        { signup: ctx.signup, chain: ctx.chain, store: testUsers },
        developer.id,
        tier,
      );
      reply.code(201);
      return {
        ...testUserJson(user),
        session: { token: signup.session.token, expires_at: signup.session.expiresAt },
      };
    },
  );

  app.get('/v1/developers/test-users', { ...dev, schema: { querystring: NoQuery } }, async (request) => {
    onTestnetOnly(ctx);
    return { test_users: testUsers.list(developerOf(request).id).map(testUserJson) };
  });
}

/** Test users exist only on a testnet: a production cloud must never hold a synthetic person. */
function onTestnetOnly(ctx: CloudContext): void {
  if (ctx.environment !== 'testnet')
    throw new CloudError(403, 'not_on_production', 'test users exist on testnets only', {
      environment: ctx.environment,
    });
}
