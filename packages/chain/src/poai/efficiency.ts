import { RISK_MAX_BPS } from './risk.js';
import { assertBps, assertUint, compareBytes, compareStrings, mulDivFloor } from './order.js';

/** A proposal must reach 90% of the reference block's efficiency to be acceptable. */
export const REFERENCE_TOLERANCE_BPS = 9_000;

/**
 * Σ (10000 − risk) over the block's transactions: every transaction adds value, a benign one the
 * most, so a builder gains by including many low-risk transactions rather than a few risky ones.
 * At most 10000 × max_block_txs, far below 2^53.
 */
export function efficiencyScore(risks: readonly number[]): number {
  let sum = 0;
  for (const r of risks) {
    assertBps('risk', r);
    sum += RISK_MAX_BPS - r;
  }
  return sum;
}

export interface RankedProposal {
  efficiency: number;
  proposer: string;
  block_hash: Uint8Array;
}

/**
 * Ranking order for prevotes (sort ascending with this = best first): higher efficiency first,
 * then the lower proposer address (code-unit order), then the lower block hash, so the order is
 * total even when one proposer sends two blocks.
 */
export function compareProposals(a: RankedProposal, b: RankedProposal): number {
  return (
    b.efficiency - a.efficiency ||
    compareStrings(a.proposer, b.proposer) ||
    compareBytes(a.block_hash, b.block_hash)
  );
}

export function rankProposals<P extends RankedProposal>(proposals: readonly P[]): P[] {
  return [...proposals].sort(compareProposals);
}

/**
 * efficiency ≥ floor(reference × 9000 / 10000). The 10% slack lets a builder whose mempool
 * differed slightly from the voters' still be accepted, while a builder that leaves out most
 * transactions (censorship, laziness) is not.
 */
export function meetsReference(proposalEfficiency: number, referenceEfficiency: number): boolean {
  assertUint('proposal efficiency', proposalEfficiency);
  assertUint('reference efficiency', referenceEfficiency);
  return proposalEfficiency >= mulDivFloor(referenceEfficiency, REFERENCE_TOLERANCE_BPS, 10_000);
}
