import { RouteTable, describeUnrouted } from '@self/http';
import { randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, lstatSync, openSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { toHex } from '@self/crypto';
import { Assistant } from '../ai/assistant.js';
import type { InstanceAi } from '../ai/connection.js';
import { BackgroundEmbedder } from '../ai/embedder.js';
import { registerChainRoute, type ChainReader } from '../grants/chain-route.js';
import { OpenAiHttpError, openAiErrorType } from '../ai/openai.js';
import { isOpenAiPath, registerOpenAiRoutes } from '../ai/openai-routes.js';
import { registerAssistantRoutes } from '../ai/routes.js';
import { AUDIT_RANGE_MAX, entryToJson } from '../audit/index.js';
import { exportInstance } from '../export.js';
import { registerGrantRoutes } from '../grants/routes.js';
import { AppTokens, type AppTokenConfig } from '../grants/tokens.js';
import { DEFAULT_MAX_VALUE_BYTES, type Actor, type Instance } from '../instance.js';
import { INTERNAL_ERROR, InstanceApiError, classifyError } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { lazyValidatorCompiler } from './lazy-validation.js';
import {
  ActorHeaders,
  AuditQuery,
  CollectionParams,
  ListQuery,
  NoQuery,
  ObjectParams,
  PutHeaders,
  SeqParams,
  TargetQuery,
} from './schemas.js';

/**
 * The instance's HTTP API (docs: the module comment of each route below). The instance process
 * serves it only on a Unix socket in its own directory (listenOnSocket); the gateway authenticates
 * the person or the app and forwards each request with the acting identity in `x-self-*` headers:
 *
 *   x-self-actor: person | app
 *   x-self-did:   the person's DID (did:self:…)
 *   x-self-token: apps only: the app's access token (a JWT)
 *
 * The person is trusted as the gateway names them (only the gateway reaches the socket). An app is
 * not: its token is verified here against the issuer's keys and a grant the person signed
 * (grants/tokens.ts), and its Actor comes from that. Missing or malformed actor headers (the
 * retired `x-self-app` and `x-self-scopes` included): 401 `unauthenticated`, nothing audited. A
 * token or grant that allows nothing: 401 `invalid_token`, audited as a denied `app.access`. Every
 * data access goes through Instance, which checks the access rules and audits it.
 */

export interface InstanceServerOptions {
  /**
   * The largest value the instance accepts, which is also the request body limit (default
   * DEFAULT_MAX_VALUE_BYTES). Pass the maxValueBytes the instance was opened with.
   */
  maxValueBytes?: number;
  /** Server faults (5xx) are logged here; default: no logging. */
  logger?: FastifyBaseLogger;
  /**
   * Where `GET /v1/export` writes the archive before sending it: the instance's own directory
   * (mode 0700), never a shared temporary directory, since the archive holds plaintext. The file
   * is removed once sent. Absent: the route does not exist.
   */
  exportDir?: string;
  /**
   * The instance's AI: its inference service and what the tier may use of it (ai/connection.ts).
   * Absent or null: the AI routes answer 503 `ai_unavailable`, saying what to do, and everything
   * else works as before. With an embedding model, a background embedder runs while the server
   * is open.
   */
  ai?: InstanceAi | null;
  /**
   * Who signs app access tokens and with which public keys (the cloud's OAuth issuer). Absent or
   * null: every app request is 401 `invalid_token` (reason `no_issuer`).
   */
  appTokens?: AppTokenConfig | null;
  /** Clock for tokens and grants (ms since the epoch); default Date.now. Pass the instance's. */
  now?: () => number;
  /**
   * A chain node for `GET /v1/chain` (the person's public account, `chain:read`). Absent or null:
   * that route answers 503 and says why.
   */
  chain?: ChainReader | null;
}

/** The canonical socket file name in an instance directory. */
export const INSTANCE_SOCKET_FILE = 'instance.sock';

type InstanceApp = FastifyInstance<
  FastifyInstance['server'],
  FastifyRequest['raw'],
  FastifyReply['raw'],
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

const actorHeadersCheck = TypeCompiler.Compile(ActorHeaders);

const UNAUTHENTICATED_MESSAGE =
  'this request carries no valid acting identity; the instance answers only requests forwarded by the gateway';

/** Who a request says is acting: the person, or an app with the token that must prove it. */
export type ClaimedActor = { kind: 'person'; did: string } | { kind: 'app'; did: string; token: string };

/** The acting identity a request claims, from its x-self-* headers; 401 when they are missing or malformed. */
export function actorFromHeaders(headers: Record<string, string | string[] | undefined>): ClaimedActor {
  const picked: Record<string, unknown> = {};
  for (const name of ['x-self-actor', 'x-self-did', 'x-self-token', 'x-self-app', 'x-self-scopes']) {
    if (headers[name] !== undefined) picked[name] = headers[name];
  }
  if (!actorHeadersCheck.Check(picked)) {
    const first = actorHeadersCheck.Errors(picked).First();
    throw new InstanceApiError(401, 'unauthenticated', UNAUTHENTICATED_MESSAGE, {
      ...(first ? { header: first.path.replace(/^\//, '').replace(/~1/g, '/') } : {}),
    });
  }
  const h = picked as ActorHeaders;
  if (h['x-self-actor'] === 'person') return { kind: 'person', did: h['x-self-did'] };
  return { kind: 'app', did: h['x-self-did'], token: h['x-self-token'] };
}

const quoted = (etag: string): string => `"${etag}"`;
const unquoted = (etag: string): string => (etag.startsWith('"') ? etag.slice(1, -1) : etag);

/**
 * The instance API as a Fastify instance that is not listening yet (see listenOnSocket). Closing
 * it does not close the instance.
 */
export function createInstanceServer(instance: Instance, opts: InstanceServerOptions = {}): FastifyInstance {
  const bodyLimit = opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1) {
    throw new TypeError('maxValueBytes is a whole number of bytes, at least 1');
  }

  const respond = (err: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const classified = classifyError(err, bodyLimit);
    const apiErr = classified ?? INTERNAL_ERROR;
    if (classified === null) request.log.error({ err }, 'request failed');
    else if (apiErr.status >= 500) request.log.error({ err, code: apiErr.code }, 'server fault');
    for (const [name, value] of Object.entries(apiErr.headers)) reply.header(name, value);
    reply.code(apiErr.status).type('application/json; charset=utf-8').send(apiErr.body());
  };

  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // A key is up to 512 bytes of UTF-8: up to 1536 characters percent-encoded. Longer params fail
    // validation (400) rather than routing (404); Node refuses request lines over 16 KiB anyway.
    routerOptions: { maxParamLength: 16 * 1024 },
    // Strict validation: unknown fields are errors, and no type coercion. The route schemas are
    // fixed (schemas.ts, exercised by the tests), so Ajv does not check them against the JSON Schema
    // meta-schema at every start: compiling that meta-schema was ~60 ms of an instance's cold start.
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
        validateSchema: false,
      },
    },
    // Each route's schemas are compiled on first use, not all at start (lazy-validation.ts).
    schemaController: { compilersFactory: { buildValidator: lazyValidatorCompiler } },
    frameworkErrors: (err, request, reply) => respond(err, request, reply),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as InstanceApp;

  // Concurrent data requests share one commit (group-commit.ts); each is answered after it.
  const group = new GroupCommit(instance);

  const now = opts.now ?? Date.now;
  const tokens = new AppTokens(instance, opts.appTokens ?? null, now);

  const ai = opts.ai ?? null;
  const assistant = new Assistant(instance, ai);
  const embeddingModel = ai?.connection.embeddingModel ?? null;
  if (ai !== null && embeddingModel !== null) {
    const embedder = new BackgroundEmbedder({
      index: instance.aiState().retrieval,
      client: ai.client,
      model: embeddingModel,
      ...(opts.logger ? { logger: opts.logger.child({ component: 'embedder' }) } : {}),
    });
    app.addHook('onReady', async () => embedder.start());
    app.addHook('preClose', async () => embedder.stop());
  }

  const routes = new RouteTable();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  app.setErrorHandler((err, request, reply) => respond(err, request, reply));

  // Values are raw bytes of any content type: one parser for everything, no JSON or text parsing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.get('/health', { schema: { querystring: NoQuery } }, async () => {
    instance.usage(); // throws 'closed' (503) once the instance is closed
    return { status: 'ok' };
  });

  // Everything under /v1 needs an acting identity; it is read before the body.
  const actors = new WeakMap<FastifyRequest, Actor>();
  const actorOf = (request: FastifyRequest): Actor => {
    const actor = actors.get(request);
    if (actor === undefined) throw INTERNAL_ERROR; // unreachable: the onRequest hook sets it
    return actor;
  };
  const personOnly = (request: FastifyRequest): void => {
    const actor = actorOf(request);
    if (actor.kind !== 'person' || actor.did !== instance.did) {
      throw new InstanceApiError(
        403,
        'forbidden',
        'only the person who owns this instance reads its audit log',
        {
          scope: 'audit:read',
        },
      );
    }
  };

  app.register(async (v1: InstanceApp) => {
    v1.addHook('onRequest', async (request) => {
      const claimed = actorFromHeaders(request.headers);
      actors.set(
        request,
        claimed.kind === 'person' ? claimed : await tokens.authenticate(claimed.did, claimed.token),
      );
    });

    // Grants and the profile (grants/routes.ts): JSON bodies, in a scope of their own.
    v1.register(async (scope: InstanceApp) => registerGrantRoutes(scope, { instance, actorOf, now }));
    v1.register(async (scope: InstanceApp) =>
      registerChainRoute(scope, { instance, actorOf, chain: opts.chain ?? null }),
    );

    // The assistant (ai/routes.ts) and the OpenAI-compatible API (ai/openai-routes.ts), each in a
    // scope of its own: they take JSON bodies, and the OpenAI routes answer errors in OpenAI's shape.
    v1.register(async (scope: InstanceApp) =>
      registerAssistantRoutes(scope, { instance, actorOf, assistant }),
    );
    v1.register(async (scope: InstanceApp) =>
      registerOpenAiRoutes(scope, { instance, actorOf, assistant, ai, bodyLimit }),
    );

    // PUT /v1/data/:collection/:key: the raw body is the value, its content-type the object's.
    v1.put(
      '/v1/data/:collection/:key',
      { bodyLimit, schema: { params: ObjectParams, querystring: TargetQuery, headers: PutHeaders } },
      async (request) => {
        const { collection, key } = request.params;
        const body = request.body;
        const value = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
        const contentType = request.headers['content-type'];
        const ifMatch = request.headers['if-match'];
        const actor = actorOf(request);
        const result = await group.submit(() =>
          instance.put(actor, collection, key, value, {
            ...(contentType !== undefined ? { contentType } : {}),
            ...(ifMatch !== undefined ? { ifMatch: unquoted(ifMatch) } : {}),
            ...(request.query.target !== undefined ? { target: request.query.target } : {}),
          }),
        );
        return { version: result.version, etag: result.etag, size: result.size };
      },
    );

    // GET /v1/data/:collection/:key: the raw value with its content type, etag and version.
    v1.get(
      '/v1/data/:collection/:key',
      { schema: { params: ObjectParams, querystring: TargetQuery } },
      async (request, reply) => {
        const { collection, key } = request.params;
        const actor = actorOf(request);
        const target = request.query.target;
        const obj = await group.submit(() =>
          instance.get(actor, collection, key, target !== undefined ? { target } : {}),
        );
        reply
          .header('content-type', obj.contentType)
          .header('etag', quoted(obj.etag))
          .header('x-self-version', String(obj.version))
          .header('last-modified', new Date(obj.updatedAt).toUTCString())
          .header('cache-control', 'no-store');
        return Buffer.from(obj.value.buffer, obj.value.byteOffset, obj.value.byteLength);
      },
    );

    v1.delete(
      '/v1/data/:collection/:key',
      { schema: { params: ObjectParams, querystring: TargetQuery } },
      async (request, reply) => {
        const { collection, key } = request.params;
        const actor = actorOf(request);
        const target = request.query.target;
        await group.submit(() =>
          instance.delete(actor, collection, key, target !== undefined ? { target } : {}),
        );
        reply.code(204);
        return reply.send();
      },
    );

    v1.get(
      '/v1/data/:collection',
      { schema: { params: CollectionParams, querystring: ListQuery } },
      async (request) => {
        const q = request.query;
        const page = instance.list(actorOf(request), request.params.collection, {
          ...(q.prefix !== undefined ? { prefix: q.prefix } : {}),
          ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
          ...(q.target !== undefined ? { target: q.target } : {}),
        });
        return {
          items: page.items.map((i) => ({
            key: i.key,
            size: i.size,
            etag: i.etag,
            version: i.version,
            updated_at: i.updatedAt,
            content_type: i.contentType,
          })),
          cursor: page.cursor,
        };
      },
    );

    v1.get('/v1/collections', { schema: { querystring: NoQuery } }, async (request) => ({
      collections: instance.collections(actorOf(request)),
    }));

    v1.get('/v1/usage', { schema: { querystring: NoQuery } }, async () => {
      const u = instance.usage();
      return { bytes: u.bytes, quota_bytes: u.quotaBytes, objects: u.objects };
    });

    v1.get('/v1/audit', { schema: { querystring: AuditQuery } }, async (request) => {
      personOnly(request);
      const from = request.query.from === undefined ? 1 : Number(request.query.from);
      const limit = request.query.limit === undefined ? AUDIT_RANGE_MAX : Number(request.query.limit);
      const entries = instance.auditEntries(from, limit);
      const last = entries.at(-1);
      return {
        entries: entries.map(entryToJson),
        next: entries.length === limit && last !== undefined ? last.seq + 1 : null,
      };
    });

    // GET /v1/export: the whole instance as a self-export archive (export.ts), person only; audited
    // as instance.export. Written to a file first: the archive is made from one snapshot.
    const exportDir = opts.exportDir;
    if (exportDir !== undefined) {
      v1.get('/v1/export', { schema: { querystring: NoQuery } }, async (request, reply) => {
        const actor = actorOf(request);
        if (actor.kind !== 'person' || actor.did !== instance.did) {
          throw new InstanceApiError(403, 'forbidden', 'only the person who owns this instance exports it', {
            scope: 'export',
          });
        }
        const path = join(exportDir, `.export-${randomBytes(8).toString('hex')}.jsonl`);
        exportInstance(instance, path);
        // Unlinked as soon as it is open: the open descriptor still reads it, and no plaintext file
        // outlives the request, not even if the process dies while sending.
        const fd = openSync(path, 'r');
        rmSync(path, { force: true });
        const stream = createReadStream('', { fd });
        reply.header('content-type', 'application/x-ndjson').header('cache-control', 'no-store');
        return reply.send(stream);
      });
    }

    v1.get('/v1/audit/verify', { schema: { querystring: NoQuery } }, async (request) => {
      personOnly(request);
      const result = instance.auditVerify();
      return result.ok ? { ...result, head: toHex(result.head) } : result;
    });

    v1.get(
      '/v1/audit/:seq/proof',
      { schema: { params: SeqParams, querystring: NoQuery } },
      async (request) => {
        personOnly(request);
        return instance.auditProof(Number(request.params.seq));
      },
    );
  });

  app.after(() => {
    app.setNotFoundHandler((request, reply) => {
      const miss = describeUnrouted(routes, request.method, request.url);
      if (isOpenAiPath(request.url)) {
        // OpenAI clients parse only their own error shape.
        if (miss.status === 405) reply.header('allow', miss.allowed.join(', '));
        const err = new OpenAiHttpError(miss.status, openAiErrorType(miss.status), miss.code, miss.message);
        reply.code(err.status).type('application/json; charset=utf-8').send(err.body());
      } else if (miss.status === 405) {
        reply.header('allow', miss.allowed.join(', '));
        respond(
          new InstanceApiError(405, miss.code, miss.message, { allowed: miss.allowed }),
          request,
          reply,
        );
      } else respond(new InstanceApiError(404, miss.code, miss.message), request, reply);
    });
  });

  return app as unknown as FastifyInstance;
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** Whether a process accepts connections on the socket at `path`. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Listens on the Unix socket `socketPath` (normally `<instance dir>/instance.sock`) and makes it
 * mode 0600. A stale socket file left by a process that died is removed first; a socket another
 * process still serves, or a path that is not a socket, is refused (never removed).
 */
export async function listenOnSocket(server: FastifyInstance, socketPath: string): Promise<string> {
  let stat;
  try {
    stat = lstatSync(socketPath);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  if (stat !== undefined) {
    if (!stat.isSocket()) {
      throw new Error(
        `${socketPath} exists and is not a socket; move it away, the instance socket goes there`,
      );
    }
    if (await socketInUse(socketPath)) {
      throw new Error(`another process is serving ${socketPath}; stop it first`);
    }
    unlinkSync(socketPath);
  }
  // The instance directory is 0700, so the socket is private from its creation; 0600 keeps it so.
  await server.listen({ path: socketPath });
  chmodSync(socketPath, 0o600);
  return socketPath;
}
