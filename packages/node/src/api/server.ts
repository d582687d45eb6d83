import cors, { type FastifyCorsOptions } from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ApiNode } from '../node-api.js';
import type { ApiApp } from './app-types.js';
import { errorResponder } from './error-handler.js';
import { ApiError, notFound } from './errors.js';
import { RouteTable, describeUnrouted } from '@self/http';
import { registerChainRoutes } from './routes/chain.js';
import { registerOpsRoutes } from './routes/ops.js';
import { registerStateRoutes } from './routes/state.js';
import { RAW_TX_MEDIA, registerTransactionRoutes } from './routes/transactions.js';
import { registerWsRoute } from './routes/ws.js';
import { DEFAULT_WS_OPTIONS, WsHub, type WsHubOptions } from './ws-hub.js';

export interface ApiRateLimitOptions {
  /** Requests per window per client address, on every route but /health and /metrics. */
  max: number;
  windowMs: number;
  /**
   * POST /v1/transactions per window per client address, counted apart from `max`
   * (default max / 5, at least 1). POST /v1/transactions/batch has a budget of its own of the same
   * size; a batch counts as one request however many transactions it carries.
   */
  transactionsMax?: number;
  /**
   * Client addresses (as the socket reports them, e.g. '127.0.0.1', '::1', '::ffff:127.0.0.1')
   * exempt from every limit: a local benchmark, a trusted gateway.
   */
  allowList?: string[];
}

export interface ApiServerOptions {
  /** Errors (5xx) and refusals are logged here; requests themselves are not (they can be thousands a second). */
  logger?: Logger | false;
  /** Default DEFAULT_RATE_LIMIT; false disables rate limiting. */
  rateLimit?: ApiRateLimitOptions | false;
  /**
   * true or absent: allow browser pages served from http://localhost:*, http://127.0.0.1:* and
   * http://[::1]:* (local development); a list: exactly those origins ('*' for any); false: no CORS.
   */
  cors?: boolean | string[];
  /** Largest request body in bytes (default 2 × max_tx_bytes + 1 KiB: one hex-encoded transaction). */
  bodyLimit?: number;
  websocket?: Partial<WsHubOptions>;
}

export const DEFAULT_RATE_LIMIT: Readonly<ApiRateLimitOptions> = { max: 600, windowMs: 60_000 };

export const LOCAL_ORIGINS = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

const RATE_LIMIT_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after'];

/** Largest client WebSocket message; subscriptions are a few dozen bytes. */
const WS_MAX_PAYLOAD = 4096;

function corsOptions(option: true | string[] | undefined): FastifyCorsOptions {
  const origin = Array.isArray(option) ? (option.includes('*') ? '*' : option) : LOCAL_ORIGINS;
  return {
    origin,
    methods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
    allowedHeaders: ['content-type'],
    exposedHeaders: RATE_LIMIT_HEADERS,
    maxAge: 600,
  };
}

/** Raw transaction bodies are Buffers to the validator; the document shows them as binary. */
const documentRawBodies: SwaggerTransformObject = (doc) => {
  const openapi = 'openapiObject' in doc ? doc.openapiObject : null;
  if (!openapi) return 'swaggerObject' in doc ? doc.swaggerObject : {};
  for (const item of Object.values(openapi.paths ?? {})) {
    const content =
      item?.post?.requestBody && 'content' in item.post.requestBody ? item.post.requestBody.content : null;
    for (const media of RAW_TX_MEDIA) {
      const entry = content?.[media];
      if (!entry) continue;
      const given = entry.schema && 'description' in entry.schema ? entry.schema.description : undefined;
      entry.schema = { type: 'string', format: 'binary', description: given ?? 'raw bytes' };
    }
  }
  return openapi;
};

/**
 * The node's HTTP/WebSocket API (design brief §4) as a Fastify instance that is not listening yet:
 * the caller calls `listen`. Closing it unsubscribes from the node and closes WebSocket clients.
 */
export function createApiServer(node: ApiNode, opts: ApiServerOptions = {}): FastifyInstance {
  const bodyLimit = opts.bodyLimit ?? 2 * node.chain.genesis.params.max_tx_bytes + 1024;
  const respond = errorResponder(node, bodyLimit);
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // Long enough that an over-long hash or DID fails validation (400) rather than routing (404).
    routerOptions: { maxParamLength: 256 },
    // Strict validation: unknown fields are errors (not silently removed), and no type coercion
    // (so "0x10" or " 12" never pass as numbers).
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
    },
    frameworkErrors: (err, request, reply) => respond(err, request, reply),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as ApiApp;

  const routes = new RouteTable();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  app.setErrorHandler((err, request, reply) => respond(err, request, reply));
  // Only JSON and raw transaction bytes are accepted; anything else is 415, not a string body.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser([...RAW_TX_MEDIA], { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );

  if (opts.cors !== false) app.register(cors, corsOptions(opts.cors));
  const limits = opts.rateLimit === false ? null : { ...DEFAULT_RATE_LIMIT, ...opts.rateLimit };
  if (limits) {
    const allowed = new Set(limits.allowList ?? []);
    app.register(rateLimit, {
      global: true,
      max: limits.max,
      timeWindow: limits.windowMs,
      allowList: (request: FastifyRequest, key: string) => allowed.has(request.ip) || allowed.has(key),
      errorResponseBuilder: (_request, context) =>
        new ApiError(429, 'rate_limit_exceeded', `rate limit exceeded, retry in ${context.after}`, {
          limit: context.max,
          retry_after_seconds: Math.ceil(context.ttl / 1000),
        }),
    });
  }
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'SELF Chain node API',
        version: node.info().version,
        description:
          'REST and WebSocket API of a SELF Chain node. Byte strings are lowercase hex. Errors are ' +
          '{error, message, details}.',
      },
      tags: [
        { name: 'chain', description: 'blocks and the chain tip' },
        { name: 'transactions', description: 'submission and lookup' },
        { name: 'state', description: 'records with Merkle proofs' },
        { name: 'events', description: 'WebSocket subscriptions' },
        { name: 'ops', description: 'health, metrics, this document' },
      ],
    },
    transformObject: documentRawBodies,
  });
  app.register(websocket, { options: { maxPayload: WS_MAX_PAYLOAD } });

  const hub = new WsHub(node, { ...DEFAULT_WS_OPTIONS, ...opts.websocket }, (reason) =>
    node.metrics.countRejected(reason, 'api'),
  );
  let unsubscribe: (() => void) | null = null;
  app.addHook('onReady', async () => {
    unsubscribe = node.subscribe((event) => hub.publish(event));
  });
  app.addHook('onClose', async () => {
    unsubscribe?.();
    hub.close();
  });

  app.register(async (scope: ApiApp) => {
    registerOpsRoutes(scope, node);
    registerChainRoutes(scope, node);
    registerTransactionRoutes(scope, node, {
      rateLimit: limits
        ? {
            max: limits.transactionsMax ?? Math.max(1, Math.floor(limits.max / 5)),
            timeWindow: limits.windowMs,
          }
        : false,
    });
    registerStateRoutes(scope, node, respond);
    registerWsRoute(scope, hub);
  });

  app.after(() => {
    app.setNotFoundHandler(limits ? { preHandler: app.rateLimit() } : {}, (request, reply) => {
      const miss = describeUnrouted(routes, request.method, request.url);
      if (miss.status === 405) {
        reply.header('allow', miss.allowed.join(', '));
        respond(new ApiError(405, miss.code, miss.message, { allowed: miss.allowed }), request, reply);
      } else respond(notFound(miss.message), request, reply);
    });
  });

  // The typed instance is the same object; callers need only the plain interface (listen, close…).
  return app as unknown as FastifyInstance;
}
