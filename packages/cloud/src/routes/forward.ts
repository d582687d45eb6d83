import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MAX_VALUE_BYTES_ANY_TIER, TIER_CONFIG } from '../config/tiers.js';
import { CloudError, classifyError, forbidden, notFound } from '../http/errors.js';
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

const tooLarge = (limit: number): CloudError =>
  new CloudError(413, 'too_large', `the request body exceeds this tier's largest value, ${limit} bytes`, {
    limit,
  });

/**
 * `ANY /v1/i/:did/*` → the person's instance (docs/instance-api.md): `/v1/i/<did>/data/notes/a?x=1`
 * becomes `/v1/data/notes/a?x=1` on that instance, with `x-self-actor: person` and
 * `x-self-did: <did>` set here (any x-self-* header the client sent is never passed on).
 *
 * Only the session's own DID is reachable: another DID is 403 `forbidden` before anything is
 * forwarded, whether or not it exists. The rest of the path is passed exactly as the client encoded
 * it (the instance decodes and validates keys and collections), except that raw `.`/`..` segments
 * are refused (400 `invalid_path`): they mean different things to different URL normalisers.
 * Bodies travel as raw bytes, never parsed; their limit is the tier's largest value (413).
 *
 * This is the hot path: the session and account come from memory, the body is the Buffer Fastify
 * read, and the instance's answer is passed back without re-encoding.
 */
export function registerForwardRoutes(app: CloudApp, ctx: CloudContext): void {
  app.register(async (scope: CloudApp) => {
    // Any content type, kept as bytes; the instance stores the content type with the value.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      const principal = request.selfPrincipal;
      const limit = principal ? TIER_CONFIG[principal.account.tier].maxValueBytes : 0;
      if ((body as Buffer).length > limit) done(tooLarge(limit), undefined);
      else done(null, body);
    });

    // A declared length over the tier's limit is refused before a byte of the body is read.
    const checkDeclaredLength = async (request: FastifyRequest): Promise<void> => {
      const principal = request.selfPrincipal;
      const declared = request.headers['content-length'];
      if (!principal || declared === undefined) return;
      const limit = TIER_CONFIG[principal.account.tier].maxValueBytes;
      if (Number(declared) > limit) throw tooLarge(limit);
    };

    scope.route({
      method: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH'],
      url: `${INSTANCE_PREFIX}:did/*`,
      exposeHeadRoute: false,
      bodyLimit: MAX_VALUE_BYTES_ANY_TIER,
      onRequest: [...ctx.hooks.person],
      preParsing: async (request, _reply, payload) => {
        await checkDeclaredLength(request);
        return payload;
      },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const started = performance.now();
        const principal = request.selfPrincipal;
        if (!principal) throw notFound('no session'); // unreachable: requirePerson ran
        const did = (request.params as { did: string }).did;
        if (did !== principal.did)
          throw forbidden('a session reaches only its own instance', { did: principal.did });
        if (!principal.account.placement) throw notFound('this person has no instance here');

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

        const headers: Record<string, string> = { 'x-self-actor': 'person', 'x-self-did': did };
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
