import { RouteTable, describeUnrouted, describeValidation } from '@self/http';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Catalogue } from '../catalogue.js';
import { InferenceError, isAbortError } from '../errors.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatMessage,
  FinishReason,
  ModelEntry,
  ModelList,
  TokenizeResponse,
  Usage,
} from '../protocol.js';
import type { GpuSetting } from '../runtime/llama.js';
import type { ChatParams } from '../runtime/types.js';
import { ServiceMetrics } from './metrics.js';
import { ModelRegistry } from './models.js';
import { ChatBody, EmbeddingsBody, TokenizeBody, type MessageSchema } from './schemas.js';
import type { Static } from '@sinclair/typebox';

export interface InferenceServiceOptions {
  catalogue: Catalogue;
  /** Where model URIs are cached (see download.ts). */
  cacheDir: string;
  /** Serve models marked as test fixtures (tests only). */
  allowTestModels?: boolean;
  /** Bearer key every route but /health requires; absent: no authentication (loopback tests only). */
  key?: string;
  /** Pino-compatible logger; default: none. Prompts and replies are never logged. */
  logger?: FastifyBaseLogger;
  gpu?: GpuSetting;
  threads?: number;
  /** Requests generating at once per embedded model (default 2). */
  maxConcurrent?: number;
  /** Requests waiting per embedded model before `busy` (default 32). */
  queueLimit?: number;
  /** Download missing models on first use (default false: the operator runs `self ai pull`). */
  download?: boolean;
  /** Load every model at start instead of on first use. */
  preload?: boolean;
  /** Largest request body (default 4 MiB). */
  bodyLimit?: number;
}

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

type App = FastifyInstance<
  FastifyInstance['server'],
  FastifyRequest['raw'],
  FastifyReply['raw'],
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface InferenceService {
  app: FastifyInstance;
  models: ModelRegistry;
  metrics: ServiceMetrics;
}

/**
 * The inference service: OpenAI-compatible routes over the catalogue's models. Stateless: nothing
 * of a request outlives it (each runs in its own sequence, see runtime/embedded.ts), and no prompt
 * or reply text is logged. Errors on the OpenAI routes are OpenAI-shaped, as its clients expect.
 */
export async function createInferenceService(opts: InferenceServiceOptions): Promise<InferenceService> {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const models = new ModelRegistry(opts.catalogue, {
    cacheDir: opts.cacheDir,
    ...(opts.allowTestModels !== undefined ? { allowTestModels: opts.allowTestModels } : {}),
    ...(opts.gpu !== undefined ? { gpu: opts.gpu } : {}),
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.maxConcurrent !== undefined ? { maxConcurrent: opts.maxConcurrent } : {}),
    ...(opts.queueLimit !== undefined ? { queueLimit: opts.queueLimit } : {}),
    ...(opts.download !== undefined ? { download: opts.download } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const metrics = new ServiceMetrics();
  const keyDigest = opts.key !== undefined ? digest(opts.key) : null;

  const respond = (err: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const e = classify(err, bodyLimit);
    if (e.status >= 500 && e.code === 'internal_error') request.log.error({ err }, 'request failed');
    if (e.extra.retryAfterSeconds !== undefined)
      reply.header('retry-after', String(e.extra.retryAfterSeconds));
    reply.code(e.status).type('application/json; charset=utf-8').send(e.toOpenAi());
  };

  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
    },
    frameworkErrors: (err, request, reply) => respond(err, request, reply),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  const routes = new RouteTable();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  app.setErrorHandler((err, request, reply) => respond(err, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const u = describeUnrouted(routes, request.method, request.url);
    if (u.status === 405) reply.header('allow', u.allowed.join(', '));
    respond(new InferenceError(u.status, u.code, u.message), request, reply);
  });
  const connections = trackConnections(app.server);
  app.addHook('preClose', async () => connections.closing());
  app.addHook('onClose', async () => models.close());

  // Every route but /health needs the service key: the service runs prompts for whoever holds it.
  app.addHook('onRequest', async (request) => {
    if (keyDigest === null || request.url.split('?')[0] === '/health') return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m?.[1] || !timingSafeEqual(digest(m[1].trim()), keyDigest))
      throw new InferenceError(
        401,
        'unauthorized',
        'a valid bearer key for the inference service is required',
      );
  });

  app.get('/health', async () => ({ ok: true, models: await models.entries() }));

  app.get('/v1/models', async (): Promise<ModelList> => ({ object: 'list', data: await models.entries() }));

  app.get('/v1/models/:id', async (request): Promise<ModelEntry> => {
    const { id } = request.params as { id: string };
    const entry = (await models.entries()).find((e) => e.id === id);
    if (!entry)
      throw new InferenceError(404, 'model_not_found', `the model "${id}" does not exist on this service`);
    return entry;
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/v1/chat/completions', { schema: { body: ChatBody } }, async (request, reply) => {
    const body = request.body;
    const model = body.model;
    const started = performance.now();
    const count = (status: number): void => {
      metrics.requests.inc({ route: 'chat', model, status: String(status) });
    };
    const runtime = await models.get(model).catch((err: unknown) => {
      count(classify(err, bodyLimit).status);
      throw err;
    });
    const params = chatParams(body);
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    const created = Math.floor(Date.now() / 1000);
    const gone = clientGone(reply);
    let first = true;
    const firstText = (): void => {
      if (!first) return;
      first = false;
      metrics.timeToFirstToken.observe({ model }, (performance.now() - started) / 1000);
    };
    const account = (usage: Usage): void => {
      metrics.promptTokens.inc({ model }, usage.prompt_tokens);
      metrics.generatedTokens.inc({ model }, usage.completion_tokens);
    };

    if (!body.stream) {
      let text = '';
      try {
        const outcome = await runtime.chat(params, {
          signal: gone.signal,
          onText: (t) => {
            firstText();
            text += t;
          },
        });
        account(outcome.usage);
        count(200);
        const completion: ChatCompletion = {
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: text },
              finish_reason: outcome.finishReason,
              logprobs: null,
            },
          ],
          usage: outcome.usage,
        };
        return completion;
      } catch (err) {
        if (gone.signal.aborted) return reply.hijack(); // nobody is listening any more
        count(classify(err, bodyLimit).status);
        throw err;
      } finally {
        gone.dispose();
      }
    }

    // Streaming: the SSE response begins with the first text, so that a failure before any
    // (a prompt too long, a busy model, an upstream down) is still a plain HTTP error.
    const chunk = (
      delta: ChatCompletionChunk['choices'][0]['delta'],
      finish: FinishReason | null,
      usage?: Usage,
    ) => {
      const c: ChatCompletionChunk = {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
        ...(usage ? { usage } : {}),
      };
      return `data: ${JSON.stringify(c)}\n\n`;
    };
    let streaming = false;
    const begin = (): void => {
      if (streaming) return;
      streaming = true;
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      reply.raw.write(chunk({ role: 'assistant', content: '' }, null));
    };
    try {
      const outcome = await runtime.chat(params, {
        signal: gone.signal,
        onText: (t) => {
          firstText();
          begin();
          reply.raw.write(chunk({ content: t }, null));
        },
      });
      account(outcome.usage);
      count(200);
      begin();
      reply.raw.end(`${chunk({}, outcome.finishReason, outcome.usage)}data: [DONE]\n\n`);
    } catch (err) {
      if (gone.signal.aborted) {
        // The client left: generation has stopped; there is no one to tell.
        count(499);
        if (!streaming) reply.hijack();
        reply.raw.destroy();
        return;
      }
      const e = classify(err, bodyLimit);
      count(e.status);
      if (!streaming) throw err;
      if (e.code === 'internal_error') request.log.error({ err }, 'stream failed');
      // Mid-stream: one error event, then the stream ends without [DONE].
      reply.raw.end(`data: ${JSON.stringify(e.toOpenAi())}\n\n`);
    } finally {
      gone.dispose();
    }
  });

  app.post('/v1/embeddings', { schema: { body: EmbeddingsBody } }, async (request, reply) => {
    const body = request.body;
    const runtime = await models.get(body.model);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    const gone = clientGone(reply);
    const outcome = await runtime.embed(inputs, gone.signal).finally(() => gone.dispose());
    metrics.requests.inc({ route: 'embeddings', model: body.model, status: '200' });
    const base64 = body.encoding_format === 'base64';
    return {
      object: 'list' as const,
      data: outcome.vectors.map((v, index) => ({
        object: 'embedding' as const,
        index,
        embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
      })),
      model: body.model,
      usage: { prompt_tokens: outcome.promptTokens, total_tokens: outcome.promptTokens },
    };
  });

  app.post('/v1/tokenize', { schema: { body: TokenizeBody } }, async (request): Promise<TokenizeResponse> => {
    const body = request.body;
    if ((body.text === undefined) === (body.messages === undefined))
      throw new InferenceError(400, 'invalid_request', 'give either text or messages', { param: 'text' });
    const runtime = await models.get(body.model);
    const count = await runtime.tokenize(
      body.messages !== undefined ? { messages: body.messages.map(toMessage) } : { text: body.text ?? '' },
    );
    return { model: body.model, tokens: count.tokens, approximate: count.approximate };
  });

  if (opts.preload) await models.preload();
  return { app: app as unknown as FastifyInstance, models, metrics };
}

/**
 * Lets close() finish as soon as no request is in flight. Node's server.close() waits for every
 * open connection, and closeIdleConnections() misses a connection on which no request has begun
 * yet (clients such as undici open a spare one), which would hold close() until the client's
 * keep-alive timeout. Requests in flight still finish; their connections close after them.
 */
function trackConnections(server: Server): { closing(): void } {
  const inFlight = new Map<Socket, number>();
  let closing = false;
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const n = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, n);
      if (closing && n === 0) socket.destroy();
    });
  });
  return {
    closing() {
      closing = true;
      for (const [socket, n] of inFlight) if (n === 0) socket.destroy();
    },
  };
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** An AbortSignal that fires when the client closes the connection before the response is done. */
function clientGone(reply: FastifyReply): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!reply.raw.writableFinished) controller.abort();
  };
  reply.raw.on('close', onClose);
  return { signal: controller.signal, dispose: () => reply.raw.off('close', onClose) };
}

function toMessage(m: Static<typeof MessageSchema>): ChatMessage {
  const content = typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('');
  return { role: m.role === 'developer' ? 'system' : m.role, content };
}

function chatParams(body: ChatBody): ChatParams {
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  return {
    messages: body.messages.map(toMessage),
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { topP: body.top_p } : {}),
    ...(body.seed != null ? { seed: body.seed } : {}),
    stop: stop.filter((s) => s !== ''),
  };
}

/** Any error as what the client is told; never a 500 for the client's own mistake. */
function classify(err: unknown, bodyLimit: number): InferenceError {
  if (err instanceof InferenceError) return err;
  const described = describeValidation(err as Parameters<typeof describeValidation>[0]);
  if (described) {
    const first = described.details.issues[0] as { path?: string } | undefined;
    const param = (first?.path ?? '').replace(/^\//, '').replace(/\//g, '.') || null;
    return new InferenceError(400, 'invalid_request', described.message, { param });
  }
  const code = (err as { code?: unknown }).code;
  const status = (err as { statusCode?: unknown }).statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new InferenceError(413, 'request_too_large', `the request body is larger than ${bodyLimit} bytes`);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new InferenceError(415, 'invalid_request', 'send the request body as application/json');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = err instanceof Error ? err.message : 'malformed request';
    return new InferenceError(status, 'invalid_request', message);
  }
  if (isAbortError(err)) return new InferenceError(499, 'aborted', 'the request was aborted');
  return new InferenceError(500, 'internal_error', 'internal error');
}

export interface StartedInferenceService {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The bearer key the service requires. */
  key: string;
  close(): Promise<void>;
  models(): Promise<ModelEntry[]>;
}

/**
 * Starts the service listening on 127.0.0.1 (an ephemeral port unless given). Without a key, one is
 * generated: the service never listens unauthenticated.
 */
export async function startInferenceService(
  opts: InferenceServiceOptions & { port?: number; host?: string },
): Promise<StartedInferenceService> {
  const key = opts.key ?? randomBytes(32).toString('base64url');
  const service = await createInferenceService({ ...opts, key });
  const host = opts.host ?? '127.0.0.1';
  try {
    await service.app.listen({ host, port: opts.port ?? 0 });
  } catch (err) {
    await service.app.close();
    throw err;
  }
  const address = service.app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    key,
    close: async () => {
      await service.app.close();
    },
    models: () => service.models.entries(),
  };
}
