import { DEFAULT_RATE_CLASSES, TIER_CONFIG } from '../config/tiers.js';
import { notFound } from '../http/errors.js';
import { NoQuery } from '../http/schemas.js';
import { instanceJson } from '../http/views.js';
import { TestUserStore } from '../developers/test-users.js';
import type { CloudApp, CloudContext } from './context.js';

/**
 * GET /v1/me → {did, address, tier, mode, state, test, created_at, instance, quota: {bytes,
 * used_bytes, max_value_bytes}, rate_limit: {class, per_minute, burst}, session: {expires_at}}.
 * `test`: a testnet's test user, made and driven by a developer's harness (never a real person).
 */
export function registerMeRoutes(
  app: CloudApp,
  ctx: CloudContext,
  rateClasses: typeof DEFAULT_RATE_CLASSES,
): void {
  const testUsers = new TestUserStore(ctx.db);
  app.get(
    '/v1/me',
    { onRequest: [...ctx.hooks.person], schema: { querystring: NoQuery } },
    async (request) => {
      const principal = request.selfPrincipal;
      if (!principal) throw notFound('no session'); // unreachable: requirePerson ran
      const account = ctx.accounts.get(principal.did) ?? principal.account;
      const status = await ctx.provisioner.status(account.did).catch((err: unknown) => {
        request.log.warn({ err, did: account.did }, 'instance status unavailable');
        return null;
      });
      const tier = TIER_CONFIG[account.tier];
      return {
        did: account.did,
        address: account.address,
        tier: account.tier,
        mode: account.mode,
        state: account.state,
        test: testUsers.isTestUser(account.did),
        created_at: account.createdAt,
        instance: instanceJson(account, status, ctx.publicUrl),
        quota: {
          bytes: account.quotaBytes,
          used_bytes: status?.storageBytes ?? null,
          max_value_bytes: tier.maxValueBytes,
        },
        rate_limit: {
          class: tier.rateClass,
          per_minute: rateClasses[tier.rateClass].perMinute,
          burst: rateClasses[tier.rateClass].burst,
        },
        session: { expires_at: principal.sessionExpiresAt },
      };
    },
  );
}
