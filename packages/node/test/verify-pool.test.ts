import { accountKeysFromPhrase, sha256, toHex, type AccountScheme, type SigningKey } from '@self/crypto';
import {
  Chain,
  ChainError,
  DEV_FAUCET_PHRASE,
  VerifiedCache,
  encodeSignedTransaction,
  makeDevGenesis,
  signTransaction,
  type Genesis,
  type Transaction,
} from '@self/chain';
import { afterEach, describe, expect, it } from 'vitest';
import { VerifyPool, VerifyPoolError, verifyInto, type VerifyResult } from '../src/verify/index.js';

const pools: VerifyPool[] = [];
const chains: Chain[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  for (const c of chains.splice(0)) c.close();
});

function pool(genesis: Genesis, threads = 2): VerifyPool {
  const p = VerifyPool.create({ genesis, threads });
  pools.push(p);
  return p;
}

function transfer(
  genesis: Genesis,
  key: SigningKey,
  nonce: number,
  over: Partial<Transaction<'transfer'>> = {},
): Uint8Array {
  const tx: Transaction<'transfer'> = {
    v: 1,
    chain_id: genesis.chain_id,
    kind: 'transfer',
    nonce,
    point_price: 1,
    body: { to: genesis.validators[0]!.address, amount: 5 },
    ...over,
  };
  return encodeSignedTransaction(signTransaction(tx, key));
}

/** Same transaction, one signature byte flipped: decodes fine, does not verify. */
function badSignature(genesis: Genesis, key: SigningKey, nonce: number): Uint8Array {
  const tx: Transaction<'transfer'> = {
    v: 1,
    chain_id: genesis.chain_id,
    kind: 'transfer',
    nonce,
    point_price: 1,
    body: { to: genesis.validators[0]!.address, amount: 5 },
  };
  const stx = signTransaction(tx, key);
  const sig = stx.sig.slice();
  sig[sig.length - 1]! ^= 0x01;
  return encodeSignedTransaction({ ...stx, sig });
}

/** What Chain.submitTransaction says about the bytes: null when accepted, else the code. */
function chainVerdict(chain: Chain, bytes: Uint8Array): string | null {
  try {
    chain.submitTransaction(bytes);
    return null;
  } catch (err) {
    if (err instanceof ChainError) return err.code;
    throw err;
  }
}

function setup(scheme: AccountScheme, signatureSchemes?: AccountScheme[]) {
  const { genesis } = makeDevGenesis({
    chainId: 'self-verify-test',
    validators: 1,
    scheme,
    ...(signatureSchemes ? { signatureSchemes } : {}),
  });
  const faucet = accountKeysFromPhrase(DEV_FAUCET_PHRASE, scheme).account;
  return { genesis, faucet };
}

describe.each<[string, AccountScheme]>([
  ['hybrid', 'hybrid-ed25519-ml-dsa-65'],
  ['ed25519', 'ed25519'],
])('VerifyPool (%s signatures)', (_name, scheme) => {
  it('judges a mixed batch item by item, in order, with the codes Chain.submitTransaction gives', async () => {
    const { genesis, faucet } = setup(scheme);
    const batch = [
      transfer(genesis, faucet, 1),
      badSignature(genesis, faucet, 2),
      transfer(genesis, faucet, 2, { chain_id: 'another-chain' }),
      // Not CBOR at all: a lone "break" byte, repeated (random bytes sometimes decode, non-canonically).
      new Uint8Array(300).fill(0xff),
      new Uint8Array(genesis.params.max_tx_bytes + 1),
      transfer(genesis, faucet, 2, { point_price: 0 }),
      new Uint8Array(0),
      transfer(genesis, faucet, 2),
    ];
    const results = await pool(genesis).verify(batch);
    expect(results.map((r) => (r.ok ? 'ok' : r.code))).toEqual([
      'ok',
      'bad_signature',
      'wrong_chain',
      'malformed',
      'oversized',
      'point_price_too_low',
      'malformed',
      'ok',
    ]);
    batch.forEach((bytes, i) => expect(results[i]!.digest).toBe(toHex(sha256(bytes))));

    const chain = Chain.open({ genesis, path: ':memory:' });
    chains.push(chain);
    batch.forEach((bytes, i) => {
      const r = results[i]!;
      expect(chainVerdict(chain, bytes)).toBe(r.ok ? null : r.code);
      if (!r.ok) expect(r.message.length).toBeGreaterThan(0);
    });
  });

  it('keeps order across many chunks and workers', async () => {
    const { genesis, faucet } = setup(scheme);
    // 200 transactions in chunks of 32 over 2 workers; every 7th is corrupted.
    const good = Array.from({ length: 25 }, (_, i) => transfer(genesis, faucet, i + 1));
    const bad = badSignature(genesis, faucet, 99);
    const batch = Array.from({ length: 200 }, (_, i) => (i % 7 === 3 ? bad : good[i % good.length]!));
    const p = VerifyPool.create({ genesis, threads: 2, maxChunk: 32 });
    pools.push(p);
    const [a, b] = await Promise.all([p.verify(batch), p.verify(batch.slice(0, 40))]);
    expect(a).toHaveLength(200);
    a.forEach((r, i) => {
      expect(r.ok).toBe(i % 7 !== 3);
      expect(r.digest).toBe(toHex(sha256(batch[i]!)));
    });
    expect(b).toEqual(a.slice(0, 40));
    expect(await p.verify([])).toEqual([]);
  });
});

describe('VerifyPool', () => {
  it('hands an urgent batch to the workers before the ordinary chunks queued ahead of it', async () => {
    const { genesis, faucet } = setup('ed25519');
    const p = VerifyPool.create({ genesis, threads: 1, maxChunk: 32 });
    pools.push(p);
    await p.ready();
    const ordinary = Array.from({ length: 320 }, (_, i) => transfer(genesis, faucet, i + 1));
    const urgent = Array.from({ length: 10 }, (_, i) => transfer(genesis, faucet, 1_000 + i));
    const order: string[] = [];
    const a = p.verify(ordinary).then((r) => {
      order.push('ordinary');
      return r;
    });
    const b = p.verify(urgent, { urgent: true }).then((r) => {
      order.push('urgent');
      return r;
    });
    // One ordinary chunk is with the worker; nine more and the urgent one wait.
    expect(p.queued).toBe(320 - 32 + 10);
    const [ra, rb] = await Promise.all([a, b]);
    expect(order).toEqual(['urgent', 'ordinary']);
    expect(ra.every((r) => r.ok)).toBe(true);
    expect(rb.map((r) => r.digest)).toEqual(urgent.map((t) => toHex(sha256(t))));
    expect(p.queued).toBe(0);
  });

  it('refuses a signature scheme the genesis does not allow', async () => {
    const { genesis } = setup('hybrid-ed25519-ml-dsa-65', ['hybrid-ed25519-ml-dsa-65']);
    const edKey = accountKeysFromPhrase(DEV_FAUCET_PHRASE, 'ed25519').account;
    const [r] = await pool(genesis, 1).verify([transfer(genesis, edKey, 1)]);
    expect(r).toMatchObject({ ok: false, code: 'scheme_not_allowed' });
  });

  it('verifyInto fills the VerifiedCache with the digests that passed, and the chain accepts them', async () => {
    const { genesis, faucet } = setup('ed25519');
    const good = [transfer(genesis, faucet, 1), transfer(genesis, faucet, 2)];
    const bad = badSignature(genesis, faucet, 3);
    const cache = new VerifiedCache();
    const results = await verifyInto(pool(genesis), cache, [good[0]!, bad, good[1]!]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    for (const bytes of good) expect(cache.has(toHex(sha256(bytes)))).toBe(true);
    expect(cache.has(toHex(sha256(bad)))).toBe(false);

    const chain = Chain.open({ genesis, path: ':memory:', verifiedCache: cache });
    chains.push(chain);
    for (const bytes of good) expect(chainVerdict(chain, bytes)).toBeNull();
    expect(chain.mempool.size).toBe(2);
  });

  it('close() terminates the workers and refuses further work', async () => {
    const { genesis, faucet } = setup('ed25519');
    const p = VerifyPool.create({ genesis, threads: 2 });
    await p.ready();
    const inFlight = p.verify(Array.from({ length: 100 }, () => transfer(genesis, faucet, 1)));
    const refused = expect(inFlight).rejects.toBeInstanceOf(VerifyPoolError);
    await p.close();
    await refused;
    await expect(p.verify([transfer(genesis, faucet, 1)])).rejects.toThrow('closed');
    await p.close();
  });

  it('replaces a worker that dies and rejects only the batch whose chunk it held', async () => {
    const { genesis } = setup('ed25519');
    // A stand-in worker speaking the pool's protocol: it dies on a chunk whose first byte is 0xff.
    const source = `
      import { parentPort } from 'node:worker_threads';
      import { createHash } from 'node:crypto';
      parentPort.on('message', ({ id, data, ends }) => {
        const all = new Uint8Array(data);
        if (all[0] === 0xff) process.exit(7);
        let start = 0, digests = '';
        for (const end of ends) { digests += createHash('sha256').update(all.subarray(start, end)).digest('hex'); start = end; }
        parentPort.postMessage({ type: 'result', id, digests, failures: [] });
      });
      parentPort.postMessage({ type: 'ready' });`;
    const workerUrl = new URL(`data:text/javascript,${encodeURIComponent(source)}`);
    const p = VerifyPool.create({ genesis, threads: 1, workerUrl });
    pools.push(p);
    const poison = p.verify([new Uint8Array([0xff, 1, 2])]);
    const after = p.verify([new Uint8Array([1, 2, 3])]);
    await expect(poison).rejects.toThrow(/worker stopped \(exit code 7\).*replaced/);
    const results: VerifyResult[] = await after;
    expect(results).toEqual([{ ok: true, digest: toHex(sha256(new Uint8Array([1, 2, 3]))) }]);
    expect(await p.verify([new Uint8Array([9])])).toHaveLength(1);
  });

  it('gives up with a clear error when workers cannot start', async () => {
    const { genesis } = setup('ed25519');
    const workerUrl = new URL(
      `data:text/javascript,${encodeURIComponent('throw new Error("no loader here")')}`,
    );
    const p = VerifyPool.create({ genesis, threads: 1, workerUrl });
    pools.push(p);
    await expect(p.verify([new Uint8Array([1])])).rejects.toThrow(/fail to start.*no loader here/);
    await expect(p.ready()).rejects.toBeInstanceOf(VerifyPoolError);
  });
});
