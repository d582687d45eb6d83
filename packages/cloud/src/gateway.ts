import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { RouteTable, describeUnrouted } from '@self/http';
import { signInOrigin, type SigningKey } from '@self/crypto';
import type { NodeClient } from '@self/node/client';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import { pino, type Logger } from 'pino';
import { ChallengeStore } from './auth/challenges.js';
import { OperatorAuth } from './auth/operator.js';
import { personHooks, requestRateKey, type Hook } from './auth/principal.js';
import { AppRateLimits, TokenBuckets, classOfKey, tokenBucketStore } from './auth/rate-limit.js';
import { SessionManager } from './auth/sessions.js';
import { bearerToken } from './auth/tokens.js';
import { Sponsor } from './chain/sponsor.js';
import { DEFAULT_RATE_CLASSES, type RateClass, type RateClassLimits } from './config/tiers.js';
import { AccountStore } from './db/accounts.js';
import { CONTROL_DB_FILE, openControlDatabase } from './db/database.js';
import { CloudError, errorResponder, notFound, unauthenticated } from './http/errors.js';
import type { Provisioner } from './instances/index.js';
import { CloudMetrics } from './metrics.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerDeveloperRoutes } from './routes/developers.js';
import { registerOAuthRoutes } from './oauth/routes.js';
import { createOAuthServer } from './oauth/server.js';
import { loadSigningKey } from './oauth/signing-key.js';
import type { CloudApp, CloudContext } from './routes/context.js';
import { registerForwardRoutes } from './routes/forward.js';
import { registerIdentityRoutes } from './routes/identity.js';
import { registerMeRoutes } from './routes/me.js';
import { registerOpsRoutes } from './routes/ops.js';
import { registerSignupRoutes } from './routes/signup.js';
import { SignupService } from './signup/signup.js';

export interface CloudChainOptions {
  /** A client of a chain node's API (submits, waits, resolves DIDs). */
  client: NodeClient;
  chainId: string;
  /** Testnets: the key that funds new person and instance addresses; null: no sponsorship. */
  sponsor: SigningKey | null;
  /** Point price of the sponsor's transfers (and the bound on a sponsored did.create's bid). */
  pointPrice: number;
  /** Sponsor grants in base units (default person 10,000 × pointPrice, instance 100,000 × pointPrice). */
  grants?: { person?: number; instance?: number };
  /** How long to wait for a transaction to commit (default 60 s). */
  commitTimeoutMs?: number;
}

export interface CloudRateLimitOptions {
  /** Override a class's bucket (defaults: DEFAULT_RATE_CLASSES). */
  classes?: Partial<Record<RateClass, RateClassLimits>>;
  /** Client IP addresses exempt from every limit (a local benchmark, a trusted proxy). */
  allowList?: string[];
}

export interface CloudOptions {
  /** The cloud's own directory: control.db and operator.token live here. */
  dataDir: string;
  /** Owned by the caller: createCloud neither starts nor closes it. */
  provisioner: Provisioner;
  chain: CloudChainOptions;
  /** Base URL people reach this gateway at, e.g. http://127.0.0.1:8080 (sign-in binds to its origin). */
  publicUrl: string;
  /** Default: pino at info; false: silent. Tokens and Authorization headers are redacted either way. */
  logger?: Logger | false;
  /** Default DEFAULT_RATE_CLASSES; false disables rate limiting (benchmarks). */
  rateLimit?: false | CloudRateLimitOptions;
  /** Session lifetime (default 24 h). */
  sessionTtlMs?: number;
  /** Sign-in challenge lifetime (default 5 min). */
  challengeTtlMs?: number;
  /** Trust X-Forwarded-For for the client address (only behind a proxy you run). Default false. */
  trustProxy?: boolean;
  /** Default: testnet when the chain has a sponsor, else production (no test users there). */
  environment?: 'testnet' | 'production';
  /** Clock (tests). */
  now?: () => number;
}

export interface Cloud {
  /** Not listening yet: the caller calls `app.listen(...)` (and may register more routes first). */
  app: FastifyInstance;
  /** Closes the HTTP server and the control database; the provisioner stays the caller's. */
  close(): Promise<void>;
  /** The operator's bearer token for /v1/admin (also in `<dataDir>/operator.token`, 0600). */
  operatorToken: string;
  publicUrl: string;
  /** Prometheus registry of the gateway's metrics (also served at /metrics). */
  metrics: CloudMetrics;
}

export const DEFAULT_SESSION_TTL_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CHALLENGE_TTL_MS = 5 * 60 * 1000;
/** JSON request bodies: a signed transaction (≤ 64 KiB) in base64url with room to spare. */
const JSON_BODY_LIMIT = 256 * 1024;

/** Never logged: bearer tokens in headers, and any field named like a token or a secret. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'request.headers.authorization',
  'token',
  '*.token',
  'session.token',
  'operatorToken',
  'signature',
  '*.signature',
  '*.client_secret',
  '*.refresh_token',
  '*.code',
  '*.code_verifier',
  '*.api_key',
];

function cloudLogger(given: Logger | false | undefined): Logger {
  const redact = { paths: REDACTED_PATHS, censor: '[redacted]' };
  if (given === false) return pino({ level: 'silent' });
  if (given) return given.child({ component: 'cloud' }, { redact });
  return pino({ level: 'info', base: { component: 'cloud' }, redact });
}

function normalisePublicUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new TypeError(`publicUrl must be an http(s) URL, got ${url}`);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

/**
 * The SELF cloud's gateway and control plane (design §7): sign-up, sign-in, sessions, the
 * person's identity relay, forwarding to instances, operator views, health and metrics, on one
 * Fastify instance. Routes and their shapes: the module comment of each file in routes/.
 */
export function createCloud(opts: CloudOptions): Cloud {
  const now = opts.now ?? Date.now;
  const publicUrl = normalisePublicUrl(opts.publicUrl);
  const logger = cloudLogger(opts.logger);
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const db = openControlDatabase(join(opts.dataDir, CONTROL_DB_FILE));
  let closed = false;
  try {
    const accounts = new AccountStore(db);
    const interrupted = accounts.failInterrupted(now());
    if (interrupted > 0)
      logger.warn({ count: interrupted }, 'sign-ups interrupted by a restart marked failed');
    const sessions = new SessionManager(db, { ttlMs: opts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS, now });
    const challenges = new ChallengeStore(db, opts.challengeTtlMs ?? DEFAULT_CHALLENGE_TTL_MS, now);
    const operator = new OperatorAuth(db, opts.dataDir);
    // App access tokens: signed with this key; instances verify them with its public half.
    const signingKey = loadSigningKey(opts.dataDir);
    opts.provisioner.setAppTokenIssuer({ issuer: publicUrl, keys: [signingKey.publicJwk] });
    const metrics = new CloudMetrics();
    const c = opts.chain;
    const chain = {
      client: c.client,
      chainId: c.chainId,
      pointPrice: c.pointPrice,
      sponsor: c.sponsor
        ? new Sponsor(c.client, c.sponsor, { chainId: c.chainId, pointPrice: c.pointPrice, logger })
        : null,
      grants: {
        person: c.grants?.person ?? 10_000 * c.pointPrice,
        instance: c.grants?.instance ?? 100_000 * c.pointPrice,
      },
      commitTimeoutMs: c.commitTimeoutMs ?? 60_000,
    };
    const signup = new SignupService({
      accounts,
      sessions,
      provisioner: opts.provisioner,
      chain,
      metrics,
      logger,
      now,
    });

    const respond = errorResponder(JSON_BODY_LIMIT);
    const app = Fastify({
      loggerInstance: logger,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: JSON_BODY_LIMIT,
      trustProxy: opts.trustProxy ?? false,
      routerOptions: { maxParamLength: 2048 },
      ajv: {
        customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
      },
      frameworkErrors: (err, request, reply) => respond(err, request, reply),
    }).withTypeProvider<TypeBoxTypeProvider>() as unknown as CloudApp;

    const routes = new RouteTable();
    app.addHook('onRoute', (route) => routes.add(route.url, route.method));
    app.setErrorHandler((err, request, reply) => respond(err, request, reply));
    app.decorateRequest('selfPrincipal', null);
    // JSON only outside /v1/i/ (whose scope takes raw bytes): anything else is 415.
    app.removeContentTypeParser('text/plain');

    // Browser apps (public clients) call the OAuth endpoints and their people's instances from their
    // own origins. Every credential here is a bearer header, never a cookie, so any origin may ask:
    // without the token a cross-origin page learns nothing it could not fetch anyway.
    app.register(cors, {
      origin: '*',
      methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH'],
      allowedHeaders: ['authorization', 'content-type', 'if-match', 'if-none-match', 'accept'],
      exposedHeaders: [
        'etag',
        'x-self-version',
        'last-modified',
        'retry-after',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
      ],
      maxAge: 600,
    });

    const rateClasses = { ...DEFAULT_RATE_CLASSES, ...(opts.rateLimit ? opts.rateLimit.classes : {}) };
    let limiter: Hook | null = null;
    let appLimits: AppRateLimits | null = null;
    if (opts.rateLimit !== false) {
      const allowed = new Set(opts.rateLimit?.allowList ?? []);
      const buckets = new TokenBuckets(rateClasses);
      appLimits = new AppRateLimits(buckets, (ip) => allowed.has(ip));
      app.register(rateLimit, { global: false, store: tokenBucketStore(buckets) });
      app.after(() => {
        limiter = app.rateLimit({
          keyGenerator: requestRateKey,
          max: (_request: FastifyRequest, key: string) => rateClasses[classOfKey(key)].burst,
          timeWindow: 60_000,
          allowList: (request: FastifyRequest) => allowed.has(request.ip),
          errorResponseBuilder: (request, context) =>
            new CloudError(429, 'rate_limit_exceeded', `rate limit exceeded, retry in ${context.after}`, {
              limit: context.max,
              retry_after_seconds: Math.ceil(context.ttl / 1000),
              limit_scope: request.selfPrincipal ? 'person' : 'ip',
            }),
        }) as unknown as Hook;
      });
    }
    // Hook lists are filled once the limiter exists (after the plugin loads), before routes register.
    const { identify, requirePerson } = personHooks(sessions, accounts);
    const requireOperator: Hook = async (request) => {
      if (!operator.verify(bearerToken(request.headers.authorization)))
        throw unauthenticated('this route needs the operator token (Authorization: Bearer self_op_…)', {
          reason: 'operator_token',
        });
    };
    const hooks: CloudContext['hooks'] = { anonymous: [], person: [], operator: [] };
    const limited = (): Hook[] => (limiter ? [limiter] : []);

    const ctx: CloudContext = {
      environment: opts.environment ?? (c.sponsor ? 'testnet' : 'production'),
      db,
      dataDir: opts.dataDir,
      publicUrl,
      origin: signInOrigin(publicUrl),
      accounts,
      sessions,
      challenges,
      operator,
      provisioner: opts.provisioner,
      chain,
      signup,
      metrics,
      logger,
      hooks,
      now,
    };
    const oauth = createOAuthServer(ctx, signingKey);

    app.after(() => {
      hooks.anonymous.push(...limited());
      hooks.person.push(identify, ...limited(), requirePerson);
      hooks.operator.push(...limited(), requireOperator);
      registerOpsRoutes(app, ctx);
      registerSignupRoutes(app, ctx);
      registerAuthRoutes(app, ctx);
      registerMeRoutes(app, ctx, rateClasses);
      registerIdentityRoutes(app, ctx);
      registerAdminRoutes(app, ctx);
      registerDeveloperRoutes(app, ctx);
      registerOAuthRoutes(app, ctx, oauth);
      registerForwardRoutes(app, ctx, {
        access: oauth.access,
        limits: appLimits,
        grantRevoked: (did, grantId) => oauth.families.revokeGrant(did, grantId, 'grant_revoked'),
      });
      app.setNotFoundHandler({ preHandler: hooks.anonymous }, (request, reply) => {
        const miss = describeUnrouted(routes, request.method, request.url);
        if (miss.status === 405) {
          reply.header('allow', miss.allowed.join(', '));
          respond(new CloudError(405, miss.code, miss.message, { allowed: miss.allowed }), request, reply);
        } else respond(notFound(miss.message), request, reply);
      });
    });

    app.addHook('onClose', async () => {
      if (closed) return;
      closed = true;
      db.close();
    });

    let closing: Promise<void> | null = null;
    return {
      app: app as unknown as FastifyInstance,
      close: () => (closing ??= app.close()),
      operatorToken: operator.token,
      publicUrl,
      metrics,
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
