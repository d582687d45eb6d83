import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerChainProxy } from '../src/chain-proxy.js';

interface WsClient {
  send(data: string): void;
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string) => WsClient;

/**
 * The chain API forwarded on the cloud's port: a real upstream Fastify server (standing in for a
 * node's API, with the same paths) and a real gateway, both on 127.0.0.1.
 */
describe('chain API forwarding', () => {
  let upstream: FastifyInstance;
  let gateway: FastifyInstance;
  let gatewayUrl = '';
  let proxy: { close(): Promise<void> };

  beforeAll(async () => {
    upstream = Fastify();
    upstream.removeAllContentTypeParsers();
    upstream.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
    await upstream.register(websocket);
    upstream.get('/v1/status', async (req) => ({ chain_id: 'test-1', query: req.query }));
    upstream.post('/v1/transactions', async (req, reply) => {
      const body = req.body as Buffer;
      reply.header('x-seen-type', req.headers['content-type'] ?? '');
      reply.header('x-seen-forwarded', req.headers['x-forwarded-for'] ?? '');
      return reply
        .code(202)
        .type('application/cbor')
        .send(Buffer.from([...body].reverse()));
    });
    upstream.get('/v1/accounts/:address', async (_req, reply) =>
      reply.code(404).send({ error: 'not_found', message: 'no such account', details: {} }),
    );
    upstream.get('/v1/ws', { websocket: true }, (socket) => {
      socket.on('message', (data: Buffer) => socket.send(`echo:${data.toString('utf8')}`));
    });
    const upstreamUrl = await upstream.listen({ host: '127.0.0.1', port: 0 });

    gateway = Fastify();
    gateway.get('/v1/me', async () => ({ mine: true }));
    proxy = await registerChainProxy(gateway, { target: upstreamUrl });
    gatewayUrl = await gateway.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await proxy?.close();
    await gateway?.close();
    await upstream?.close();
  });

  it('forwards GET with its query string and the JSON answer', async () => {
    const res = await fetch(`${gatewayUrl}/v1/status?x=1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ chain_id: 'test-1', query: { x: '1' } });
  });

  it('forwards binary bodies byte for byte both ways, with status and headers', async () => {
    const body = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
    const res = await fetch(`${gatewayUrl}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body,
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('content-type')).toBe('application/cbor');
    expect(res.headers.get('x-seen-type')).toBe('application/cbor');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(Uint8Array.from([...body].reverse()));
  });

  it("passes the node's errors through unchanged", async () => {
    const res = await fetch(`${gatewayUrl}/v1/accounts/self1nobody`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found', message: 'no such account', details: {} });
  });

  it("leaves the gateway's own routes alone and forwards nothing else", async () => {
    expect(await (await fetch(`${gatewayUrl}/v1/me`)).json()).toEqual({ mine: true });
    expect((await fetch(`${gatewayUrl}/v1/statusx`)).status).toBe(404);
  });

  it('splices the WebSocket at /v1/ws', async () => {
    const ws = new WebSocket(`${gatewayUrl.replace('http', 'ws')}/v1/ws`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('hello'));
      ws.on('message', (data) => resolve(data.toString('utf8')));
      ws.on('error', reject);
    });
    ws.close();
    expect(reply).toBe('echo:hello');
  });

  it('answers 502 chain_unavailable when the node is down', async () => {
    const lonely = Fastify();
    const closer = await registerChainProxy(lonely, { target: 'http://127.0.0.1:1' });
    const res = await lonely.inject({ method: 'GET', url: '/v1/status' });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({ error: 'chain_unavailable', details: { path: '/v1/status' } });
    await closer.close();
    await lonely.close();
  });
});
