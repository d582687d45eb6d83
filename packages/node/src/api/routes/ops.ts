import { Type } from '@fastify/type-provider-typebox';
import type { ApiNode } from '../../node-api.js';
import type { ApiApp } from '../app-types.js';
import { ERROR_RESPONSES, HealthJson, NoQuery } from '../schemas.js';

/** Probes and scrapers poll these; a rate limit would only turn an outage report into a 429. */
const EXEMPT = { rateLimit: false } as const;

export function registerOpsRoutes(app: ApiApp, node: ApiNode): void {
  app.get(
    '/health',
    {
      config: EXEMPT,
      schema: {
        tags: ['ops'],
        summary: 'Liveness: 200 while the process serves requests',
        querystring: NoQuery,
        response: { 200: HealthJson, ...ERROR_RESPONSES },
      },
    },
    async () => ({ status: 'ok' as const, height: node.chain.latestHeight(), syncing: node.syncing() }),
  );

  app.get(
    '/metrics',
    {
      config: EXEMPT,
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics (text exposition format)',
        querystring: NoQuery,
        response: {
          200: {
            description: 'Prometheus text exposition format 0.0.4',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...ERROR_RESPONSES,
        },
      },
    },
    async (_request, reply) => {
      const text = await node.metrics.render();
      reply.type(node.metrics.contentType);
      return text;
    },
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['ops'],
        summary: 'This API as an OpenAPI 3 document',
        querystring: NoQuery,
      },
    },
    async () => app.swagger(),
  );
}
