import '../polyfills.js';
import type { Libp2p, PeerId, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';

/** Why a request failed; `oversized` and `malformed` are the remote peer's fault. */
export type RequestFailure = 'dial' | 'timeout' | 'oversized' | 'malformed' | 'closed' | 'refused';

export class RequestError extends Error {
  constructor(
    readonly kind: RequestFailure,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** Thrown by a request handler for a request it will not answer (bad shape, out of range). */
export class BadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

function failure(err: unknown, fallback: RequestFailure): RequestError {
  if (err instanceof RequestError) return err;
  const name = (err as Error | undefined)?.name ?? '';
  if (name === 'InvalidDataLengthError' || name === 'InvalidMessageLengthError')
    return new RequestError('oversized', (err as Error).message);
  if (name === 'AbortError' || name === 'TimeoutError')
    return new RequestError('timeout', (err as Error).message);
  return new RequestError(fallback, (err as Error | undefined)?.message ?? String(err));
}

/** Reads one length-prefixed message (the only one a request or response carries). */
async function readOne(stream: Stream, maxBytes: number): Promise<Uint8Array> {
  for await (const msg of lp.decode(stream, { maxDataLength: maxBytes })) return msg.subarray();
  throw new RequestError('closed', 'stream ended before a message arrived');
}

export interface RequestOptions {
  maxResponseBytes: number;
  timeoutMs: number;
  /** Aborts with the node (stop). */
  signal?: AbortSignal;
}

/**
 * One request on a fresh stream: send the length-prefixed body, close our side, read one
 * length-prefixed response. The whole exchange is bounded by `timeoutMs`.
 */
export async function request(
  node: Libp2p,
  peer: PeerId,
  protocol: string,
  body: Uint8Array,
  opts: RequestOptions,
): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  let stream: Stream;
  try {
    stream = await node.dialProtocol(peer, protocol, { signal });
  } catch (err) {
    throw failure(err, signal.aborted ? 'timeout' : 'dial');
  }
  const onAbort = (): void => stream.abort(new RequestError('timeout', `${protocol} request timed out`));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    stream.send(lp.encode.single(body));
    await stream.close({ signal });
    return await readOne(stream, opts.maxResponseBytes);
  } catch (err) {
    const e = failure(err, 'closed');
    stream.abort(e);
    throw signal.aborted && e.kind === 'closed' ? new RequestError('timeout', e.message) : e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

export interface ServeOptions {
  maxRequestBytes: number;
  timeoutMs: number;
  /** Concurrent inbound streams of this protocol per connection. */
  maxInboundStreams: number;
  /** Flood protection: false refuses the stream (the peer is over its request budget). */
  admit(peer: string): boolean;
  /** A peer's bad request (oversized, malformed) or a failure answering it. */
  onFailure(kind: RequestFailure, peer: string, err: Error): void;
}

export type RequestHandler = (body: Uint8Array, peer: string) => Uint8Array | Promise<Uint8Array>;

/** Serves one request per inbound stream with `handler`. */
export async function serve(
  node: Libp2p,
  protocol: string,
  handler: RequestHandler,
  opts: ServeOptions,
): Promise<void> {
  await node.handle(
    protocol,
    async (stream, connection) => {
      const peer = connection.remotePeer.toString();
      if (!opts.admit(peer)) {
        stream.abort(new RequestError('refused', 'rate limited'));
        opts.onFailure('refused', peer, new Error('rate limited'));
        return;
      }
      const timer = setTimeout(
        () => stream.abort(new RequestError('timeout', `${protocol} exchange timed out`)),
        opts.timeoutMs,
      );
      try {
        const body = await readOne(stream, opts.maxRequestBytes);
        const response = await handler(body, peer);
        stream.send(lp.encode.single(response));
        await stream.close();
      } catch (err) {
        const e =
          err instanceof BadRequest ? new RequestError('malformed', err.message) : failure(err, 'closed');
        stream.abort(e);
        opts.onFailure(e.kind, peer, e);
      } finally {
        clearTimeout(timer);
      }
    },
    { maxInboundStreams: opts.maxInboundStreams },
  );
}
