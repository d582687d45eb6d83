import { Writable } from 'node:stream';
import { createRequire } from 'node:module';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeysFromSeed, fromHex, sha512, toHex, utf8 } from '@self/crypto';
import { ChainError, decodeSignedTransaction, encodeSignedTransaction } from '@self/chain';
import type { FastifyInstance } from 'fastify';
import { parseClientMessage, type ApiServerOptions } from '../src/api/index.js';
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

interface WsClient {
  send(data: string): void;
  on(event: 'close', listener: (code: number) => void): void;
  on(event: 'open', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string) => WsClient;

let h: Harness;
const extra: FastifyInstance[] = [];

beforeAll(async () => {
  h = await startHarness({ rateLimit: { max: 100_000, windowMs: 60_000 } });
  await waitFor('block 1', async () => (h.chain.latestHeight() >= 1 ? true : undefined));
});

afterAll(async () => {
  for (const s of extra) await s.close();
  await h?.close();
});

/** Another API server over the same node, with other options. */
const serverWith = (opts: ApiServerOptions, node: ApiNode = h.node): Promise<string> =>
  extraServer(node, opts, extra);

function expectError(res: JsonResponse, status: number, error: string): void {
  expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
  expect(typeof res.body.message).toBe('string');
  expect(typeof res.body.details).toBe('object');
  expect(res.body.details).not.toBeNull();
}

const HASH0 = '0'.repeat(64);
const ADDRESS = accountKeysFromSeed(sha512(utf8('api-errors')), 'ed25519').address;
/** The same address with its last (checksum) character changed. */
const BAD_CHECKSUM = ADDRESS.slice(0, -1) + (ADDRESS.endsWith('q') ? 'p' : 'q');

describe('client mistakes answer 4xx with {error, message, details}, never 500', () => {
  const gets: Array<[string, number, string]> = [
    ['/v1/blocks/abc', 400, 'invalid_request'],
    ['/v1/blocks/-1', 400, 'invalid_request'],
    ['/v1/blocks/1.5', 400, 'invalid_request'],
    ['/v1/blocks/0x10', 400, 'invalid_request'],
    ['/v1/blocks/%2012', 400, 'invalid_request'],
    ['/v1/blocks/007', 400, 'invalid_request'],
    ['/v1/blocks/1e3', 400, 'invalid_request'],
    ['/v1/blocks/123456789012345678901', 400, 'invalid_request'],
    ['/v1/blocks/0', 404, 'not_found'],
    ['/v1/blocks/99999999', 404, 'not_found'],
    ['/v1/blocks/99999999999999999999', 404, 'not_found'],
    ['/v1/blocks/hash/abc', 400, 'invalid_request'],
    [`/v1/blocks/hash/${'a'.repeat(63)}`, 400, 'invalid_request'],
    [`/v1/blocks/hash/${'z'.repeat(64)}`, 400, 'invalid_request'],
    [`/v1/blocks/hash/${'a'.repeat(200)}`, 400, 'invalid_request'],
    [`/v1/blocks/hash/${HASH0}`, 404, 'not_found'],
    ['/v1/transactions/xyz', 400, 'invalid_request'],
    [`/v1/transactions/${HASH0}`, 404, 'not_found'],
    ['/v1/accounts/alice', 400, 'invalid_request'],
    [`/v1/accounts/${BAD_CHECKSUM}`, 400, 'invalid_request'],
    [`/v1/accounts/${ADDRESS.toUpperCase()}`, 400, 'invalid_request'],
    ['/v1/dids/did:web:example.com', 400, 'invalid_request'],
    [`/v1/dids/did:self:${BAD_CHECKSUM}`, 400, 'invalid_request'],
    ['/v1/apps/notes', 400, 'invalid_request'],
    [`/v1/apps/app_${'0'.repeat(32)}`, 404, 'not_found'],
    ['/v1/status?verbose=1', 400, 'invalid_request'],
    [`/v1/accounts/${ADDRESS}?proof=false`, 400, 'invalid_request'],
    ['/v1/%zz', 400, 'invalid_request'],
    ['/nope', 404, 'not_found'],
    ['/v1/blocks', 404, 'not_found'],
    ['/v1/transactions', 405, 'method_not_allowed'],
  ];
  it.each(gets)('GET %s → %i %s', async (path, status, error) => {
    expectError(await getJson(`${h.url}${path}`), status, error);
  });

  it('validation errors carry the location and the issues', async () => {
    const res = await getJson(`${h.url}/v1/blocks/-1`);
    expect(res.body.details).toMatchObject({
      location: 'params',
      issues: [{ path: '/height', keyword: 'pattern' }],
    });
  });

  it('DID errors are also W3C DID resolution results', async () => {
    for (const did of ['did:self:nope', `did:self:${BAD_CHECKSUM}`]) {
      const res = await getJson(`${h.url}/v1/dids/${did}`);
      expectError(res, 400, 'invalid_request');
      expect(res.body).toMatchObject({
        didDocument: null,
        didResolutionMetadata: { error: 'invalidDid' },
        didDocumentMetadata: {},
      });
    }
  });

  it('wrong methods answer 405 with Allow', async () => {
    const del = await getJson(`${h.url}/v1/status`, { method: 'DELETE' });
    expectError(del, 405, 'method_not_allowed');
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    const put = await getJson(`${h.url}/v1/transactions`, { method: 'PUT', body: '{}' });
    expectError(put, 405, 'method_not_allowed');
    expect(put.headers.get('allow')).toBe('POST');
    const head = await fetch(`${h.url}/v1/status`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  const post = (body: RequestInit['body'], contentType?: string): Promise<JsonResponse> =>
    getJson(`${h.url}/v1/transactions`, {
      method: 'POST',
      headers: contentType ? { 'content-type': contentType } : {},
      body,
    });

  const posts: Array<[string, number, string, RequestInit['body'], string | undefined]> = [
    ['malformed JSON', 400, 'invalid_request', '{"tx":', 'application/json'],
    ['empty JSON body', 400, 'invalid_request', '', 'application/json'],
    ['JSON array', 400, 'invalid_request', '[]', 'application/json'],
    ['JSON null', 400, 'invalid_request', 'null', 'application/json'],
    ['JSON string', 400, 'invalid_request', '"00"', 'application/json'],
    ['missing tx', 400, 'invalid_request', '{}', 'application/json'],
    ['tx not a string', 400, 'invalid_request', '{"tx":123}', 'application/json'],
    ['odd-length hex', 400, 'invalid_request', '{"tx":"abc"}', 'application/json'],
    ['bad hex', 400, 'invalid_request', '{"tx":"zz"}', 'application/json'],
    ['empty hex', 400, 'invalid_request', '{"tx":""}', 'application/json'],
    ['unknown field', 400, 'invalid_request', '{"tx":"00","fee":1}', 'application/json'],
    ['prototype poisoning', 400, 'invalid_request', '{"tx":"00","__proto__":{"x":1}}', 'application/json'],
    ['text/plain', 415, 'unsupported_media_type', 'hello', 'text/plain'],
    ['form data', 415, 'unsupported_media_type', 'tx=00', 'application/x-www-form-urlencoded'],
    ['empty raw body', 400, 'invalid_request', '', 'application/cbor'],
    ['no content type', 415, 'unsupported_media_type', new Uint8Array([1, 2, 3]), undefined],
    ['hex that is not a transaction', 400, 'transaction_rejected', '{"tx":"00"}', 'application/json'],
    ['raw garbage', 400, 'transaction_rejected', 'garbage bytes', 'application/octet-stream'],
  ];
  it.each(posts)('POST /v1/transactions with %s → %i %s', async (_name, status, error, body, type) => {
    expectError(await post(body, type), status, error);
  });

  it('POST /v1/transactions over the body limit → 413', async () => {
    const huge = JSON.stringify({ tx: '00'.repeat(200_000) });
    const res = await post(huge, 'application/json');
    expectError(res, 413, 'payload_too_large');
    expect(res.body.details).toMatchObject({ limit: expect.any(Number) });
  });
});

describe('chain rejections carry the ChainError code', () => {
  it('bad signature, wrong chain, nonce too high, unknown sender → 400/422 with details.code', async () => {
    const nonce = await nextNonce(h);
    const good = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 5 }, nonce);
    const stx = decodeSignedTransaction(good.bytes);
    const sig = new Uint8Array(stx.sig);
    sig[0]! ^= 1;
    const forged = encodeSignedTransaction({ ...stx, sig });
    const bad = await postJson(`${h.url}/v1/transactions`, { tx: toHex(forged) });
    expectError(bad, 400, 'transaction_rejected');
    expect(bad.body.details).toMatchObject({ code: 'bad_signature' });

    const wrongChain = signedTx(h.faucet, 'another-chain', 'transfer', { to: ADDRESS, amount: 5 }, nonce);
    const wc = await postJson(`${h.url}/v1/transactions`, { tx: wrongChain.hex });
    expectError(wc, 400, 'transaction_rejected');
    expect(wc.body.details).toMatchObject({ code: 'wrong_chain' });

    const far = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 5 }, nonce + 1000);
    const tooHigh = await postJson(`${h.url}/v1/transactions`, { tx: far.hex });
    expectError(tooHigh, 422, 'transaction_rejected');
    expect(tooHigh.body.details).toMatchObject({ code: 'nonce_too_high' });

    const pauper = accountKeysFromSeed(sha512(utf8('api-errors-pauper')), 'ed25519').account;
    const broke = signedTx(pauper, h.chainId, 'transfer', { to: ADDRESS, amount: 5 }, 1);
    const poor = await postJson(`${h.url}/v1/transactions`, { tx: broke.hex });
    expect(poor.status).toBe(422);
    expect(['unknown_account', 'insufficient_funds']).toContain((poor.body.details as { code: string }).code);
  });

  it('duplicate → 409 duplicate (pending and committed); a used nonce → 409 bad_nonce', async () => {
    const nonce = await nextNonce(h);
    const tx = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 7 }, nonce);
    const first = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
    expect(first.status).toBe(202);
    const again = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
    expectError(again, 409, 'transaction_rejected');
    expect(again.body.details).toMatchObject({ code: 'duplicate' });

    await waitCommitted(h, first.body.hash as string);
    const replay = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
    expectError(replay, 409, 'transaction_rejected');
    expect(replay.body.details).toMatchObject({ code: 'duplicate' });

    const reuse = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 8 }, nonce);
    const used = await postJson(`${h.url}/v1/transactions`, { tx: reuse.hex });
    expectError(used, 409, 'transaction_rejected');
    expect(used.body.details).toMatchObject({ code: 'bad_nonce' });

    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/self_rejected_messages_total\{reason="duplicate",source="api"\} [1-9]/);
    expect(metrics).toMatch(/self_rejected_messages_total\{reason="bad_signature",source="api"\} [1-9]/);
    expect(metrics).toMatch(/self_rejected_messages_total\{reason="invalid_request",source="api"\} [1-9]/);
  });
});

describe('server-side failures', () => {
  it('an internal error answers 500 internal_error without details, and is logged', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const broken: ApiNode = {
      ...h.node,
      chain: h.node.chain,
      metrics: h.node.metrics,
      submitTransaction: async () => {
        throw new Error('database password=hunter2 is wrong');
      },
    };
    const url = await serverWith({ logger: pino({ level: 'info' }, sink), rateLimit: false }, broken);
    const tx = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 1 }, 1);
    const res = await postJson(`${url}/v1/transactions`, { tx: tx.hex });
    expectError(res, 500, 'internal_error');
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(lines.join('')).toContain('hunter2');
  });

  it('a full mempool answers 503 service_unavailable with Retry-After', async () => {
    const full: ApiNode = {
      ...h.node,
      chain: h.node.chain,
      metrics: h.node.metrics,
      submitTransaction: async () => {
        throw new ChainError('mempool_full', 'mempool is full');
      },
    };
    const url = await serverWith({ rateLimit: false }, full);
    const tx = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 1 }, 1);
    const res = await postJson(`${url}/v1/transactions`, { tx: tx.hex });
    expectError(res, 503, 'service_unavailable');
    expect(res.body.details).toMatchObject({ code: 'mempool_full' });
    expect(res.headers.get('retry-after')).toBe('1');
  });
});

describe('rate limits', () => {
  it('counts requests per client, answers 429 with Retry-After, and exempts /health and /metrics', async () => {
    const url = await serverWith({ rateLimit: { max: 3, windowMs: 60_000, transactionsMax: 2 } });
    for (let i = 0; i < 3; i++) {
      const ok = await getJson(`${url}/v1/status`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-ratelimit-limit')).toBe('3');
      expect(ok.headers.get('x-ratelimit-remaining')).toBe(String(2 - i));
      expect(Number(ok.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
    }
    const limited = await getJson(`${url}/v1/status`);
    expectError(limited, 429, 'rate_limit_exceeded');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.body.details).toMatchObject({ limit: 3 });
    // Unknown routes count too, and are refused the same way.
    expectError(await getJson(`${url}/nope`), 429, 'rate_limit_exceeded');
    // Probes and scrapers are exempt.
    expect((await getJson(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);

    // Submissions have their own, stricter budget.
    const tx = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 1 }, 10_000);
    for (let i = 0; i < 2; i++) {
      const res = await postJson(`${url}/v1/transactions`, { tx: tx.hex });
      expect(res.headers.get('x-ratelimit-limit')).toBe('2');
      expect(res.status).not.toBe(429);
    }
    const third = await postJson(`${url}/v1/transactions`, { tx: tx.hex });
    expectError(third, 429, 'rate_limit_exceeded');
    expect(third.headers.get('retry-after')).not.toBeNull();
  });

  it('an allow-listed client is never limited', async () => {
    const url = await serverWith({ rateLimit: { max: 1, windowMs: 60_000, allowList: ['127.0.0.1'] } });
    for (let i = 0; i < 5; i++) expect((await getJson(`${url}/v1/status`)).status).toBe(200);
  });
});

describe('WebSocket bounds', () => {
  it('parses client messages strictly', () => {
    expect(parseClientMessage('{"op":"ping"}')).toEqual({ op: 'ping' });
    expect(parseClientMessage(Buffer.from('{"op":"subscribe","channels":["blocks","blocks"]}'))).toEqual({
      op: 'subscribe',
      channels: ['blocks'],
    });
    for (const bad of [
      '',
      '[]',
      '{"op":"ping","x":1}',
      '{"op":"subscribe"}',
      '{"op":"subscribe","channels":[]}',
      '{"op":"subscribe","channels":"blocks"}',
      '{"op":"subscribe","channels":["blocks"],"id":1}',
      '{"op":"subscribe","channels":["blocks","blocks","blocks","blocks"]}',
      '{"op":"publish","channels":["blocks"]}',
      `{"op":"subscribe","channels":["${'x'.repeat(5000)}"]}`,
    ]) {
      expect(parseClientMessage(bad), bad.slice(0, 60)).toHaveProperty('error');
    }
  });

  it('drops a client whose send buffer overflows with 1013', async () => {
    const url = (await serverWith({ rateLimit: false, websocket: { maxBufferedBytes: 64 } })).replace(
      'http',
      'ws',
    );
    const ws = new WebSocket(`${url}/v1/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.on('close', resolve));
    // The validators snapshot (hundreds of bytes) does not fit a 64-byte buffer.
    ws.send(JSON.stringify({ op: 'subscribe', channels: ['validators'] }));
    expect(await closed).toBe(1013);
  });

  it('WebSocket upgrades on other paths do not disturb the server', async () => {
    for (const path of ['/v1/status', '/nope']) {
      const ws = new WebSocket(`${h.url.replace('http', 'ws')}${path}`);
      ws.on('error', () => undefined);
      await new Promise<void>((resolve) => ws.on('close', () => resolve()));
    }
    expect((await getJson(`${h.url}/v1/status`)).status).toBe(200);
  });

  it('closes connections beyond maxConnections with 1013', async () => {
    const url = (await serverWith({ rateLimit: false, websocket: { maxConnections: 1 } })).replace(
      'http',
      'ws',
    );
    const first = new WebSocket(`${url}/v1/ws`);
    await new Promise<void>((resolve, reject) => {
      first.on('open', () => resolve());
      first.on('error', reject);
    });
    const second = new WebSocket(`${url}/v1/ws`);
    const code = await new Promise<number>((resolve) => second.on('close', resolve));
    expect(code).toBe(1013);
    first.close();
  });
});

describe('hex inputs', () => {
  it('accepts uppercase hex in a submission', async () => {
    const nonce = await nextNonce(h);
    const tx = signedTx(h.faucet, h.chainId, 'transfer', { to: ADDRESS, amount: 3 }, nonce);
    const res = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex.toUpperCase() });
    expect(res.status).toBe(202);
    expect(fromHex(res.body.hash as string)).toHaveLength(32);
    await waitCommitted(h, res.body.hash as string);
  });
});
