import { Type, type Static } from '@sinclair/typebox';
import { notFound } from '../http/errors.js';
import { NoQuery } from '../http/schemas.js';
import { TestUserStore } from '../developers/test-users.js';
import { accountJson } from '../http/views.js';
import type { CloudApp, CloudContext } from './context.js';

/**
 * GET /v1/admin/instances (Authorization: Bearer <operator token>) → {instances: [InstanceStatus
 * fields as the provisioner reports them (did, instanceId, tier, state, pid, storageBytes,
 * quotaBytes, lastActiveAt, sandbox), test (a testnet's test user), account: {did, address, tier,
 * mode, state, quota_bytes, created_at, failure?} | null]}.
 *
 * POST /v1/admin/instances/:did/stop → {did, state}: stops the instance's process now (its data stays;
 * the next request for it starts it again). For maintenance and for measuring cold starts.
 */

const DidParams = Type.Object(
  { did: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);
type DidParams = Static<typeof DidParams>;
export function registerAdminRoutes(app: CloudApp, ctx: CloudContext): void {
  const testUsers = new TestUserStore(ctx.db);
  app.get(
    '/v1/admin/instances',
    { onRequest: [...ctx.hooks.operator], schema: { querystring: NoQuery } },
    async () => {
      const statuses = await ctx.provisioner.list();
      return {
        instances: statuses.map((status) => {
          const account = ctx.accounts.get(status.did);
          return {
            ...status,
            test: testUsers.isTestUser(status.did),
            account: account ? accountJson(account) : null,
          };
        }),
      };
    },
  );

  app.post(
    '/v1/admin/instances/:did/stop',
    { onRequest: [...ctx.hooks.operator], schema: { params: DidParams, querystring: NoQuery } },
    async (request) => {
      const { did } = request.params as DidParams;
      if (!ctx.accounts.get(did)) throw notFound('no account with this DID here', { did });
      await ctx.provisioner.stop(did);
      const status = await ctx.provisioner.status(did);
      return { did, state: status.state };
    },
  );
}
