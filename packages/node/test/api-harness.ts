import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressFromPublicKey, toHex, type SigningKey } from '@self/crypto';
import {
  ChainError,
  LocalTestnet,
  encodeSignedTransaction,
  makeDevGenesis,
  signTransaction,
  type Chain,
  type ChainParams,
  type Transaction,
  type TxBodies,
  type TxKind,
} from '@self/chain';
import type { FastifyInstance } from 'fastify';
import { createApiServer, type ApiServerOptions } from '../src/api/index.js';
import { NodeMetrics } from '../src/metrics.js';
import type { ApiNode, NodeEvent, NodeInfo, SubmitOutcome } from '../src/node-api.js';

/**
 * A real chain for API tests: a one-validator LocalTestnet (Ed25519 keys, SQLite files in a tmp
 * dir) that commits blocks continuously, an ApiNode over validator 0, and the API server listening
 * on 127.0.0.1. Transactions go through the testnet like the real node's mempool path.
 */
export interface Harness {
  url: string;
  server: FastifyInstance;
  node: ApiNode;
  chain: Chain;
  faucet: SigningKey;
  faucetAddress: string;
  chainId: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Genesis parameters over the dev defaults (e.g. a small max_block_bytes for body-limit tests). */
  params?: Partial<ChainParams>;
}

export async function startHarness(
  opts: ApiServerOptions = {},
  harness: HarnessOptions = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'self-api-'));
  const { genesis, validatorKeys, faucetKey } = makeDevGenesis({
    chainId: 'self-api-test',
    validators: 1,
    scheme: 'ed25519',
    genesisTime: Date.now() - 1000,
    ...(harness.params ? { params: harness.params } : {}),
  });
  const listeners = new Set<(event: NodeEvent) => void>();
  const emit = (event: NodeEvent): void => {
    for (const l of listeners) l(event);
  };
  const metrics = new NodeMetrics();
  const testnet = new LocalTestnet({
    genesis,
    validatorKeys,
    dataDir: dir,
    onCommit: ({ node, height, round, hash, block }) => {
      if (node !== 0) return;
      metrics.setHeight(height);
      emit({ type: 'block', height, round, hash, block });
    },
  });
  testnet.start();
  const validator = testnet.validators[0]!;
  const info: NodeInfo = {
    version: '0.1.0',
    peerId: '12D3KooWTestPeer',
    moniker: 'api-test',
    listenAddrs: [],
    validator: validator.address,
  };
  const node: ApiNode = {
    chain: validator.chain,
    metrics,
    info: () => info,
    peerCount: () => 0,
    syncing: () => false,
    consensus: () => {
      const s = validator.engine.status;
      return { height: s.height, round: s.round, step: s.step };
    },
    submitTransaction: async (bytes) => {
      const hash = testnet.submit(bytes, 0);
      emit({ type: 'tx', hash });
      return { hash };
    },
    // No verification pool here: each item goes the single path, its ChainError kept as its outcome.
    submitTransactions: async (batch) =>
      batch.map((bytes): SubmitOutcome => {
        try {
          const hash = testnet.submit(bytes, 0);
          emit({ type: 'tx', hash });
          return { ok: true, hash };
        } catch (err) {
          if (err instanceof ChainError) return { ok: false, error: err };
          throw err;
        }
      }),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const server = createApiServer(node, opts);
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    node,
    chain: validator.chain,
    faucet: faucetKey!,
    faucetAddress: addressFromPublicKey(faucetKey!.publicKey),
    chainId: genesis.chain_id,
    close: async () => {
      await server.close();
      testnet.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Hex of a signed transaction of `kind` from `key`. */
export function signedTx<K extends TxKind>(
  key: SigningKey,
  chainId: string,
  kind: K,
  body: TxBodies[K],
  nonce: number,
  pointPrice = 1,
): { bytes: Uint8Array; hex: string } {
  const tx: Transaction<K> = { v: 1, chain_id: chainId, kind, nonce, point_price: pointPrice, body };
  const bytes = encodeSignedTransaction(signTransaction(tx, key));
  return { bytes, hex: toHex(bytes) };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function getJson(url: string, init?: RequestInit): Promise<JsonResponse> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    throw new Error(`${url}: not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, body };
}

export const postJson = (url: string, body: unknown): Promise<JsonResponse> =>
  getJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** Polls until `check` returns a value; fails after `timeoutMs` (the chain commits every ~0.5 s). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the transaction is committed and returns its lookup body. */
export function waitCommitted(h: Harness, hash: string): Promise<Record<string, unknown>> {
  return waitFor(`transaction ${hash} to commit`, async () => {
    const res = await getJson(`${h.url}/v1/transactions/${hash}`);
    return res.status === 200 && res.body.status === 'committed' ? res.body : undefined;
  });
}

/** The faucet's next nonce, read through the API. */
export async function nextNonce(h: Harness, address = h.faucetAddress): Promise<number> {
  const res = await getJson(`${h.url}/v1/accounts/${address}`);
  return (res.body.nonce as number) + 1;
}

/** Another API server over `node` with other options, listening on 127.0.0.1; kept in `servers` to close. */
export async function extraServer(
  node: ApiNode,
  opts: ApiServerOptions,
  servers: FastifyInstance[],
): Promise<string> {
  const server = createApiServer(node, opts);
  servers.push(server);
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}
