import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor, AiActionSpec, Instance } from '../instance.js';
import type { AiState } from './state.js';

/** Pieces the AI routes share with the instance server. */

export type AiRoutesApp = FastifyInstance<
  FastifyInstance['server'],
  FastifyRequest['raw'],
  FastifyReply['raw'],
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What the instance server hands its AI routes. */
export interface AiRouteDeps {
  instance: Instance;
  /** The request's acting identity (from the gateway's x-self-* headers). */
  actorOf: (request: FastifyRequest) => Actor;
}

/** JSON request bodies, in a scope of their own: the data routes keep taking raw bytes. */
export function acceptJson(app: AiRoutesApp): void {
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim().length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(text) as unknown);
    } catch {
      const err = Object.assign(new Error('the request body is not valid JSON'), {
        statusCode: 400,
        code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      });
      done(err, undefined);
    }
  });
}

/** Runs `run` as one audited AI access (Instance.aiAction): ok or error, or denied before it. */
export function auditedAi<T>(
  deps: AiRouteDeps,
  request: FastifyRequest,
  spec: AiActionSpec,
  run: (state: AiState) => T,
): T {
  const ticket = deps.instance.aiAction(deps.actorOf(request), spec);
  return ticket.ok(() => run(deps.instance.aiState()));
}

/** Whether the client asked for server-sent events. */
export function wantsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').toLowerCase().includes('text/event-stream');
}

/**
 * Takes the response over for a stream of server-sent events. `onGone` fires once if the client
 * goes away before `end` is called.
 */
export function openEventStream(
  reply: FastifyReply,
  onGone: () => void,
): { write: (frame: string) => void; end: () => void } {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    // Proxies must pass each event on at once, not buffer the stream.
    'x-accel-buffering': 'no',
  });
  let ended = false;
  raw.on('close', () => {
    if (!ended) onGone();
  });
  return {
    write: (frame) => {
      if (!raw.destroyed && !raw.writableEnded) raw.write(frame);
    },
    end: () => {
      ended = true;
      if (!raw.destroyed && !raw.writableEnded) raw.end();
    },
  };
}
