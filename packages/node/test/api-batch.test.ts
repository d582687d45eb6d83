import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeysFromSeed, sha512, toHex, utf8 } from '@self/crypto';
import { ChainError, decodeSignedTransaction, encode, encodeSignedTransaction, txHash } from '@self/chain';
import { type ApiServerOptions } from '../src/api/index.js';
import { MAX_BATCH_TXS, batchBodyLimit } from '../src/api/routes/transactions.js';
import { NodeClient } from '../src/client/index.js';
import type { ApiNode } from '../src/node-api.js';
import {
  getJson,
  nextNonce,
  postJson,
  signedTx,
  startHarness,
  waitCommitted,
  waitFor,
  type Harness,
  type JsonResponse,
  extraServer,
} from './api-harness.js';

/**
 * A small max_block_bytes keeps the batch body limit (min(1000 × max_tx_bytes, max_block_bytes)
 * × 2 + 1 KiB) small enough to cross in a test: 525,312 bytes, against the server's 132,096.
 */
const PARAMS = { max_block_bytes: 256 * 1024 };
const BATCH_LIMIT = 2 * 256 * 1024 + 1024;
const SERVER_LIMIT = 2 * 64 * 1024 + 1024;

let h: Harness;
const extra: FastifyInstance[] = [];

beforeAll(async () => {
  h = await startHarness({ rateLimit: { max: 100_000, windowMs: 60_000 } }, { params: PARAMS });
  await waitFor('block 1', async () => (h.chain.latestHeight() >= 1 ? true : undefined));
});

afterAll(async () => {
  for (const s of extra) await s.close();
  await h?.close();
});

/** Another API server over the same node, with other options. */
const serverWith = (opts: ApiServerOptions, node: ApiNode = h.node): Promise<string> =>
  extraServer(node, opts, extra);

const ADDRESS = accountKeysFromSeed(sha512(utf8('api-batch')), 'ed25519').address;

function expectError(res: JsonResponse, status: number, error: string): void {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(typeof res.body.message).toBe('string');
  expect(typeof res.body.details).toBe('object');
  expect(res.body.details).not.toBeNull();
}

const postBatch = (body: RequestInit['body'], contentType: string, url = h.url): Promise<JsonResponse> =>
  getJson(`${url}/v1/transactions/batch`, { method: 'POST', headers: { 'content-type': contentType }, body });

const postCbor = (value: unknown, url = h.url): Promise<JsonResponse> =>
  postBatch(encode(value) as Uint8Array<ArrayBuffer>, 'application/cbor', url);

/** `count` transfers from the faucet with consecutive nonces from `nonce`. */
function transfers(nonce: number, count: number, amount = 1) {
  return Array.from({ length: count }, (_, i) =>
    signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: amount + i }, nonce + i),
  );
}

const hashOf = (bytes: Uint8Array): string => toHex(txHash(decodeSignedTransaction(bytes)));

interface BatchBody {
  accepted: number;
  rejected: number;
  results: Array<{ hash?: string; error?: string; code?: string; message?: string; details?: unknown }>;
}

describe('POST /v1/transactions/batch admits valid transactions', () => {
  it('a JSON batch: 200, one hash per transaction, the same hash the single route answers', async () => {
    const nonce = await nextNonce(h);
    const txs = transfers(nonce, 3);
    const res = await postJson(`${h.url}/v1/transactions/batch`, { txs: txs.map((t) => t.hex) });
    expect(res.status).toBe(200);
    const body = res.body as unknown as BatchBody;
    expect(body).toEqual({ accepted: 3, rejected: 0, results: txs.map((t) => ({ hash: hashOf(t.bytes) })) });
    for (const { hash } of body.results) {
      const found = await getJson(`${h.url}/v1/transactions/${hash}`);
      expect(found.status).toBe(200);
      expect(['pending', 'committed']).toContain(found.body.status);
    }
    // The single route names a transaction by the same hash: resubmitting one is a duplicate of it.
    const again = await postJson(`${h.url}/v1/transactions`, { tx: txs[0]!.hex });
    expect(again.status).toBe(409);
    for (const { hash } of body.results) await waitCommitted(h, hash!);
  });

  it('a CBOR batch (array of byte strings), uppercase hex JSON too', async () => {
    const nonce = await nextNonce(h);
    const txs = transfers(nonce, 4, 10);
    const res = await postCbor(txs.slice(0, 2).map((t) => t.bytes));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      accepted: 2,
      rejected: 0,
      results: txs.slice(0, 2).map((t) => ({ hash: hashOf(t.bytes) })),
    });
    const upper = await postJson(`${h.url}/v1/transactions/batch`, {
      txs: txs.slice(2).map((t) => t.hex.toUpperCase()),
    });
    expect(upper.status).toBe(200);
    expect(upper.body).toMatchObject({ accepted: 2, rejected: 0 });
    for (const t of txs) await waitCommitted(h, hashOf(t.bytes));
  });

  it('NodeClient.submitTransactions posts CBOR and returns the results', async () => {
    const client = new NodeClient(h.url);
    const nonce = await nextNonce(h);
    const txs = transfers(nonce, 2, 20);
    const result = await client.submitTransactions([txs[0]!.bytes, new Uint8Array([0]), txs[1]!.bytes]);
    expect(result.accepted).toBe(2);
    expect(result.rejected).toBe(1);
    expect(result.results[0]).toEqual({ hash: hashOf(txs[0]!.bytes) });
    expect(result.results[1]).toMatchObject({ error: 'transaction_rejected', code: 'malformed' });
    expect(result.results[2]).toEqual({ hash: hashOf(txs[1]!.bytes) });
    await client.waitForTransaction(hashOf(txs[1]!.bytes), { intervalMs: 100 });
    // A byte string of 300 bytes needs a two-byte CBOR length; the node refuses it as a transaction.
    const long = await client.submitTransactions([new Uint8Array(300).fill(7)]);
    expect(long).toMatchObject({ accepted: 0, rejected: 1, results: [{ code: 'malformed' }] });
    const empty = await client.submitTransactions([]).catch((e: unknown) => e);
    expect(empty).toMatchObject({ status: 400, code: 'invalid_request' });
  });
});

describe('per-transaction results', () => {
  it('a mixed batch answers each item in order; only the valid ones are stored', async () => {
    const nonce = await nextNonce(h);
    const [first, second] = transfers(nonce, 2, 30);
    // A forged signature over a body of its own (the hash covers the body, not the signature).
    const other = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 99 }, nonce + 1);
    const stx = decodeSignedTransaction(other.bytes);
    const sig = new Uint8Array(stx.sig);
    sig[0]! ^= 1;
    const forged = encodeSignedTransaction({ ...stx, sig });
    const far = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 5 }, nonce + 1000);
    const batch = [first!.bytes, forged, first!.bytes, far.bytes, new Uint8Array([0x00]), second!.bytes];
    const res = await postCbor(batch);
    expect(res.status).toBe(200);
    const body = res.body as unknown as BatchBody;
    expect({ accepted: body.accepted, rejected: body.rejected }).toEqual({ accepted: 2, rejected: 4 });
    expect(body.results.map((r) => r.hash ?? r.code)).toEqual([
      hashOf(first!.bytes),
      'bad_signature',
      'duplicate',
      'nonce_too_high',
      'malformed',
      hashOf(second!.bytes),
    ]);
    // Each refusal is the error body the single route would answer, plus the code.
    expect(body.results[1]).toMatchObject({
      error: 'transaction_rejected',
      code: 'bad_signature',
      details: { code: 'bad_signature' },
    });
    expect(typeof body.results[1]!.message).toBe('string');
    expect(body.results[2]).toMatchObject({ error: 'transaction_rejected', code: 'duplicate' });
    await waitCommitted(h, hashOf(second!.bytes));
    for (const refused of [forged, far.bytes]) {
      const lookup = await getJson(`${h.url}/v1/transactions/${hashOf(refused)}`);
      expect(lookup.status).toBe(404);
    }
    expect(await nextNonce(h)).toBe(nonce + 2);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/self_rejected_messages_total\{reason="nonce_too_high",source="api"\} [1-9]/);
  });

  it('a body between the server limit and the batch limit is taken; an oversized item is refused alone', async () => {
    const nonce = await nextNonce(h);
    const [tx] = transfers(nonce, 1, 40);
    const huge = '00'.repeat(70_000);
    const text = JSON.stringify({ txs: [tx!.hex, huge] });
    expect(text.length).toBeGreaterThan(SERVER_LIMIT);
    const res = await postBatch(text, 'application/json');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      accepted: 1,
      rejected: 1,
      results: [{ hash: hashOf(tx!.bytes) }, { error: 'transaction_rejected', code: 'oversized' }],
    });
    await waitCommitted(h, hashOf(tx!.bytes));
  });

  it('a full mempool is a per-item mempool_full (service_unavailable, as the single route says); still 200', async () => {
    const full: ApiNode = {
      ...h.node,
      chain: h.node.chain,
      metrics: h.node.metrics,
      submitTransactions: async (batch) =>
        batch.map(() => ({ ok: false as const, error: new ChainError('mempool_full', 'mempool is full') })),
    };
    const url = await serverWith({ rateLimit: false }, full);
    const res = await postCbor([new Uint8Array([1]), new Uint8Array([2])], url);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      accepted: 0,
      rejected: 2,
      results: Array.from({ length: 2 }, () => ({
        error: 'service_unavailable',
        code: 'mempool_full',
        message: 'mempool is full',
        details: { code: 'mempool_full' },
      })),
    });
  });

  it('an internal failure is a 500 for the whole batch; a stopping node a 503', async () => {
    const broken: ApiNode = {
      ...h.node,
      chain: h.node.chain,
      metrics: h.node.metrics,
      submitTransactions: async () => {
        throw new Error('verification pool died');
      },
    };
    const url = await serverWith({ rateLimit: false }, broken);
    const res = await postCbor([new Uint8Array([1])], url);
    expectError(res, 500, 'internal_error');
    expect(JSON.stringify(res.body)).not.toContain('pool died');

    const stopping: ApiNode = {
      ...broken,
      submitTransactions: async () => {
        throw new ChainError('unavailable', 'the node is shutting down; retry on another node');
      },
    };
    const url2 = await serverWith({ rateLimit: false }, stopping);
    const res2 = await postCbor([new Uint8Array([1])], url2);
    expectError(res2, 503, 'service_unavailable');
    expect(res2.body.details).toMatchObject({ code: 'unavailable' });
  });
});

describe('requests that are not a batch', () => {
  const tooMany = Array.from({ length: MAX_BATCH_TXS + 1 }, () => new Uint8Array([0]));
  const cases: Array<[string, RequestInit['body'], string]> = [
    ['an empty JSON array', '{"txs":[]}', 'application/json'],
    ['1001 JSON items', JSON.stringify({ txs: tooMany.map(() => '00') }), 'application/json'],
    ['a JSON item that is not hex', '{"txs":["zz"]}', 'application/json'],
    ['an empty hex item', '{"txs":[""]}', 'application/json'],
    ['a JSON item that is not a string', '{"txs":[12]}', 'application/json'],
    ['no txs field', '{}', 'application/json'],
    ['an unknown field', '{"txs":["00"],"fee":1}', 'application/json'],
    ['a bare JSON array', '["00"]', 'application/json'],
    ['malformed JSON', '{"txs":', 'application/json'],
    ['an empty CBOR array', encode([]) as Uint8Array<ArrayBuffer>, 'application/cbor'],
    ['1001 CBOR items', encode(tooMany) as Uint8Array<ArrayBuffer>, 'application/cbor'],
    ['a CBOR map', encode({ txs: [new Uint8Array([1])] }) as Uint8Array<ArrayBuffer>, 'application/cbor'],
    ['a CBOR byte string', encode(new Uint8Array([1, 2])) as Uint8Array<ArrayBuffer>, 'application/cbor'],
    ['a CBOR text item', encode([new Uint8Array([1]), 'ab']) as Uint8Array<ArrayBuffer>, 'application/cbor'],
    ['a CBOR nested array', encode([[new Uint8Array([1])]]) as Uint8Array<ArrayBuffer>, 'application/cbor'],
    ['an empty CBOR byte string', encode([new Uint8Array(0)]) as Uint8Array<ArrayBuffer>, 'application/cbor'],
    ['indefinite-length CBOR', new Uint8Array([0x9f, 0x41, 0x01, 0xff]), 'application/cbor'],
    ['non-canonical CBOR lengths', new Uint8Array([0x98, 0x01, 0x41, 0x01]), 'application/cbor'],
    ['trailing bytes after the array', new Uint8Array([0x81, 0x41, 0x01, 0x00]), 'application/cbor'],
    ['CBOR garbage', 'garbage bytes', 'application/cbor'],
    ['an empty CBOR body', '', 'application/cbor'],
  ];
  it.each(cases)('%s → 400 invalid_request', async (_name, body, type) => {
    const res = await postBatch(body, type);
    expectError(res, 400, 'invalid_request');
  });

  it('the 400s say what is wrong', async () => {
    const map = await postCbor({ a: 1 });
    expect(map.body.message).toMatch(/array of byte strings/);
    expect(map.body.details).toEqual({ got: 'object' });
    const text = await postCbor([new Uint8Array([1]), new Uint8Array([2]), 'x']);
    expect(text.body.message).toBe('CBOR body item 2 is not a byte string');
    expect(text.body.details).toEqual({ index: 2, got: 'string' });
    const many = await postCbor(tooMany);
    expect(many.body.details).toEqual({ count: MAX_BATCH_TXS + 1, max: MAX_BATCH_TXS });
    const garbage = await postBatch('garbage bytes', 'application/cbor');
    expect(garbage.body.message).toMatch(/^body is not canonical CBOR/);
    const json = await postJson(`${h.url}/v1/transactions/batch`, { txs: [] });
    expect(json.body.details).toMatchObject({ location: 'body', issues: [{ keyword: 'minItems' }] });
  });

  it('over the batch body limit → 413 naming that limit', async () => {
    expect(batchBodyLimit(h.chain.genesis.params)).toBe(BATCH_LIMIT);
    const json = await postBatch(JSON.stringify({ txs: ['00'.repeat(BATCH_LIMIT / 2)] }), 'application/json');
    expectError(json, 413, 'payload_too_large');
    expect(json.body.details).toEqual({ limit: BATCH_LIMIT });
    expect(json.body.message).toBe(`request body exceeds ${BATCH_LIMIT} bytes`);
    const cbor = await postCbor([new Uint8Array(BATCH_LIMIT)]);
    expectError(cbor, 413, 'payload_too_large');
  });

  it('other content types → 415', async () => {
    for (const type of ['application/octet-stream', 'text/plain', 'application/x-www-form-urlencoded']) {
      const res = await postBatch(encode([new Uint8Array([1])]) as Uint8Array<ArrayBuffer>, type);
      expectError(res, 415, 'unsupported_media_type');
      expect(res.body.details).toEqual({ supported: ['application/json', 'application/cbor'] });
    }
  });

  it('GET on the path is the hash lookup with a hash that is not one → 400; PUT → 405', async () => {
    const get = await getJson(`${h.url}/v1/transactions/batch`);
    expectError(get, 400, 'invalid_request');
    expect(get.body.details).toMatchObject({ location: 'params' });
    const put = await getJson(`${h.url}/v1/transactions/batch`, { method: 'PUT', body: '{}' });
    expectError(put, 405, 'method_not_allowed');
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
  });
});

describe('limits and documentation', () => {
  it('a batch counts as one request against a budget of its own', async () => {
    const url = await serverWith({ rateLimit: { max: 100, windowMs: 60_000, transactionsMax: 2 } });
    const body = [new Uint8Array([0]), new Uint8Array([0]), new Uint8Array([0])];
    for (let i = 0; i < 2; i++) {
      const res = await postCbor(body, url);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('2');
    }
    expectError(await postCbor(body, url), 429, 'rate_limit_exceeded');
    // The single route keeps its own budget.
    const single = await postJson(`${url}/v1/transactions`, { tx: '00' });
    expect(single.status).toBe(400);
    expect(single.headers.get('x-ratelimit-remaining')).toBe('1');
  });

  it('the OpenAPI document describes the route, its two bodies and its result', async () => {
    const res = await getJson(`${h.url}/openapi.json`);
    const doc = res.body as {
      paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
    };
    const op = doc.paths['/v1/transactions/batch']?.post;
    expect(op).toBeDefined();
    expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(['200', '4XX', '5XX']));
    expect(op!.requestBody).toMatchObject({
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['txs'],
            properties: { txs: { type: 'array', minItems: 1, maxItems: MAX_BATCH_TXS } },
          },
        },
        'application/cbor': {
          schema: {
            type: 'string',
            format: 'binary',
            description: expect.stringMatching(/array of 1 to 1000/),
          },
        },
      },
    });
    expect(Object.keys((op!.requestBody as { content: object }).content).sort()).toEqual([
      'application/cbor',
      'application/json',
    ]);
    expect(op!.responses['200']).toMatchObject({
      content: {
        'application/json': {
          schema: { properties: { results: { type: 'array', items: { anyOf: [{}, {}] } } } },
        },
      },
    });
  });
});
