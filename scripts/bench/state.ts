/**
 * `npm run bench -- state`: the state machine's throughput on this machine.
 *
 * - transactions applied per second (applyTransaction of signed transfers over a StateOverlay on a
 *   10k-account StateTree), and verified + applied per second (checkStateless first) for Ed25519 and
 *   hybrid Ed25519 + ML-DSA-65 senders;
 * - state-root time per 1,000-transfer block on trees of 10k and 100k accounts;
 * - a whole 1,000-transfer block through the real Chain: build on one node, check on another;
 * - Merkle proofs generated and verified per second on the 100k-account tree.
 *
 * Baselines measured in the same run (raw signature verification, one SHA-256 of a tree node) come
 * with ratios, which move much less than absolute figures on a shared machine. Transactions are
 * signed during setup; each figure is the best of a few time slices or repetitions (lib/timing.ts).
 * Prints human lines, then one last line of JSON.
 */
import { hash as oneShotHash, randomBytes } from 'node:crypto';
import { addressFromPublicKey, mldsaBackend, verifySignature } from '@self/crypto';
import { Chain } from '../../packages/chain/src/chain.js';
import { newAccount, putAccount } from '../../packages/chain/src/accounts.js';
import { StateTree, verifyStateProof, type StateProof } from '../../packages/chain/src/merkle.js';
import type { Genesis } from '../../packages/chain/src/params.js';
import { StateOverlay } from '../../packages/chain/src/state-view.js';
import { StateKey } from '../../packages/chain/src/state-types.js';
import {
  applyTransaction,
  checkStateless,
  type StatelessContext,
} from '../../packages/chain/src/tx/index.js';
import {
  BENCH_BALANCE,
  BENCH_CHAIN_ID,
  benchGenesis,
  benchKeys,
  fillerAddress,
  genesisTree,
  signedTransfer,
  type BenchScheme,
  type PreparedTx,
} from './lib/chain-fixture.js';
import {
  SLICES,
  SLICE_MS,
  best,
  bestRates,
  median,
  round,
  timeRuns,
  timeRunsInterleaved,
  timed,
} from './lib/timing.js';

const BLOCK_TXS = 1_000;
const SMALL_TREE = 10_000;
const LARGE_TREE = 100_000;
/** Hybrid keys and signatures are slow to make: fewer senders, several nonces each. */
const HYBRID_SENDERS = 250;
const HYBRID_NONCES = BLOCK_TXS / HYBRID_SENDERS;
const HEIGHT = 1;
/** Checks of a block whose transactions the checker's mempool already verified. */
const SEEN_RUNS = 2;

const started = performance.now();
const out: Record<string, number | string> = {};

function line(label: string, value: number, unit: string): void {
  console.log(`${label.padEnd(58)} ${round(value).toLocaleString('en-US').padStart(10)} ${unit}`);
}

// ---- Setup (untimed): keys, signed transfers, genesis and trees ---------------------------------

const keys = {
  ed: benchKeys('ed25519', BLOCK_TXS),
  hybrid: benchKeys('hybrid-ed25519-ml-dsa-65', HYBRID_SENDERS),
};
const edTxs = keys.ed.map((k, i) => signedTransfer(k, 1, fillerAddress((i * 7) % 8_000)));
const hybridTxs: PreparedTx[] = [];
for (let nonce = 1; nonce <= HYBRID_NONCES; nonce++) {
  keys.hybrid.forEach((k, i) =>
    hybridTxs.push(signedTransfer(k, nonce, fillerAddress((i * 13 + nonce) % 8_000))),
  );
}
const senders = [...keys.ed, ...keys.hybrid].map((k) => addressFromPublicKey(k.publicKey));
const genesis: Genesis = benchGenesis(senders, SMALL_TREE);
const tree10k = genesisTree(genesis);
// The large tree: the same genesis state plus ~90k more funded accounts (fillers from index 10k on,
// which the genesis never reaches).
const EXTRA = LARGE_TREE - tree10k.size();
const extra = new StateOverlay(tree10k);
for (let i = 0; i < EXTRA; i++)
  putAccount(extra, { ...newAccount(fillerAddress(SMALL_TREE + i)), balance: BENCH_BALANCE });
const tree100k = tree10k.withChanges(extra.changes());
const setupMs = performance.now() - started;
console.log(
  `setup: ${keys.ed.length} Ed25519 + ${keys.hybrid.length} hybrid senders, ${edTxs.length + hybridTxs.length} signed transfers, ` +
    `trees of ${tree10k.size()} and ${tree100k.size()} records in ${round(setupMs / 1000)} s (ML-DSA backend: ${mldsaBackend})`,
);
out.ml_dsa_backend = mldsaBackend;
out.setup_s = round(setupMs / 1000);

const params = genesis.params;
const statelessCtx: StatelessContext = {
  chainId: BENCH_CHAIN_ID,
  params,
  schemes: genesis.signature_schemes,
};
const txCtx = (hash: Uint8Array) => ({ height: HEIGHT, txHash: hash, params, chainId: BENCH_CHAIN_ID });

// ---- Baselines (raw signature verification, one tree-node hash), apply and verify+apply ---------

/** A step function that walks `items` round and round. */
function cycle<T>(items: readonly T[], fn: (item: T) => unknown): () => unknown {
  let i = 0;
  return () => fn(items[i++ % items.length]!);
}

const verifyRaw = (p: PreparedTx): boolean => verifySignature(p.stx.signer, p.hash, p.stx.sig);
const node64 = randomBytes(64 + 26);

/**
 * One step applies the next transaction of `txs` to an overlay on `tree`; after the last one a fresh
 * overlay starts (the nonces begin again), so a step is always one whole, successful apply.
 */
function applySteps(tree: StateTree, txs: readonly PreparedTx[], verify: boolean): () => unknown {
  let overlay = new StateOverlay(tree);
  let i = 0;
  return () => {
    if (i === txs.length) {
      overlay = new StateOverlay(tree);
      i = 0;
    }
    const p = txs[i++]!;
    const hash = verify ? checkStateless(p.stx, statelessCtx).hash : p.hash;
    return applyTransaction(overlay, p.stx, txCtx(hash));
  };
}

// Baselines and figures share one interleaved series of slices, so their ratios hold up under noise.
const rates = bestRates({
  edVerify: { step: cycle(edTxs, verifyRaw) },
  hybridVerify: { step: cycle(hybridTxs, verifyRaw) },
  sha256: { step: () => oneShotHash('sha256', node64, 'binary') },
  apply: { step: applySteps(tree10k, edTxs, false), warmup: BLOCK_TXS },
  applyHybrid: { step: applySteps(tree10k, hybridTxs, false), warmup: BLOCK_TXS },
  verifyApplyEd: { step: applySteps(tree10k, edTxs, true), warmup: BLOCK_TXS },
  verifyApplyHybrid: { step: applySteps(tree10k, hybridTxs, true), warmup: 50 },
});
const sha256PerS = rates.sha256;
line('baseline: Ed25519 verify (verifySignature)', rates.edVerify, 'ops/s');
line('baseline: hybrid Ed25519+ML-DSA-65 verify (verifySignature)', rates.hybridVerify, 'ops/s');
line('baseline: SHA-256 of one tree node (90 bytes)', rates.sha256, 'ops/s');
line(`apply: Ed25519 senders, ${SMALL_TREE / 1000}k accounts`, rates.apply, 'tx/s');
line(`apply: hybrid senders (1,985-byte key stored on first tx)`, rates.applyHybrid, 'tx/s');
line('verify+apply (checkStateless + applyTransaction): Ed25519', rates.verifyApplyEd, 'tx/s');
line('verify+apply (checkStateless + applyTransaction): hybrid', rates.verifyApplyHybrid, 'tx/s');
out.baseline_ed25519_verify_per_s = Math.round(rates.edVerify);
out.baseline_hybrid_verify_per_s = Math.round(rates.hybridVerify);
out.baseline_sha256_node_per_s = Math.round(rates.sha256);
out.apply_tx_per_s = Math.round(rates.apply);
out.apply_tx_per_s_hybrid_senders = Math.round(rates.applyHybrid);
out.verify_apply_tx_per_s_ed25519 = Math.round(rates.verifyApplyEd);
out.verify_apply_tx_per_s_hybrid = Math.round(rates.verifyApplyHybrid);
// Share of the raw-verify ceiling that survives decoding checks, hashing and the apply itself.
out.verify_apply_over_raw_verify_ed25519 = round(rates.verifyApplyEd / rates.edVerify, 2);
out.verify_apply_over_raw_verify_hybrid = round(rates.verifyApplyHybrid / rates.hybridVerify, 2);
out.apply_over_ed25519_verify = round(rates.apply / rates.edVerify, 2);

// ---- State root per block of 1,000 transfers ----------------------------------------------------

function appliedOverlay(tree: StateTree, txs: readonly PreparedTx[]): StateOverlay {
  const overlay = new StateOverlay(tree);
  for (const p of txs) applyTransaction(overlay, p.stx, txCtx(p.hash));
  return overlay;
}

const ROOT_RUNS = Math.max(SLICES, 5);
const trees = { '10k': tree10k, '100k': tree100k } as const;
const blockChanges = {
  '10k': appliedOverlay(tree10k, edTxs).changes(),
  '100k': appliedOverlay(tree100k, edTxs).changes(),
};
const rootOf = (label: keyof typeof trees) => (): Uint8Array => {
  const root = trees[label].withChanges(blockChanges[label]).root();
  if (root.length !== 32) throw new Error('state root missing');
  return root;
};
const rootTimes = timeRunsInterleaved({ '10k': rootOf('10k'), '100k': rootOf('100k') }, ROOT_RUNS);
for (const label of ['10k', '100k'] as const) {
  const times = rootTimes[label];
  line(
    `state root, ${BLOCK_TXS} transfers (${blockChanges[label].size} keys) on ${label} accounts: best`,
    best(times),
    `ms (median ${round(median(times))})`,
  );
  out[`state_root_ms_per_1000_tx_${label}_accounts`] = round(best(times), 2);
  out[`state_root_median_ms_per_1000_tx_${label}_accounts`] = round(median(times), 2);
}
out.state_root_keys_changed_per_1000_tx = blockChanges['10k'].size;
out.state_root_100k_over_10k = round(best(rootTimes['100k']) / best(rootTimes['10k']), 2);
// The root's cost in units of one node hash: independent of the machine's speed, to first order.
out.state_root_100k_in_node_hashes = Math.round(
  ((out.state_root_ms_per_1000_tx_100k_accounts as number) / 1000) * sha256PerS,
);

// ---- A whole block through the real Chain: build on one node, check on another ----------------

function chainBlock(scheme: BenchScheme, txs: readonly PreparedTx[]): void {
  const open = timed(() => Chain.open({ genesis, path: ':memory:' }));
  const builder = open.value;
  const submit = timed(() => {
    for (const p of txs) builder.submitTransaction(p.bytes);
  });
  const proposer = genesis.validators[0]!.address;
  const blocks: ReturnType<Chain['buildBlock']>[] = [];
  const buildTimes = timeRuns(
    () => {
      // Each build executes every transaction: no replay from the previous build's executions.
      builder.execMemo.clear();
      blocks.push(
        builder.buildBlock({
          proposer,
          round: 0,
          timestamp: genesis.genesis_time + 1_000 + blocks.length,
          lastCommit: null,
        }),
      );
    },
    SLICES,
    1,
  );
  const { block } = blocks[blocks.length - 1]!;
  if (block.txs.length !== txs.length)
    throw new Error(`built ${block.txs.length} of ${txs.length} transactions`);
  // Another proposal at the same height with the same transactions, as validators get from each
  // builder (the bench genesis has one validator: the same proposer, a later round and timestamp).
  const other = builder.buildBlock({
    proposer,
    round: 1,
    timestamp: block.header.timestamp + 1,
    lastCommit: null,
  }).block;
  builder.close();
  // A fresh checker each time: a Chain caches verified signatures and checked blocks.
  const checkTimes: number[] = [];
  for (let r = 0; r < SLICES; r++) {
    const checker = Chain.open({ genesis, path: ':memory:' });
    const check = timed(() => checker.checkBlock(block, block.header.timestamp));
    if (!check.value.ok) throw check.value.error;
    checkTimes.push(check.ms);
    checker.close();
  }
  // The usual case: the transactions reached the checker's mempool (and were verified) first.
  // Then the next builder's block, whose transactions replay from the first check's executions.
  const seenTimes: number[] = [];
  const replayTimes: number[] = [];
  for (let r = 0; r < SEEN_RUNS; r++) {
    const checker = Chain.open({ genesis, path: ':memory:' });
    for (const p of txs) checker.submitTransaction(p.bytes);
    const check = timed(() => checker.checkBlock(block, block.header.timestamp));
    if (!check.value.ok) throw check.value.error;
    seenTimes.push(check.ms);
    const replay = timed(() => checker.checkBlock(other, other.header.timestamp));
    if (!replay.value.ok) throw replay.value.error;
    if (checker.execMemo.hits !== txs.length)
      throw new Error(`replayed ${checker.execMemo.hits} of ${txs.length} transactions`);
    replayTimes.push(replay.ms);
    checker.close();
  }
  const name = scheme === 'ed25519' ? 'ed25519' : 'hybrid';
  line(`chain (${name}): open with ${SMALL_TREE / 1000}k accounts`, open.ms, 'ms');
  line(`chain (${name}): submitTransaction × ${txs.length}`, submit.ms, 'ms');
  line(
    `chain (${name}): buildBlock, ${txs.length} tx: best`,
    best(buildTimes),
    `ms (median ${round(median(buildTimes))})`,
  );
  line(
    `chain (${name}): checkBlock on a second node, ${txs.length} tx: best`,
    best(checkTimes),
    `ms (median ${round(median(checkTimes))})`,
  );
  line(
    `chain (${name}): checkBlock, txs already in its mempool: best`,
    best(seenTimes),
    `ms (${SEEN_RUNS} runs)`,
  );
  line(
    `chain (${name}): then another proposal, same txs (replayed)`,
    best(replayTimes),
    `ms (${SEEN_RUNS} runs)`,
  );
  out[`chain_open_ms_10k_accounts_${name}`] = Math.round(open.ms);
  out[`block_submit_ms_per_1000_tx_${name}`] = Math.round(submit.ms);
  out[`block_build_ms_per_1000_tx_${name}`] = Math.round(best(buildTimes));
  out[`block_check_ms_per_1000_tx_${name}`] = Math.round(best(checkTimes));
  out[`block_check_over_build_${name}`] = round(best(checkTimes) / best(buildTimes), 2);
  out[`block_check_ms_per_1000_tx_${name}_txs_in_mempool`] = Math.round(best(seenTimes));
  out[`block_check_ms_per_1000_tx_${name}_replayed`] = Math.round(best(replayTimes));
  out[`block_replay_over_check_${name}`] = round(best(replayTimes) / best(seenTimes), 2);
}
chainBlock('ed25519', edTxs);
chainBlock('hybrid-ed25519-ml-dsa-65', hybridTxs);

// ---- Merkle proofs on the 100k-account tree -----------------------------------------------------

// Half present, half absent keys: the API serves both proof kinds.
const proofKeys = Array.from({ length: 2_000 }, (_, i) =>
  i % 2 === 0 ? StateKey.account(fillerAddress(SMALL_TREE + ((i * 7919) % EXTRA))) : `account/absent-${i}`,
);
const proofs: StateProof[] = proofKeys.map((k) => tree100k.prove(k));
const proofValues = proofKeys.map((k) => tree100k.get(k) ?? null);
if (proofValues.filter((v) => v !== null).length !== proofKeys.length / 2)
  throw new Error('proof keys: wrong mix');
const root100k = tree100k.root();
const indices = proofKeys.map((_, i) => i);
const proofRates = bestRates({
  prove: { step: cycle(proofKeys, (k) => tree100k.prove(k)) },
  verify: {
    step: cycle(indices, (i) => {
      if (!verifyStateProof(root100k, proofKeys[i]!, proofValues[i]!, proofs[i]!))
        throw new Error('proof failed');
    }),
  },
  sha256: { step: () => oneShotHash('sha256', node64, 'binary') },
});
line('Merkle proof generation, 100k accounts', proofRates.prove, 'proofs/s');
line('Merkle proof verification, 100k accounts', proofRates.verify, 'proofs/s');
out.prove_per_s_100k_accounts = Math.round(proofRates.prove);
out.verify_proof_per_s_100k_accounts = Math.round(proofRates.verify);
// A 100k-key proof has ~17 levels; the rest is decoding, bitmap walking and Uint8Array hashing.
out.verify_proof_in_node_hashes = round(proofRates.sha256 / proofRates.verify, 1);

const totalS = (performance.now() - started) / 1000;
console.log(`total ${round(totalS)} s`);
console.log(
  JSON.stringify({
    bench: 'state',
    node: process.version,
    slice_ms: SLICE_MS,
    slices: SLICES,
    ...out,
    total_s: round(totalS),
  }),
);
