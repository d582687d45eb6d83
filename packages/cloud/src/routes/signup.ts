import { TIER_CONFIG } from '../config/tiers.js';
import { SignupBody } from '../http/schemas.js';
import { instanceJson } from '../http/views.js';
import { decodeTransactionField } from '../signup/validate.js';
import type { CloudApp, CloudContext } from './context.js';

/**
 * POST /v1/signup {tier, mode?, transaction, quota_bytes?} → 201
 * {did, address, tier, mode, quota_bytes, session: {token, expires_at}, instance: {id, endpoint,
 * state, public_key, address}, chain: {tx_hash, height}}. See SignupService for the steps.
 */
export function registerSignupRoutes(app: CloudApp, ctx: CloudContext): void {
  app.post(
    '/v1/signup',
    { onRequest: [...ctx.hooks.anonymous], schema: { body: SignupBody } },
    async (request, reply) => {
      const body = request.body as SignupBody;
      const result = await ctx.signup.signup({
        tier: body.tier,
        mode: body.mode ?? 'always-on',
        transaction: decodeTransactionField(body.transaction),
        ...(body.quota_bytes !== undefined ? { quotaBytes: body.quota_bytes } : {}),
      });
      const { account } = result;
      const status = await ctx.provisioner.status(account.did).catch(() => null);
      reply.code(201);
      return {
        did: account.did,
        address: account.address,
        tier: account.tier,
        mode: account.mode,
        quota_bytes: account.quotaBytes,
        max_value_bytes: TIER_CONFIG[account.tier].maxValueBytes,
        session: { token: result.session.token, expires_at: result.session.expiresAt },
        instance: instanceJson(account, status, ctx.publicUrl),
        chain: { tx_hash: result.chain.hash, height: result.chain.height },
      };
    },
  );
}
