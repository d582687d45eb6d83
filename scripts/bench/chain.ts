/**
 * `npm run bench -- chain [--sig hybrid|ed25519] [--seconds 15] [--validators 4] [--accounts 1000]
 *   [--concurrency 8] [--batch 100] [--rate 0]`
 *
 * Starts a real testnet (`self testnet init` homes, one `self node` process per validator, libp2p
 * on loopback), loads it with signed transfers from many accounts through the HTTP API for a fixed
 * time (`POST /v1/transactions/batch` with `--batch` transactions per request, or the single
 * endpoint with `--batch 1`), paced to `--rate` tx/s when given, and reports throughput and finality. The verification ceiling is measured in the same run:
 * verify_bound_tps = single-core verify rate x cores / validators, since every validator verifies
 * every transaction once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { accountKeysFromSeed, addressFromPublicKey, sha512, utf8, type AccountScheme } from '@self/crypto';
import { encode, encodeSignedTransaction, signTransaction, type Transaction } from '@self/chain';
import { initTestnet, measureVerifyRate } from '@self/node';
import { NodeProcess, editConfig, waitForHeight } from '@self/node/testing';
import { median, round } from './lib/timing.js';

const BIN = fileURLToPath(new URL('../../packages/cli/bin/self.js', import.meta.url));

/** The slice of the `ws` client used here (the package ships without TypeScript types). */
interface WsClient {
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'open', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  send(data: string): void;
  close(): void;
}
const WebSocket = createRequire(import.meta.url)('ws') as new (url: string) => WsClient;

const { values: args } = parseArgs({
  options: {
    sig: { type: 'string', default: 'hybrid' },
    seconds: { type: 'string', default: '15' },
    validators: { type: 'string', default: '4' },
    accounts: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    batch: { type: 'string', default: '100' },
    rate: { type: 'string', default: '0' },
    'max-txs': { type: 'string', default: '40000' },
  },
});
if (args.sig !== 'hybrid' && args.sig !== 'ed25519') throw new Error('--sig must be hybrid or ed25519');
const scheme: AccountScheme = args.sig === 'ed25519' ? 'ed25519' : 'hybrid-ed25519-ml-dsa-65';
const seconds = Number(args.seconds);
const validators = Number(args.validators);
const accountCount = Number(args.accounts);
const concurrency = Number(args.concurrency);
const batchSize = Number(args.batch);
/** Offered load in tx/s, paced across the clients; 0: as fast as the nodes accept. */
const rate = Number(args.rate);
if (!Number.isFinite(rate) || rate < 0) throw new Error('--rate must be a number of tx/s (0: unpaced)');
if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000)
  throw new Error('--batch must be an integer from 1 to 1000');
const cores = availableParallelism();

// ---- 1. The verification ceiling, measured now on this machine
const single = await measureVerifyRate(scheme, 2, { threads: 1 });
const verifyBound = (single.perSecond * cores) / validators;
console.log(
  `verify (${args.sig}, 1 thread): ${round(single.perSecond)} tx/s; ${cores} cores / ${validators} validators -> bound ${round(verifyBound)} tx/s`,
);

// ---- 2. Load: accounts funded at genesis, transfers signed before the clock starts
const total = Math.min(Number(args['max-txs']), Math.ceil(verifyBound * 1.5 * seconds));
const perAccount = Math.ceil(total / accountCount);
if (perAccount > 64)
  throw new Error(`raise --accounts: ${perAccount} txs per account exceeds the mempool nonce gap`);
const keys = Array.from(
  { length: accountCount },
  (_, i) => accountKeysFromSeed(sha512(utf8(`bench-${i}`)), scheme).account,
);
const addresses = keys.map((k) => addressFromPublicKey(k.publicKey));
const dir = mkdtempSync(join(tmpdir(), 'self-bench-chain-'));
const infos = await initTestnet({
  validators,
  out: dir,
  chainId: 'self-bench-1',
  scheme,
  basePort: 0,
  accounts: addresses.map((address) => ({ address, balance: 1_000_000_000_000 })),
});
for (const info of infos)
  editConfig(info.home, (c) => {
    (c.api as Record<string, unknown>).rate_limit = {
      max: 1_000_000_000,
      window_ms: 1_000,
      allow: ['127.0.0.1'],
    };
    c.log_level = 'warn';
  });
const queues: Uint8Array[][] = infos.map(() => []);
const signStarted = performance.now();
for (let n = 0; n < perAccount; n++) {
  for (let a = 0; a < accountCount; a++) {
    const tx: Transaction<'transfer'> = {
      v: 1,
      chain_id: 'self-bench-1',
      kind: 'transfer',
      nonce: n + 1,
      point_price: 1 + ((a + n) % 20),
      body: { to: addresses[(a + 1) % accountCount]!, amount: 1 },
    };
    // An account always talks to the same node, so its nonces arrive in order.
    queues[a % validators]!.push(encodeSignedTransaction(signTransaction(tx, keys[a]!)));
  }
  process.stderr.write(`\rsigning ${accountCount * (n + 1)}/${accountCount * perAccount} transfers`);
}
process.stderr.write('\n');
console.log(
  `signed ${accountCount * perAccount} transfers in ${round((performance.now() - signStarted) / 1000)} s`,
);

// ---- 3. The network
const nodes = infos.map(
  (info) =>
    new NodeProcess(BIN, info.home, info.api_url, {
      logLevel: process.env.BENCH_NODE_LOGS ?? 'warn',
      // BENCH_PROFILE_DIR=DIR writes a V8 CPU profile of every node process there.
      ...(process.env.BENCH_PROFILE_DIR
        ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] }
        : {}),
    }),
);
const cleanup = async (): Promise<void> => {
  await Promise.all(nodes.map((n) => n.terminate()));
  rmSync(dir, { recursive: true, force: true });
};
try {
  await Promise.all(nodes.map((n) => n.start()));
  await waitForHeight(nodes, 2, 120_000);
  // The load generator shares the machine's cores with the nodes, so it stays lean: raw CBOR
  // bodies (no hex, no JSON), and commit times from node 0's WebSocket `transactions` channel
  // instead of fetching whole blocks.
  const submittedAt = new Map<string, number>();
  const finality: number[] = [];
  let committedInWindow = 0;
  let rejected = 0;
  const rejectedBy = new Map<string, number>();
  const heights = new Set<number>();
  let deadline = Infinity;
  const ws = new WebSocket(`${infos[0]!.api_url.replace('http', 'ws')}/v1/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as {
      channel?: string;
      data?: { status?: string; hash?: string; height?: number };
    };
    if (frame.channel !== 'transactions' || frame.data?.status !== 'committed') return;
    const sent = submittedAt.get(frame.data.hash ?? '');
    if (sent === undefined) return;
    const seenAt = performance.now();
    heights.add(frame.data.height ?? 0);
    finality.push(seenAt - sent);
    if (seenAt <= deadline) committedInWindow++;
  });
  ws.send(JSON.stringify({ op: 'subscribe', channels: ['transactions'] }));

  const t0 = performance.now();
  deadline = t0 + seconds * 1000;
  let shed = 0;
  let paced = 0;
  const reject = (code: string): void => {
    rejected++;
    rejectedBy.set(code, (rejectedBy.get(code) ?? 0) + 1);
  };
  const worker = async (w: number): Promise<void> => {
    const node = w % validators;
    const queue = queues[node]!;
    const base = `${infos[node]!.api_url}/v1/transactions`;
    // The node sheds load (503) while its verify workers are behind: back off, as a client should.
    const backOff = async (res: Response, items: Uint8Array[]): Promise<void> => {
      await res.arrayBuffer();
      queue.unshift(...items);
      shed++;
      await new Promise((r) => setTimeout(r, 50));
    };
    while (performance.now() < deadline) {
      const items = queue.splice(0, batchSize);
      if (items.length === 0) return;
      if (rate > 0) {
        const due = t0 + (paced / rate) * 1000;
        paced += items.length;
        if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      }
      const sentAt = performance.now();
      if (batchSize === 1) {
        const res = await fetch(base, {
          method: 'POST',
          headers: { 'content-type': 'application/cbor' },
          body: items[0]!,
        });
        if (res.status === 503) {
          await backOff(res, items);
          continue;
        }
        const body = (await res.json()) as { hash?: string; details?: { code?: string }; error?: string };
        if (res.status === 202 && body.hash) submittedAt.set(body.hash, sentAt);
        else reject(body.details?.code ?? body.error ?? String(res.status));
        continue;
      }
      const res = await fetch(`${base}/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor' },
        body: encode(items),
      });
      if (res.status === 503) {
        await backOff(res, items);
        continue;
      }
      const body = (await res.json()) as {
        results?: Array<{ hash?: string; code?: string }>;
        error?: string;
      };
      if (res.status !== 200 || !body.results) {
        for (let i = 0; i < items.length; i++) reject(body.error ?? String(res.status));
        continue;
      }
      for (const r of body.results) {
        if (r.hash) submittedAt.set(r.hash, sentAt);
        else reject(r.code ?? 'unknown');
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed = (Math.min(performance.now(), deadline) - t0) / 1000;
  // Let the last submissions commit, so their finality counts.
  await new Promise((r) => setTimeout(r, 3_000));
  ws.close();
  const blocks = heights.size;

  finality.sort((a, b) => a - b);
  const pct = (p: number): number =>
    finality[Math.min(finality.length - 1, Math.floor(p * finality.length))] ?? NaN;
  const tps = committedInWindow / elapsed;
  console.log(
    `${args.sig}: ${submittedAt.size} accepted, ${rejected} rejected, ${shed} requests shed (503), ${finality.length} committed in ${blocks} blocks`,
  );
  console.log(
    `tps ${round(tps)} (bound ${round(verifyBound)}, ${round(tps / verifyBound, 2)}x); finality p50 ${round(pct(0.5))} ms, p99 ${round(pct(0.99))} ms`,
  );
  if (rejectedBy.size) console.log(`rejections: ${JSON.stringify(Object.fromEntries(rejectedBy))}`);
  if (process.env.BENCH_NODE_LOGS) {
    for (const n of nodes) console.error(`--- ${n.home}\n${n.logs.slice(-4000)}`);
    const text = await nodes[0]!.metrics();
    console.error(
      text
        .split('\n')
        .filter((l) =>
          /^self_(round|height|rejected|mempool|peer_pen|signature|votes|transactions_received|gossip|nodejs_eventloop_lag_(p50|p99|max)|process_cpu_seconds)/.test(
            l,
          ),
        )
        .join('\n'),
    );
    console.error(JSON.stringify(await nodes[0]!.get('/v1/status')));
  }
  console.log(
    JSON.stringify({
      bench: 'chain',
      signature_scheme: args.sig,
      validators,
      concurrency,
      batch: batchSize,
      offered_rate: rate,
      cores,
      seconds: round(elapsed, 2),
      accounts: accountCount,
      submitted: submittedAt.size,
      rejected,
      shed_503: shed,
      committed: finality.length,
      blocks,
      avg_block_txs: blocks ? round(finality.length / blocks) : 0,
      tps: round(tps),
      p50_finality_ms: round(pct(0.5)),
      p99_finality_ms: round(pct(0.99)),
      median_finality_ms: round(median(finality)),
      verify_single_core_per_s: round(single.perSecond),
      verify_bound_tps: round(verifyBound),
      tps_over_bound: round(tps / verifyBound, 3),
    }),
  );
} finally {
  await cleanup();
}
