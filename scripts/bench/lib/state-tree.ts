import { randomBytes } from 'node:crypto';
import { encode } from '../../../packages/chain/src/encoding.js';
import { StateTree, verifyStateProof, type StateProof } from '../../../packages/chain/src/merkle.js';

/**
 * State tree figures (docs/protocol/state.md): batch updates of one block's changes on a 100k-record
 * tree, proof generation and verification. Side-effect free, so composite benchmarks can import it;
 * `npm run bench -- state-tree` runs it through ../state-tree.ts.
 */

const RECORDS = 100_000;
const VALUE_BYTES = 256;
const RUNS = 9;
const PROOFS = 10_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * One block's worth of changes: mostly updates of existing accounts (transfers touch sender and
 * recipient), some new records (new accounts, anchors), a few deletions.
 */
function blockChanges(count: number, seq: number): Map<string, Uint8Array | null> {
  const changes = new Map<string, Uint8Array | null>();
  while (changes.size < count) {
    const r = Math.random();
    if (r < 0.8) changes.set(`account/${Math.floor(Math.random() * RECORDS)}`, randomBytes(VALUE_BYTES));
    else if (r < 0.95) changes.set(`anchor/${seq}/${changes.size}`, randomBytes(VALUE_BYTES));
    else changes.set(`account/${Math.floor(Math.random() * RECORDS)}`, null);
  }
  return changes;
}

function timeUpdates(tree: StateTree, count: number): number[] {
  const times: number[] = [];
  for (let run = -2; run < RUNS; run++) {
    const changes = blockChanges(count, run);
    const t0 = performance.now();
    tree.withChanges(changes);
    const ms = performance.now() - t0;
    if (run >= 0) times.push(ms); // the first two runs warm the JIT up
  }
  return times;
}

export async function benchStateTree(): Promise<Record<string, number>> {
  const entries: Array<[string, Uint8Array]> = [];
  for (let i = 0; i < RECORDS; i++) entries.push([`account/${i}`, randomBytes(VALUE_BYTES)]);
  let t0 = performance.now();
  const tree = StateTree.fromEntries(entries);
  const buildMs = performance.now() - t0;
  console.log(`state-tree: built ${RECORDS} records in ${round(buildMs, 0)} ms (start-up rebuild)`);

  const out: Record<string, number> = { tree_build_100k_ms: round(buildMs, 0) };
  for (const count of [2000, 3000]) {
    const times = timeUpdates(tree, count);
    out[`update_${count}_of_100k_ms`] = round(median(times));
    out[`update_${count}_of_100k_max_ms`] = round(Math.max(...times));
    console.log(
      `state-tree: batch of ${count} changes on ${RECORDS} records: median ${round(median(times))} ms, max ${round(Math.max(...times))} ms (${RUNS} runs)`,
    );
  }

  // Half present, half absent keys: both proof kinds are served by the API.
  const keys = Array.from({ length: PROOFS }, (_, i) =>
    i % 2 === 0 ? `account/${(i * 7919) % RECORDS}` : `account/absent-${i}`,
  );
  t0 = performance.now();
  const proofs: StateProof[] = keys.map((k) => tree.prove(k));
  const proveS = (performance.now() - t0) / 1000;
  const root = tree.root();
  t0 = performance.now();
  let ok = 0;
  keys.forEach((k, i) => {
    if (verifyStateProof(root, k, tree.get(k) ?? null, proofs[i]!)) ok++;
  });
  const verifyS = (performance.now() - t0) / 1000;
  if (ok !== PROOFS) throw new Error(`state-tree: ${PROOFS - ok} proofs failed to verify`);
  const proofBytes = proofs.reduce((n, p) => n + encode(p).length, 0) / PROOFS;
  out.prove_per_s = Math.round(PROOFS / proveS);
  out.verify_per_s = Math.round(PROOFS / verifyS);
  out.proof_avg_bytes = Math.round(proofBytes);
  console.log(
    `state-tree: proofs: ${out.prove_per_s} generated/s, ${out.verify_per_s} verified/s, ${out.proof_avg_bytes} bytes average (CBOR)`,
  );
  return out;
}
