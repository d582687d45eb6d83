import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeysFromSeed, fromHex, sha512, utf8 } from '@self/crypto';
import { StateKey, decodeBlock, deriveAppId, encodeBlock, headerHash, verifyStateProof } from '@self/chain';
import { stateProofFromJson, type RecordProofJson } from '../src/api/index.js';
import {
  getJson,
  nextNonce,
  postJson,
  signedTx,
  startHarness,
  waitCommitted,
  waitFor,
  type Harness,
} from './api-harness.js';

/** The slice of the `ws` client these tests use (the package ships without TypeScript types). */
interface WsClient {
  readonly readyState: number;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'open' | 'close', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  send(data: string): void;
  close(): void;
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string) => WsClient;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ rateLimit: { max: 10_000, windowMs: 60_000 } });
  await waitFor('block 1', async () => (h.chain.latestHeight() >= 1 ? true : undefined));
});

afterAll(async () => {
  await h?.close();
});

/** Checks a record proof against the header of the block it names. */
async function expectProofVerifies(p: RecordProofJson): Promise<void> {
  const value = p.value === null ? null : fromHex(p.value);
  expect(verifyStateProof(fromHex(p.state_root), p.key, value, stateProofFromJson(p.proof))).toBe(true);
  const block = await getJson(`${h.url}/v1/blocks/${p.height}`);
  expect(block.status).toBe(200);
  expect((block.body.header as { state_root: string }).state_root).toBe(p.state_root);
  expect(block.body.hash).toBe(p.block_hash);
}

describe('node API over a real chain', () => {
  it('GET /health and /v1/status report the chain and node', async () => {
    const health = await getJson(`${h.url}/health`);
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(health.body.syncing).toBe(false);

    const res = await getJson(`${h.url}/v1/status`);
    expect(res.status).toBe(200);
    const s = res.body as {
      chain_id: string;
      latest_block: { height: number; hash: string; timestamp: number; state_root: string };
      node_info: Record<string, unknown>;
      consensus: { height: number; round: number; step: string };
      mempool: { size: number; bytes: number };
    };
    expect(s.chain_id).toBe('self-api-test');
    expect(s.latest_block.height).toBeGreaterThanOrEqual(1);
    expect(s.latest_block.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(s.node_info).toMatchObject({
      version: '0.1.0',
      peer_id: '12D3KooWTestPeer',
      peer_count: 0,
      syncing: false,
      moniker: 'api-test',
      validator: h.node.info().validator,
    });
    expect(s.consensus.height).toBeGreaterThan(s.latest_block.height - 1);
    expect(['propose', 'prevote', 'precommit', 'commit']).toContain(s.consensus.step);
    expect(s.mempool).toEqual({ size: expect.any(Number), bytes: expect.any(Number) });
    // The reported block is really stored with that hash and timestamp.
    const stored = h.chain.store.blockByHeight(s.latest_block.height)!;
    expect(s.latest_block.hash).toBe(Buffer.from(stored.hash).toString('hex'));
    expect(s.latest_block.timestamp).toBe(decodeBlock(stored.block).header.timestamp);
  });

  it('serves a block by height, by hash and as latest, all equal to the stored block', async () => {
    const byHeight = await getJson(`${h.url}/v1/blocks/1`);
    expect(byHeight.status).toBe(200);
    const b = byHeight.body as {
      hash: string;
      height: number;
      header: Record<string, unknown>;
      txs: unknown[];
      certificate: { height: number; block_hash: string; votes: Array<{ validator: string }> };
      last_commit: unknown;
    };
    expect(b.height).toBe(1);
    expect(b.last_commit).toBeNull();
    expect(b.certificate.height).toBe(1);
    expect(b.certificate.block_hash).toBe(b.hash);
    expect(b.certificate.votes.map((v) => v.validator)).toEqual([h.node.info().validator]);
    const stored = h.chain.block(1)!;
    expect(b.hash).toBe(Buffer.from(headerHash(stored.block.header)).toString('hex'));
    expect(b.header.state_root).toBe(Buffer.from(stored.block.header.state_root).toString('hex'));
    expect(byHeight.headers.get('cache-control')).toContain('immutable');

    const byHash = await getJson(`${h.url}/v1/blocks/hash/${b.hash}`);
    expect(byHash.status).toBe(200);
    expect(byHash.body).toEqual(byHeight.body);
    const upper = await getJson(`${h.url}/v1/blocks/hash/${b.hash.toUpperCase()}`);
    expect(upper.body).toEqual(byHeight.body);

    const latest = await getJson(`${h.url}/v1/blocks/latest`);
    expect(latest.status).toBe(200);
    const height = latest.body.height as number;
    expect(height).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(encodeBlock(h.chain.block(height)!.block)).length).toBeGreaterThan(0);
    const same = await getJson(`${h.url}/v1/blocks/${height}`);
    expect(same.body).toEqual(latest.body);
  });

  it('accepts a signed faucet transfer (JSON hex), commits it, and shows it everywhere', async () => {
    const recipient = accountKeysFromSeed(sha512(utf8('api-test-recipient')), 'ed25519').address;
    const before = await getJson(`${h.url}/v1/accounts/${recipient}`);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({
      address: recipient,
      exists: false,
      balance: 0,
      nonce: 0,
      colour: '000000',
    });
    const absent = before.body.proof as RecordProofJson;
    expect(absent.value).toBeNull();
    expect(absent.key).toBe(StateKey.account(recipient));
    await expectProofVerifies(absent);

    const nonce = await nextNonce(h);
    const tx = signedTx(h.faucet, h.chainId, 'transfer', { to: recipient, amount: 12_345 }, nonce, 3);
    const submitted = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
    expect(submitted.status).toBe(202);
    const hash = submitted.body.hash as string;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);

    const committed = await waitCommitted(h, hash);
    expect(committed).toMatchObject({ status: 'committed', hash });
    const txJson = committed.tx as { hash: string; from: string; tx: Record<string, unknown>; size: number };
    expect(txJson.hash).toBe(hash);
    expect(txJson.from).toBe(h.faucetAddress);
    expect(txJson.size).toBe(tx.bytes.length);
    expect(txJson.tx).toMatchObject({
      kind: 'transfer',
      nonce,
      point_price: 3,
      chain_id: h.chainId,
      body: { to: recipient, amount: 12_345 },
    });
    // Its block lists it at the reported index.
    const block = await getJson(`${h.url}/v1/blocks/${committed.height as number}`);
    expect(block.body.hash).toBe(committed.block_hash);
    expect((block.body.txs as Array<{ hash: string }>)[committed.index as number]!.hash).toBe(hash);
    expect(committed.timestamp).toBe((block.body.header as { timestamp: number }).timestamp);

    const after = await getJson(`${h.url}/v1/accounts/${recipient}`);
    expect(after.body).toMatchObject({ exists: true, balance: 12_345, nonce: 0 });
    const proof = after.body.proof as RecordProofJson;
    expect(proof.value).not.toBeNull();
    await expectProofVerifies(proof);
    // The proof is not for any other value.
    expect(
      verifyStateProof(fromHex(proof.state_root), proof.key, null, stateProofFromJson(proof.proof)),
    ).toBe(false);

    const sender = await getJson(`${h.url}/v1/accounts/${h.faucetAddress}`);
    expect(sender.body.nonce).toBeGreaterThanOrEqual(nonce);
    expect(sender.body.public_key).toBe(Buffer.from(h.faucet.publicKey).toString('hex'));
  });

  it('accepts raw CBOR bodies too, and reports a pending transaction', async () => {
    const nonce = await nextNonce(h);
    // A nonce gap: admitted to the mempool, but not executable until nonce - 1 lands.
    const later = signedTx(h.faucet, h.chainId, 'transfer', { to: h.faucetAddress, amount: 1 }, nonce + 1);
    const res = await getJson(`${h.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: later.bytes,
    });
    expect(res.status).toBe(202);
    const pending = await getJson(`${h.url}/v1/transactions/${res.body.hash as string}`);
    expect(pending.status).toBe(200);
    expect(pending.body).toMatchObject({ status: 'pending', hash: res.body.hash });
    expect(pending.body.height).toBeUndefined();

    const first = signedTx(h.faucet, h.chainId, 'transfer', { to: h.faucetAddress, amount: 1 }, nonce);
    const raw = await getJson(`${h.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: first.bytes,
    });
    expect(raw.status).toBe(202);
    await waitCommitted(h, raw.body.hash as string);
    await waitCommitted(h, res.body.hash as string);
  });

  it('resolves a DID (W3C result, proofs) after did.create, and 404s an unknown one', async () => {
    const did = `did:self:${h.faucetAddress}`;
    const missing = await getJson(`${h.url}/v1/dids/${did}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({
      error: 'not_found',
      didDocument: null,
      didResolutionMetadata: { error: 'notFound' },
      didDocumentMetadata: {},
    });
    expect(typeof missing.body.message).toBe('string');
    await expectProofVerifies(missing.body.proof as RecordProofJson);

    const document = {
      root_key: new Uint8Array([3, ...new Uint8Array(64).fill(7)]),
      encryption_key: new Uint8Array([4, ...new Uint8Array(1216).fill(9)]),
      delegates: [],
      services: [{ id: 'hub', type: 'SelfInstance', endpoint: 'https://faucet.example/hub' }],
    };
    const nonce = await nextNonce(h);
    const tx = signedTx(h.faucet, h.chainId, 'did.create', { document }, nonce);
    const submitted = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
    expect(submitted.status).toBe(202);
    const committed = await waitCommitted(h, submitted.body.hash as string);

    const res = await getJson(`${h.url}/v1/dids/${encodeURIComponent(did)}`);
    expect(res.status).toBe(200);
    const r = res.body as {
      didDocument: {
        id: string;
        controller: string;
        verificationMethod: Array<{ id: string }>;
        service: unknown[];
      };
      didResolutionMetadata: { contentType: string };
      didDocumentMetadata: Record<string, unknown>;
      proof: RecordProofJson;
      controllerProof: RecordProofJson;
    };
    expect(r.didDocument.id).toBe(did);
    expect(r.didDocument.controller).toBe(did);
    expect(r.didDocument.verificationMethod.map((m) => m.id)).toEqual([
      `${did}#account`,
      `${did}#root`,
      `${did}#encryption`,
    ]);
    expect(r.didDocument.service).toEqual([
      { id: `${did}#hub`, type: 'SelfInstance', serviceEndpoint: 'https://faucet.example/hub' },
    ]);
    expect(r.didResolutionMetadata).toEqual({ contentType: 'application/did+ld+json' });
    expect(r.didDocumentMetadata).toMatchObject({
      versionId: '1',
      deactivated: false,
      createdHeight: committed.height,
      updatedHeight: committed.height,
      created: new Date(committed.timestamp as number).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
    expect(r.proof.key).toBe(StateKey.did(did));
    await expectProofVerifies(r.proof);
    expect(r.controllerProof.key).toBe(StateKey.account(h.faucetAddress));
    await expectProofVerifies(r.controllerProof);
  });

  it('answers 410 with the resolution result once the DID is deactivated', async () => {
    const did = `did:self:${h.faucetAddress}`;
    const nonce = await nextNonce(h);
    const tx = signedTx(h.faucet, h.chainId, 'did.deactivate', {}, nonce);
    const submitted = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
    expect(submitted.status).toBe(202);
    const committed = await waitCommitted(h, submitted.body.hash as string);
    const res = await getJson(`${h.url}/v1/dids/${did}`);
    expect(res.status).toBe(410);
    expect(res.body.didDocumentMetadata).toMatchObject({
      deactivated: true,
      versionId: '2',
      updatedHeight: committed.height,
    });
    expect((res.body.didDocument as { id: string }).id).toBe(did);
    await expectProofVerifies(res.body.proof as RecordProofJson);
  });

  it('serves a registered app with its proof, and the validator set', async () => {
    const nonce = await nextNonce(h);
    const appId = deriveAppId(h.faucetAddress, nonce);
    const tx = signedTx(
      h.faucet,
      h.chainId,
      'app.register',
      {
        app_id: appId,
        name: 'Notes',
        logo_uri: 'https://notes.example/logo.png',
        redirect_uris: ['https://notes.example/cb'],
        scopes: ['profile:read'],
      },
      nonce,
    );
    const submitted = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
    expect(submitted.status).toBe(202);
    const committed = await waitCommitted(h, submitted.body.hash as string);
    const app = await getJson(`${h.url}/v1/apps/${appId}`);
    expect(app.status).toBe(200);
    expect(app.body).toMatchObject({
      app_id: appId,
      owner: h.faucetAddress,
      owner_did: `did:self:${h.faucetAddress}`,
      name: 'Notes',
      logo_uri: 'https://notes.example/logo.png',
      redirect_uris: ['https://notes.example/cb'],
      scopes: ['profile:read'],
      active: true,
      created_height: committed.height,
    });
    await expectProofVerifies(app.body.proof as RecordProofJson);
    const unknown = await getJson(`${h.url}/v1/apps/app_${'0'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('not_found');

    const v = await getJson(`${h.url}/v1/validators`);
    expect(v.status).toBe(200);
    const body = v.body as {
      committee: { members: string[]; quorum: number; height: number };
      validators: Array<Record<string, unknown>>;
    };
    const address = h.node.info().validator;
    expect(body.committee.members).toEqual([address]);
    expect(body.committee.quorum).toBe(1);
    expect(body.validators).toHaveLength(1);
    expect(body.validators[0]).toMatchObject({ address, active: true, in_committee: true, slashed: false });
  });

  it('pushes block and transaction events over the WebSocket', async () => {
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}/v1/ws`);
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    try {
      ws.send('not json');
      ws.send(JSON.stringify({ op: 'subscribe', channels: ['blocks', 'nope'] }));
      ws.send(JSON.stringify({ op: 'subscribe', channels: ['blocks', 'transactions', 'validators'] }));
      const subscribed = await waitFor('subscribed', async () => frames.find((f) => f.op === 'subscribed'));
      expect(subscribed.channels).toEqual(['blocks', 'transactions', 'validators']);
      // Both bad messages were answered with error frames, and the connection stayed open.
      expect(frames.filter((f) => f.op === 'error').map((f) => f.error)).toEqual([
        'invalid_request',
        'invalid_request',
      ]);
      expect(ws.readyState).toBe(1);
      const validators = await waitFor('validators snapshot', async () =>
        frames.find((f) => f.channel === 'validators'),
      );
      expect((validators.data as { validators: unknown[] }).validators).toHaveLength(1);

      const blockFrame = await waitFor('a block frame', async () =>
        frames.find((f) => f.channel === 'blocks'),
      );
      const data = blockFrame.data as {
        height: number;
        hash: string;
        header: { height: number };
        tx_count: number;
      };
      expect(data.header.height).toBe(data.height);
      const stored = await getJson(`${h.url}/v1/blocks/${data.height}`);
      expect(stored.body.hash).toBe(data.hash);

      const nonce = await nextNonce(h);
      const tx = signedTx(h.faucet, h.chainId, 'transfer', { to: h.faucetAddress, amount: 2 }, nonce);
      const submitted = await postJson(`${h.url}/v1/transactions`, { tx: tx.hex });
      const hash = submitted.body.hash as string;
      await waitFor('pending event', async () =>
        frames.find((f) => f.channel === 'transactions' && (f.data as { hash: string }).hash === hash),
      );
      const committed = await waitFor('committed event', async () =>
        frames.find(
          (f) =>
            f.channel === 'transactions' &&
            (f.data as { hash: string; status: string }).hash === hash &&
            (f.data as { status: string }).status === 'committed',
        ),
      );
      const lookup = await getJson(`${h.url}/v1/transactions/${hash}`);
      expect(committed.data).toMatchObject({
        height: lookup.body.height,
        index: lookup.body.index,
        block_hash: lookup.body.block_hash,
      });

      ws.send(JSON.stringify({ op: 'unsubscribe', channels: ['blocks', 'transactions', 'validators'] }));
      const unsubscribed = await waitFor('unsubscribed', async () =>
        frames.find((f) => f.op === 'unsubscribed'),
      );
      expect(unsubscribed.channels).toEqual([]);
    } finally {
      ws.close();
    }
  });

  it('answers a plain GET on /v1/ws with 426', async () => {
    const res = await getJson(`${h.url}/v1/ws`);
    expect(res.status).toBe(426);
    expect(res.body.error).toBe('upgrade_required');
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`${h.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const height = /^self_height (\d+)$/m.exec(text);
    expect(Number(height?.[1])).toBeGreaterThanOrEqual(1);
    expect(text).toContain('# HELP self_commit_latency_seconds');
    expect(text).toContain('self_process_cpu_user_seconds_total');
    // Not rate limited: no headers.
    expect(res.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('serves an OpenAPI 3 document listing every route', async () => {
    const res = await getJson(`${h.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = res.body as {
      openapi: string;
      info: { title: string };
      paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
    };
    expect(doc.openapi).toMatch(/^3\.0\.\d$/);
    expect(doc.info.title).toBe('SELF Chain node API');
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /health',
        'GET /metrics',
        'GET /openapi.json',
        'GET /v1/status',
        'GET /v1/blocks/latest',
        'GET /v1/blocks/{height}',
        'GET /v1/blocks/hash/{hash}',
        'POST /v1/transactions',
        'POST /v1/transactions/batch',
        'GET /v1/transactions/{hash}',
        'GET /v1/accounts/{address}',
        'GET /v1/dids/{did}',
        'GET /v1/validators',
        'GET /v1/apps/{id}',
        'GET /v1/ws',
      ].sort(),
    );
    const submit = doc.paths['/v1/transactions']!.post!;
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(['202', '4XX']));
    expect(submit.requestBody).toMatchObject({
      content: {
        'application/json': { schema: { type: 'object', required: ['tx'] } },
        'application/cbor': { schema: { type: 'string', format: 'binary' } },
      },
    });
    // Every operation documents its success and its error body.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path === '/openapi.json') continue;
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('4XX');
      }
    }
  });

  it('answers CORS preflights for local development origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${h.url}/v1/transactions`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
    const local = await preflight('http://localhost:5173');
    expect(local.status).toBe(204);
    expect(local.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(local.headers.get('access-control-allow-methods')).toContain('POST');
    const loopback = await preflight('http://127.0.0.1:8080');
    expect(loopback.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8080');
    const foreign = await preflight('https://evil.example');
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const simple = await fetch(`${h.url}/v1/status`, { headers: { origin: 'http://localhost:3000' } });
    expect(simple.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(simple.headers.get('access-control-expose-headers')).toContain('x-ratelimit-remaining');
  });
});
