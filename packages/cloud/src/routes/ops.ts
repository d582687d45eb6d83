import { NoQuery } from '../http/schemas.js';
import type { CloudApp, CloudContext } from './context.js';

/** GET /health → {status: "ok"}; GET /metrics → Prometheus text. Neither is rate-limited. */
export function registerOpsRoutes(app: CloudApp, ctx: CloudContext): void {
  app.get('/health', { schema: { querystring: NoQuery } }, async () => ({ status: 'ok' }));
  app.get('/metrics', { schema: { querystring: NoQuery } }, async (_request, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });
}
