import { connect, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Pool } from 'undici';
import { HOP_BY_HOP_HEADERS } from './http/hop-by-hop.js';

/**
 * The chain node's public API (docs/api.md) served on the cloud's own port, so that one URL reaches
 * the whole SELF cloud: person and app routes are the gateway's, these paths are forwarded verbatim to
 * a chain node. Bodies pass through as bytes (transactions may be CBOR), the WebSocket at /v1/ws is
 * spliced at the socket level, and the node sees the gateway as its client: the gateway's own rate
 * limits apply before forwarding.
 */
export const CHAIN_API_PREFIXES = [
  '/v1/status',
  '/v1/blocks',
  '/v1/accounts',
  '/v1/transactions',
  '/v1/validators',
  '/v1/dids',
  '/v1/apps',
] as const;

const WS_PATH = '/v1/ws';

export interface ChainProxyOptions {
  /** Base URL of a chain node's API, e.g. http://127.0.0.1:39211. */
  target: string;
  /** Largest request body forwarded (default 16 MiB, above the node's own batch limit). */
  bodyLimit?: number;
}

function forwardableHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Registers the forwarding routes on `app` (encapsulated: its raw-body parser applies to these
 * routes only) and the WebSocket splice on `app.server`. Returns a closer for the connection pool.
 */
export async function registerChainProxy(
  app: FastifyInstance,
  opts: ChainProxyOptions,
): Promise<{ close(): Promise<void> }> {
  const target = new URL(opts.target);
  const pool = new Pool(target.origin, { connections: 16, keepAliveTimeout: 30_000 });
  const bodyLimit = opts.bodyLimit ?? 16 * 1024 * 1024;

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
    const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      let res;
      try {
        res = await pool.request({
          method: request.method as 'GET',
          path: request.url,
          headers: forwardableHeaders(request.headers),
          body: Buffer.isBuffer(request.body) ? request.body : null,
        });
      } catch {
        await reply.code(502).send({
          error: 'chain_unavailable',
          message: 'the chain node behind this cloud did not answer; try again shortly',
          details: { path: request.url.split('?')[0] },
        });
        return;
      }
      const body = Buffer.from(await res.body.arrayBuffer());
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined && !HOP_BY_HOP_HEADERS.has(name)) headers[name] = value;
      }
      await reply.code(res.statusCode).headers(headers).send(body);
    };
    for (const prefix of CHAIN_API_PREFIXES) {
      for (const url of [prefix, `${prefix}/*`]) {
        scope.route({ method: ['GET', 'HEAD', 'POST', 'OPTIONS'], url, handler });
      }
    }
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH) return;
    spliceUpgrade(req, socket, head, target);
  };
  app.server.on('upgrade', onUpgrade);

  return {
    close: async () => {
      app.server.off('upgrade', onUpgrade);
      await pool.close();
    },
  };
}

/** Replays the client's upgrade request to the node and joins the two sockets. */
function spliceUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, target: URL): void {
  const upstream: Socket = connect(Number(target.port || 80), target.hostname);
  const fail = (): void => {
    client.destroy();
    upstream.destroy();
  };
  upstream.once('error', () => {
    if (!client.destroyed) client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
    upstream.destroy();
  });
  client.once('error', fail);
  upstream.once('connect', () => {
    const lines = [`${req.method ?? 'GET'} ${req.url ?? WS_PATH} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      lines.push(`${name}: ${name.toLowerCase() === 'host' ? target.host : req.rawHeaders[i + 1]!}`);
    }
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream).pipe(client);
  });
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => client.destroy());
}
