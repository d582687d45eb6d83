import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { accountKeysFromPhrase, fromHex, newRecoveryPhrase, toHex } from '@self/crypto';
import {
  DEV_FAUCET_PHRASE,
  decodeSignedTransaction,
  encodeSignedTransaction,
  senderOf,
  signTransaction,
  txHash,
  verifyTransactionSignature,
  type SignedTransaction,
  type Transaction,
} from '@self/chain';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/self.js', import.meta.url));
const CHAIN_ID = 'self-cli-test-1';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a real process; asynchronously, so the stand-in node in this process can answer. */
function self(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, SELF_NODE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// ---- a stand-in node: the API's shapes over an in-memory ledger ----------------------------------

let server: FastifyInstance;
let node: string;
const accounts = new Map<string, { balance: number; nonce: number }>();
const posted: Uint8Array[] = [];
const polls = new Map<string, number>();

beforeAll(async () => {
  server = Fastify();
  server.get('/v1/status', async () => ({
    chain_id: CHAIN_ID,
    latest_block: { height: 11, hash: 'ab'.repeat(32), timestamp: Date.UTC(2026, 0, 2, 3, 4, 5) },
    node_info: {
      version: '0.1.0',
      peer_id: '12D3KooWcli',
      peer_count: 3,
      syncing: false,
      moniker: 'node7',
      validator: null,
      listen_addrs: [],
    },
    consensus: { height: 12, round: 0, step: 'propose' },
    mempool: { size: posted.length, bytes: 0 },
  }));
  server.get<{ Params: { address: string } }>('/v1/accounts/:address', async (req) => {
    const a = accounts.get(req.params.address);
    return {
      address: req.params.address,
      exists: a !== undefined,
      balance: a?.balance ?? 0,
      nonce: a?.nonce ?? 0,
    };
  });
  server.post('/v1/transactions', async (req, reply) => {
    const bytes = fromHex((req.body as { tx: string }).tx);
    const stx = decodeSignedTransaction(bytes);
    const balance = accounts.get(senderOf(stx))?.balance ?? 0;
    if (stx.tx.kind === 'transfer' && (stx.tx as Transaction<'transfer'>).body.amount > balance)
      return reply.code(422).send({
        error: 'transaction_rejected',
        message: 'balance 0 is below amount + fee',
        details: { code: 'insufficient_funds' },
      });
    posted.push(bytes);
    return reply.code(202).send({ hash: toHex(txHash(stx)) });
  });
  server.get<{ Params: { hash: string } }>('/v1/transactions/:hash', async (req) => {
    const n = (polls.get(req.params.hash) ?? 0) + 1;
    polls.set(req.params.hash, n);
    if (n < 2) return { hash: req.params.hash, status: 'pending', tx: {} };
    return {
      hash: req.params.hash,
      status: 'committed',
      height: 12,
      index: 0,
      block_hash: 'cd'.repeat(32),
      tx: {},
    };
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  node = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await server.close();
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmpFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'self-tx-test-'));
  dirs.push(dir);
  const file = join(dir, name);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

beforeEach(() => {
  posted.length = 0;
});

const RECIPIENT = accountKeysFromPhrase(newRecoveryPhrase(), 'ed25519').address;

function lastPosted(): SignedTransaction<'transfer'> {
  expect(posted).toHaveLength(1);
  return decodeSignedTransaction(posted[0]!) as SignedTransaction<'transfer'>;
}

// ---- tests -----------------------------------------------------------------------------------------

describe('self status', () => {
  it('prints the chain, latest block, peers and sync state, or the raw status with --json', async () => {
    const plain = await self(['status', '--node', node]);
    expect(plain.stderr).toBe('');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toMatch(/chain\s+self-cli-test-1/);
    expect(plain.stdout).toMatch(/height\s+11/);
    expect(plain.stdout).toContain('ab'.repeat(32));
    expect(plain.stdout).toContain('2026-01-02T03:04:05.000Z');
    expect(plain.stdout).toMatch(/peers\s+3/);
    expect(plain.stdout).toMatch(/syncing\s+no/);

    // SELF_NODE is the default node.
    const json = await self(['--json', 'status'], { SELF_NODE: node });
    expect(json.status).toBe(0);
    const status = JSON.parse(json.stdout) as { chain_id: string; latest_block: { height: number } };
    expect(status.chain_id).toBe(CHAIN_ID);
    expect(status.latest_block.height).toBe(11);
  });

  it('names the node it cannot reach, with a hint, and refuses a bad URL', async () => {
    const closed = Fastify();
    await closed.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(closed.server.address() as AddressInfo).port}`;
    await closed.close();
    const r = await self(['status', '--node', url]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`self: cannot reach the SELF node at ${url}: connection refused`);
    expect(r.stderr).toContain('(unreachable)');
    expect(r.stderr).toContain('hint:');

    const bad = await self(['status', '--node', 'localhost:8080']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--node must be an http:// or https:// URL');
  });
});

describe('self tx', () => {
  it('--help describes the commands and their options', async () => {
    const [tx, transfer, status] = await Promise.all([
      self(['tx', '--help']),
      self(['tx', 'transfer', '--help']),
      self(['status', '--help']),
    ]);
    expect(tx.status).toBe(0);
    for (const sub of ['transfer', 'faucet', 'send']) expect(tx.stdout).toContain(sub);
    expect(transfer.status).toBe(0);
    for (const opt of ['--to', '--amount', '--key', '--phrase-env', '--price', '--nonce', '--node', '--wait'])
      expect(transfer.stdout).toContain(opt);
    expect(status.status).toBe(0);
    expect(status.stdout).toContain('--node');
  });

  it('refuses bad input with exit code 2 before contacting a node', async () => {
    const key = tmpFile('key.phrase', `${newRecoveryPhrase()}\n`);
    const runs = await Promise.all([
      self(['tx', 'transfer', '--to', 'self1notanaddress', '--amount', '5', '--key', key]),
      self(['tx', 'transfer', '--to', RECIPIENT, '--amount', '1.5', '--key', key]),
      self(['tx', 'transfer', '--to', RECIPIENT, '--amount=-3', '--key', key]),
      self(['tx', 'transfer', '--to', RECIPIENT, '--amount', '5']),
      self([
        'tx',
        'transfer',
        '--to',
        RECIPIENT,
        '--amount',
        '5',
        '--key',
        tmpFile('bad.phrase', 'not a phrase'),
      ]),
    ]);
    for (const r of runs) expect(r.status).toBe(2);
    expect(runs[0]!.stderr).toContain('self: --to is not a SELF address');
    expect(runs[1]!.stderr).toContain('--amount must be a whole number');
    expect(runs[2]!.stderr).toContain('--amount must be a whole number');
    expect(runs[3]!.stderr).toContain('--key <file> or --phrase-env <var>');
    expect(runs[4]!.stderr).toContain('does not hold a valid 24-word recovery phrase');
    expect(posted).toHaveLength(0);
  });

  it('transfer signs with the key file and the next nonce, and prints the hash', async () => {
    const phrase = newRecoveryPhrase();
    const sender = accountKeysFromPhrase(phrase, 'ed25519');
    accounts.set(sender.address, { balance: 1_000, nonce: 4 });
    const key = tmpFile('sender.phrase', `${phrase}\n`);
    const r = await self([
      'tx',
      'transfer',
      '--to',
      RECIPIENT,
      '--amount',
      '250',
      '--key',
      key,
      '--node',
      node,
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const stx = lastPosted();
    // --scheme auto found the ed25519 account on chain.
    expect(senderOf(stx)).toBe(sender.address);
    expect(stx.tx).toEqual({
      v: 1,
      chain_id: CHAIN_ID,
      kind: 'transfer',
      nonce: 5,
      point_price: 1,
      body: { to: RECIPIENT, amount: 250 },
    });
    expect(verifyTransactionSignature(stx)).toBe(true);
    expect(r.stdout.trim()).toBe(toHex(txHash(stx)));
  });

  it('transfer --wait --json with a hybrid key from $VAR reports the commit height', async () => {
    const phrase = newRecoveryPhrase();
    const sender = accountKeysFromPhrase(phrase);
    accounts.set(sender.address, { balance: 1_000, nonce: 0 });
    const r = await self(
      [
        '--json',
        'tx',
        'transfer',
        '--to',
        RECIPIENT,
        '--amount',
        '7',
        '--price',
        '3',
        '--nonce',
        '9',
        '--phrase-env',
        'SENDER_PHRASE',
        '--node',
        node,
        '--wait',
      ],
      { SENDER_PHRASE: phrase },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const stx = lastPosted();
    expect(senderOf(stx)).toBe(sender.address);
    expect(toHex(stx.signer)).toBe(toHex(sender.account.publicKey));
    expect(stx.tx).toMatchObject({ nonce: 9, point_price: 3, body: { to: RECIPIENT, amount: 7 } });
    expect(verifyTransactionSignature(stx)).toBe(true);
    expect(JSON.parse(r.stdout)).toMatchObject({
      hash: toHex(txHash(stx)),
      status: 'committed',
      height: 12,
      from: sender.address,
      to: RECIPIENT,
      amount: 7,
    });
  });

  it("shows the node's rejection with its code and a hint", async () => {
    const phrase = newRecoveryPhrase();
    const r = await self([
      'tx',
      'transfer',
      '--to',
      RECIPIENT,
      '--amount',
      '5',
      '--key',
      tmpFile('p', phrase),
      '--node',
      node,
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('self: balance 0 is below amount + fee (insufficient_funds)');
    expect(r.stderr).toContain('hint: ');
    expect(r.stderr).toContain('self tx faucet');
  });

  it('faucet sends test tokens from the public faucet key, whichever scheme the chain funded', async () => {
    const none = await self(['tx', 'faucet', '--to', RECIPIENT, '--node', node]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('no funded faucet');

    const faucet = accountKeysFromPhrase(DEV_FAUCET_PHRASE, 'ed25519');
    accounts.set(faucet.address, { balance: 10_000_000, nonce: 41 });
    const r = await self(['tx', 'faucet', '--to', RECIPIENT, '--node', node]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const stx = lastPosted();
    expect(senderOf(stx)).toBe(faucet.address);
    expect(stx.tx).toMatchObject({
      chain_id: CHAIN_ID,
      nonce: 42,
      body: { to: RECIPIENT, amount: 1_000_000 },
    });
    expect(verifyTransactionSignature(stx)).toBe(true);
    expect(r.stdout.trim()).toBe(toHex(txHash(stx)));
  });

  it('send submits pre-signed bytes unchanged, and refuses what is not a transaction', async () => {
    const key = accountKeysFromPhrase(newRecoveryPhrase(), 'ed25519');
    accounts.set(key.address, { balance: 100, nonce: 0 });
    const tx: Transaction<'transfer'> = {
      v: 1,
      chain_id: CHAIN_ID,
      kind: 'transfer',
      nonce: 1,
      point_price: 2,
      body: { to: RECIPIENT, amount: 3 },
    };
    const bytes = encodeSignedTransaction(signTransaction(tx, key.account));
    const r = await self(['tx', 'send', '--file', tmpFile('tx.hex', `${toHex(bytes)}\n`), '--node', node]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(posted.map(toHex)).toEqual([toHex(bytes)]);

    const bad = await self(['tx', 'send', '--file', tmpFile('bad.hex', 'abcd\n'), '--node', node]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('is not a signed SELF transaction');
  });
});
