import { toHex } from '@self/crypto';
import type { Address, SignedVote } from '../types.js';

/** Key for a vote's target: the block hash in hex, or 'nil'. */
export function targetKey(hash: Uint8Array | null): string {
  return hash ? toHex(hash) : 'nil';
}

interface HeldVote {
  vote: SignedVote;
  bytes: Uint8Array;
  target: string;
}

/**
 * All votes of one type in one round at one height. Each committee member's first vote is its
 * vote; a conflicting later vote (an equivocation) is still counted toward its own target, as
 * Tendermint does: otherwise a proof-of-lock that includes an equivocator's vote could never be
 * verified by a node that saw the twin first, and honest locks could stay split forever. Counting
 * it is safe: two quorums for different blocks in one round would need more than f equivocators.
 */
export class VoteSet {
  private readonly first = new Map<Address, HeldVote>();
  private readonly byTarget = new Map<string, Map<Address, HeldVote>>();

  constructor(readonly quorum: number) {}

  /** The first vote held from this voter, if any. */
  get(voter: Address): HeldVote | undefined {
    return this.first.get(voter);
  }

  /** True if this exact (voter, target) pair is already counted. */
  has(voter: Address, target: string): boolean {
    return this.byTarget.get(target)?.has(voter) === true;
  }

  add(voter: Address, vote: SignedVote, bytes: Uint8Array): void {
    const target = targetKey(vote.vote.block_hash);
    const held: HeldVote = { vote, bytes, target };
    if (!this.first.has(voter)) this.first.set(voter, held);
    let voters = this.byTarget.get(target);
    if (!voters) this.byTarget.set(target, (voters = new Map()));
    if (!voters.has(voter)) voters.set(voter, held);
  }

  /** Distinct voters. */
  get size(): number {
    return this.first.size;
  }

  count(target: string): number {
    return this.byTarget.get(target)?.size ?? 0;
  }

  /** The target (block hash hex or 'nil') with a quorum, if one has it. */
  quorumTarget(): string | undefined {
    for (const [target, voters] of this.byTarget) if (voters.size >= this.quorum) return target;
    return undefined;
  }

  hasQuorumOfAny(): boolean {
    return this.first.size >= this.quorum;
  }

  /** Encoded votes for a target, sorted by voter address (the certificate order). */
  votesFor(target: string): Array<{ voter: Address; bytes: Uint8Array }> {
    const voters = this.byTarget.get(target);
    if (!voters) return [];
    return [...voters.entries()]
      .map(([voter, v]) => ({ voter, bytes: v.bytes }))
      .sort((a, b) => (a.voter < b.voter ? -1 : a.voter > b.voter ? 1 : 0));
  }
}
