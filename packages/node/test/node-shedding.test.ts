import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountKeysFromPhrase, accountKeysFromSeed, sha512, utf8 } from '@self/crypto';
import {
  ChainError,
  DEV_FAUCET_PHRASE,
  encodeSignedTransaction,
  makeDevGenesis,
  signTransaction,
  type Transaction,
} from '@self/chain';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../src/client/index.js';
import { SelfNode, generatePeerKey, parseNodeConfig } from '../src/index.js';

/**
 * A real single-validator SelfNode (libp2p, worker-thread verification, HTTP API on 127.0.0.1)
 * whose shedding threshold is tiny: a batch that fills the verify queue makes the next
 * submissions fail with `unavailable` (the API's 503 + Retry-After), and nothing of them is
 * stored; once the queue drains, they are accepted.
 */
describe('SelfNode sheds load while its verify workers are behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'self-shed-'));
  const { genesis, validatorKeys } = makeDevGenesis({
    chainId: 'self-shed-1',
    validators: 1,
    scheme: 'ed25519',
  });
  const faucet = accountKeysFromPhrase(DEV_FAUCET_PHRASE, 'ed25519').account;
  let node: SelfNode;
  let client: NodeClient;

  // An unfunded sender: its transactions verify (the queue fills) and are then refused.
  const stranger = accountKeysFromSeed(sha512(utf8('shed-stranger')), 'ed25519').account;
  const transfer = (nonce: number, key = faucet): Uint8Array => {
    const tx: Transaction<'transfer'> = {
      v: 1,
      chain_id: genesis.chain_id,
      kind: 'transfer',
      nonce,
      point_price: 1,
      body: { to: genesis.validators[0]!.address, amount: 1 },
    };
    return encodeSignedTransaction(signTransaction(tx, key));
  };

  beforeAll(async () => {
    node = await SelfNode.start({
      config: parseNodeConfig({
        moniker: 'shed',
        p2p: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        api: { host: '127.0.0.1', port: 0, rate_limit: { max: 1_000_000, window_ms: 1_000 } },
        verify_threads: 1,
        log_level: 'silent',
      }),
      genesis,
      validatorKey: validatorKeys[0]!,
      peerKey: generatePeerKey(),
      chainDbPath: join(dir, 'chain.sqlite'),
      logger: pino({ level: 'silent' }),
      shedQueuedPerThread: 64,
    });
    client = new NodeClient(node.apiUrl()!);
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses new transactions with `unavailable` (HTTP 503) while the queue is deep, storing none of them', async () => {
    // Four chunks for the one worker: one in flight, 744 transactions queued (far above 64) until
    // three are done. Called in-process, the queue is filled before the next line runs.
    const big = Array.from({ length: 1_000 }, (_, i) => transfer(i + 1, stranger));
    const first = node.submitTransactions(big);
    const next = transfer(1);
    const shed = await node.submitTransaction(next).catch((err: unknown) => err);
    expect(shed).toBeInstanceOf(ChainError);
    expect((shed as ChainError).code).toBe('unavailable');
    expect((shed as ChainError).message).toMatch(/overloaded/);
    expect((shed as ChainError).details?.queued).toBeGreaterThanOrEqual(64);
    const batchShed = await node.submitTransactions([next]).catch((err: unknown) => err);
    expect((batchShed as ChainError).code).toBe('unavailable');
    const judged = await first;
    expect(judged).toHaveLength(1_000);
    expect(judged.every((o) => !o.ok)).toBe(true);
    // Drained: the same transaction is now accepted through the API, so it was not stored when shed.
    const again = await client.submitTransaction(next);
    expect(again.hash).toMatch(/^[0-9a-f]{64}$/);
  }, 60_000);
});
