import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { appBearer } from '../auth/principal.js';
import { rateHeaders, type AppRateLimits, type RateVerdict } from '../auth/rate-limit.js';
import { MAX_VALUE_BYTES_ANY_TIER, TIER_CONFIG } from '../config/tiers.js';
import type { Account } from '../db/accounts.js';
import { CloudError, classifyError, forbidden, notFound } from '../http/errors.js';
import type { AppAccess } from '../oauth/app-access.js';
import { oauthErrorHandler } from '../oauth/errors.js';
import type { CloudApp, CloudContext } from './context.js';

/** Where instance routes start; what follows the DID segment is the instance API path under /v1. */
export const INSTANCE_PREFIX = '/v1/i/';

/** Request headers an instance reads besides the identity the gateway sets. */
const REQUEST_HEADERS = ['content-type', 'if-match', 'if-none-match', 'accept'] as const;

/** Response headers of an instance worth passing on; everything else (hop-by-hop, server) is dropped. */
const RESPONSE_HEADERS = new Set([
  'content-type',
  'etag',
  'x-self-version',
  'last-modified',
  'cache-control',
  'allow',
  'retry-after',
]);

/** A `.` or `..` segment: a URL normaliser between here and the instance could resolve it. */
const DOT_SEGMENT = /\/\.{1,2}(?:\/|$)/;

/** What app requests need: the token check, the two-bucket limits (null: limits off), and revocation. */
export interface AppForwarding {
  access: AppAccess;
  limits: AppRateLimits | null;
  /** A grant revoked through the instance API (by the person or the app): its token families end too. */
  grantRevoked(did: string, grantId: string): void;
}

/** The person or app behind a request; null before the hooks ran. */
const callerAccount = (request: FastifyRequest): Account | null =>
  request.selfPrincipal?.account ?? request.selfApp?.account ?? null;

/** `/v1/grants/<id>` deleted by the person, or `/v1/grant` deleted by the app: a revocation. */
const GRANT_PATH = /^\/v1\/grants\/(gr_[A-Za-z0-9_-]{22})(?:\?|$)/;

const rateRefusal = (v: RateVerdict): CloudError =>
  new CloudError(
    429,
    'rate_limit_exceeded',
    `rate limit exceeded (${v.scope}), retry in ${v.resetSeconds} s`,
    { limit: v.limit, retry_after_seconds: v.resetSeconds, limit_scope: v.scope },
    rateHeaders(v),
  );

const tooLarge = (limit: number): CloudError =>
  new CloudError(413, 'too_large', `the request body exceeds this tier's largest value, ${limit} bytes`, {
    limit,
  });

/**
 * `ANY /v1/i/:did/*` → the person's instance (docs/instance-api.md): `/v1/i/<did>/data/notes/a?x=1`
 * becomes `/v1/data/notes/a?x=1` on that instance, with `x-self-actor: person` and
 * `x-self-did: <did>` set here (any x-self-* header the client sent is never passed on).
 *
 * Two kinds of caller: a person with a session token reaches only their own DID (another DID is
 * 403 `forbidden` before anything is forwarded, whether or not it exists); an app with an access
 * token (a JWT) reaches only the instance its token's audience names (else 401 `invalid_token`),
 * within the app's and the person's rate limits, and is forwarded as `x-self-actor: app` with the
 * token in `x-self-token`, which the instance verifies again with the grant it holds.
 *
 * The rest of the path is passed exactly as the client encoded it (the instance decodes and
 * validates keys and collections), except that raw `.`/`..` segments are refused (400
 * `invalid_path`): they mean different things to different URL normalisers.
 * Bodies travel as raw bytes, never parsed; their limit is the tier's largest value (413).
 *
 * This is the hot path: the session and account come from memory, the body is the Buffer Fastify
 * read, and the instance's answer is passed back without re-encoding.
 */
export function registerForwardRoutes(app: CloudApp, ctx: CloudContext, apps: AppForwarding): void {
  app.register(async (scope: CloudApp) => {
    scope.decorateRequest('selfApp', null);
    // invalid_token refusals are OAuthErrors (RFC 6750); everything else as the rest of the cloud.
    scope.setErrorHandler(oauthErrorHandler(MAX_VALUE_BYTES_ANY_TIER, false));
    // Any content type, kept as bytes; the instance stores the content type with the value.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      const account = callerAccount(request);
      const limit = account ? TIER_CONFIG[account.tier].maxValueBytes : 0;
      if ((body as Buffer).length > limit) done(tooLarge(limit), undefined);
      else done(null, body);
    });

    // An app's token is checked before the rate limits, so a valid one is counted against the app
    // and the person; a bad one is counted against its IP address like any anonymous request.
    const authenticateApp = async (
      request: FastifyRequest,
      reply: FastifyReply,
      token: string,
    ): Promise<void> => {
      const did = (request.params as { did: string }).did;
      let verdict: RateVerdict | null;
      try {
        const found = await apps.access.authenticate(token, did);
        request.selfApp = found;
        verdict =
          apps.limits?.take(
            request.ip,
            { appId: found.appId, rateClass: found.appRateClass },
            { did: found.did, rateClass: TIER_CONFIG[found.account.tier].rateClass },
          ) ?? null;
      } catch (err) {
        const ip = apps.limits?.takeIp(request.ip) ?? null;
        if (ip && !ip.allowed) throw rateRefusal(ip);
        throw err;
      }
      if (verdict === null) return;
      if (!verdict.allowed) throw rateRefusal(verdict);
      for (const [name, value] of Object.entries(rateHeaders(verdict))) reply.header(name, value);
    };

    // Revoking a grant through the instance API also ends its tokens here at once.
    const noteRevocation = (did: string, path: string, appGrant: string | undefined): void => {
      const grantId = path === '/v1/grant' ? appGrant : GRANT_PATH.exec(path)?.[1];
      if (grantId !== undefined) apps.grantRevoked(did, grantId);
    };

    // A declared length over the tier's limit is refused before a byte of the body is read.
    const checkDeclaredLength = async (request: FastifyRequest): Promise<void> => {
      const account = callerAccount(request);
      const declared = request.headers['content-length'];
      if (!account || declared === undefined) return;
      const limit = TIER_CONFIG[account.tier].maxValueBytes;
      if (Number(declared) > limit) throw tooLarge(limit);
    };

    scope.route({
      method: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH'],
      url: `${INSTANCE_PREFIX}:did/*`,
      exposeHeadRoute: false,
      bodyLimit: MAX_VALUE_BYTES_ANY_TIER,
      onRequest: async (request, reply) => {
        const token = appBearer(request.headers.authorization);
        if (token !== null) await authenticateApp(request, reply, token);
        else for (const hook of ctx.hooks.person) await hook(request, reply);
      },
      preParsing: async (request, _reply, payload) => {
        await checkDeclaredLength(request);
        return payload;
      },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const started = performance.now();
        const principal = request.selfPrincipal;
        const appCaller = request.selfApp;
        const did = (request.params as { did: string }).did;
        const account = principal?.account ?? appCaller?.account;
        if (!account) throw notFound('no session'); // unreachable: the hooks refused
        if (principal && did !== principal.did)
          throw forbidden('a session reaches only its own instance', { did: principal.did });
        if (!account.placement) throw notFound('this person has no instance here');

        const raw = request.raw.url ?? request.url;
        const path = `/v1${raw.slice(raw.indexOf('/', INSTANCE_PREFIX.length))}`;
        const query = path.indexOf('?');
        if (DOT_SEGMENT.test(query < 0 ? path : path.slice(0, query)))
          throw new CloudError(
            400,
            'invalid_path',
            'path segments "." and ".." are not allowed; percent-encode them in a key',
            {},
          );

        const headers: Record<string, string> = appCaller
          ? { 'x-self-actor': 'app', 'x-self-did': did, 'x-self-token': appCaller.token }
          : { 'x-self-actor': 'person', 'x-self-did': did };
        for (const name of REQUEST_HEADERS) {
          const value = request.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const body = request.body;
        let res;
        try {
          res = await ctx.provisioner.forward(did, {
            method: request.method,
            path,
            headers,
            ...(Buffer.isBuffer(body) ? { body } : {}),
          });
        } catch (err) {
          ctx.metrics.forward(classifyError(err, 0)?.status ?? 500, (performance.now() - started) / 1000);
          throw err;
        }
        reply.code(res.status);
        for (const [name, value] of Object.entries(res.headers)) {
          const lower = name.toLowerCase();
          if (RESPONSE_HEADERS.has(lower)) reply.header(lower, value);
        }
        ctx.metrics.forward(res.status, (performance.now() - started) / 1000);
        if (request.method === 'DELETE' && res.status === 200) noteRevocation(did, path, appCaller?.grantId);
        if (res.stream !== undefined) {
          // Server-sent events: no proxy buffering, and the instance's stream ends when the client goes.
          reply.header('x-accel-buffering', 'no');
          reply.raw.once('close', () => res.stream?.destroy());
          return reply.send(res.stream);
        }
        return reply.send(Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength));
      },
    });
  });
}
