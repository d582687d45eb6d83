import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeApiError, NodeClient } from '../src/client/index.js';

/** A stand-in for the node API: the documented shapes, with a chain whose height grows on demand. */
let server: FastifyInstance;
let base: string;
const posted: unknown[] = [];
let height = 5;
let polls = 0;

const STATUS = () => ({
  chain_id: 'self-test-1',
  latest_block: { height, hash: 'ab'.repeat(32), timestamp: 1_767_225_600_000 + height },
  node_info: {
    version: '0.1.0',
    peer_id: '12D3KooWtest',
    peer_count: 3,
    syncing: false,
    moniker: 'node0',
    validator: null,
    extra_field: 'servers may add fields',
  },
  consensus: { height: height + 1, round: 0, step: 'propose' },
  mempool: { size: 2, bytes: 512 },
});

beforeAll(async () => {
  server = Fastify();
  server.get('/health', async () => ({ status: 'ok' }));
  server.get('/v1/status', async () => {
    height++;
    return STATUS();
  });
  server.get('/v1/blocks/latest', async () => ({ height, hash: 'cd'.repeat(32) }));
  server.get<{ Params: { h: string } }>('/v1/blocks/:h', async (req, reply) => {
    if (Number(req.params.h) > height)
      return reply.code(404).send({ error: 'not_found', message: `no block ${req.params.h}` });
    return { height: Number(req.params.h), hash: '01'.repeat(32) };
  });
  server.get<{ Params: { a: string } }>('/v1/accounts/:a', async (req) => ({
    address: req.params.a,
    balance: 1000,
    nonce: 4,
    colour: '000000',
  }));
  server.post('/v1/transactions', async (req, reply) => {
    const body = req.body as { tx?: unknown };
    if (typeof body.tx !== 'string' || !/^[0-9a-f]*$/.test(body.tx))
      return reply
        .code(400)
        .send({ error: 'invalid_request', message: 'tx must be hex', details: { field: 'tx' } });
    if (body.tx === 'dead')
      return reply.code(422).send({
        error: 'transaction_rejected',
        message: 'transaction signature does not verify',
        details: { code: 'bad_signature' },
      });
    posted.push(body);
    return reply.code(202).send({ hash: 'ee'.repeat(32) });
  });
  server.get<{ Params: { h: string } }>('/v1/transactions/:h', async (req, reply) => {
    const h = req.params.h;
    if (h === 'ee'.repeat(32)) {
      polls++;
      if (polls < 3) return { hash: h, status: 'pending' };
      return { hash: h, status: 'committed', height: 9, index: 0, block_hash: '02'.repeat(32), tx: {} };
    }
    return reply.code(404).send({ error: 'not_found', message: 'unknown transaction' });
  });
  server.get('/v1/validators', async () => ({ validators: [{ address: 'self1v', power: 1 }] }));
  server.get<{ Params: { d: string } }>('/v1/dids/:d', async (req) => ({
    didDocument: { id: req.params.d },
  }));
  server.get('/slow/v1/status', async () => {
    await new Promise((r) => setTimeout(r, 2_000));
    return STATUS();
  });
  server.get('/limited/v1/status', async (_req, reply) =>
    reply.code(429).header('retry-after', '7').send({ error: 'rate_limit_exceeded', message: 'slow down' }),
  );
  server.get('/html/v1/status', async (_req, reply) => reply.type('text/html').send('<h1>hello</h1>'));
  server.get('/proxy/v1/status', async (_req, reply) =>
    reply.code(502).type('text/plain').send('Bad Gateway'),
  );
  await server.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await server.close();
});

describe('NodeClient', () => {
  it('reads status, health, blocks, accounts, validators and DIDs', async () => {
    const c = new NodeClient(`${base}/`);
    expect(c.baseUrl).toBe(base);
    const s = await c.status();
    expect(s.chain_id).toBe('self-test-1');
    expect(s.node_info.peer_count).toBe(3);
    expect(s.node_info.extra_field).toBe('servers may add fields');
    expect(await c.health()).toEqual({ status: 'ok' });
    expect((await c.latestBlock()).hash).toBe('cd'.repeat(32));
    expect(await c.block(2)).toEqual({ height: 2, hash: '01'.repeat(32) });
    const acct = await c.account('self1abc');
    expect(acct).toMatchObject({ address: 'self1abc', balance: 1000, nonce: 4 });
    expect(await c.validators()).toEqual([{ address: 'self1v', power: 1 }]);
    expect(await c.did('did:self:self1abc')).toEqual({ didDocument: { id: 'did:self:self1abc' } });
    await expect(c.block(-1)).rejects.toBeInstanceOf(RangeError);
  });

  it('submits transactions as hex JSON and waits for them to commit', async () => {
    const c = new NodeClient(base);
    const { hash } = await c.submitTransaction(new Uint8Array([0xca, 0xfe, 0x01]));
    expect(hash).toBe('ee'.repeat(32));
    expect(posted.at(-1)).toEqual({ tx: 'cafe01' });
    const committed = await c.waitForTransaction(hash, { intervalMs: 10 });
    expect(committed).toMatchObject({ status: 'committed', height: 9, index: 0 });
    // Every status request advances the stand-in chain by one block.
    const target = height + 3;
    const s = await c.waitForHeight(target, { intervalMs: 10 });
    expect(s.latest_block.height).toBe(target);
  });

  it('maps error bodies to NodeApiError with status, code and details', async () => {
    const c = new NodeClient(base);
    const rejected = await c.submitTransaction(new Uint8Array([0xde, 0xad])).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(NodeApiError);
    expect(rejected).toMatchObject({
      status: 422,
      code: 'transaction_rejected',
      chainCode: 'bad_signature',
      message: 'transaction signature does not verify',
    });
    expect((rejected as NodeApiError).details).toEqual({ code: 'bad_signature' });
    expect((rejected as NodeApiError).body).toEqual({
      error: 'transaction_rejected',
      message: 'transaction signature does not verify',
      details: { code: 'bad_signature' },
    });
    const missing = await c.block(10_000).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'not_found', message: 'no block 10000' });
    expect((missing as NodeApiError).chainCode).toBeUndefined();

    const limited = await new NodeClient(`${base}/limited`).status().catch((e: unknown) => e);
    expect(limited).toMatchObject({ status: 429, code: 'rate_limit_exceeded', retryAfter: 7 });

    const proxy = await new NodeClient(`${base}/proxy`).status().catch((e: unknown) => e);
    expect(proxy).toBeInstanceOf(NodeApiError);
    expect(proxy).toMatchObject({ status: 502, code: 'http_502' });
    expect((proxy as Error).message).toContain('Bad Gateway');

    const html = await new NodeClient(`${base}/html`).status().catch((e: unknown) => e);
    expect(html).toMatchObject({ code: 'bad_response' });
  });

  it('gives up waiting for an unknown transaction with wait_timeout', async () => {
    const c = new NodeClient(base);
    const err = await c
      .waitForTransaction('00'.repeat(32), { timeoutMs: 100, intervalMs: 20 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeApiError);
    expect(err).toMatchObject({ status: 0, code: 'wait_timeout' });
  });

  it('reports a request timeout, naming the node', async () => {
    const err = await new NodeClient(`${base}/slow`, { timeoutMs: 200 }).status().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeApiError);
    expect(err).toMatchObject({ status: 0, code: 'timeout' });
    expect((err as Error).message).toContain(`${base}/slow did not answer within 200 ms`);
  });

  it('reports a refused connection, naming the URL', async () => {
    const closed = Fastify();
    await closed.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(closed.server.address() as AddressInfo).port}`;
    await closed.close();
    const err = await new NodeClient(url).status().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeApiError);
    expect(err).toMatchObject({ status: 0, code: 'unreachable' });
    expect((err as Error).message).toBe(
      `cannot reach the SELF node at ${url}: connection refused; is the node running?`,
    );
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(() => new NodeClient('localhost:8080')).toThrow(/not a node URL/);
    expect(() => new NodeClient('nonsense')).toThrow(/not a node URL/);
  });
});
