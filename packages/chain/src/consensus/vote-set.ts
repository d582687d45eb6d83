import { toHex } from '@self/crypto';
import type { Address, SignedVote } from '../types.js';

/** Key for a vote's target: the block hash in hex, or 'nil'. */
export function targetKey(hash: Uint8Array | null): string {
  return hash ? toHex(hash) : 'nil';
}

/** All votes of one type in one round at one height, at most one per committee member. */
export class VoteSet {
  private readonly byVoter = new Map<Address, { vote: SignedVote; bytes: Uint8Array; target: string }>();
  private readonly tally = new Map<string, number>();

  constructor(readonly quorum: number) {}

  /** The vote already held from this voter, if any. */
  get(voter: Address): { vote: SignedVote; bytes: Uint8Array; target: string } | undefined {
    return this.byVoter.get(voter);
  }

  add(voter: Address, vote: SignedVote, bytes: Uint8Array): void {
    const target = targetKey(vote.vote.block_hash);
    this.byVoter.set(voter, { vote, bytes, target });
    this.tally.set(target, (this.tally.get(target) ?? 0) + 1);
  }

  get size(): number {
    return this.byVoter.size;
  }

  count(target: string): number {
    return this.tally.get(target) ?? 0;
  }

  /** The target (block hash hex or 'nil') with a quorum, if one has it. */
  quorumTarget(): string | undefined {
    for (const [target, n] of this.tally) if (n >= this.quorum) return target;
    return undefined;
  }

  hasQuorumOfAny(): boolean {
    return this.byVoter.size >= this.quorum;
  }

  /** Encoded votes for a target, sorted by voter address (the certificate order). */
  votesFor(target: string): Array<{ voter: Address; bytes: Uint8Array }> {
    const out: Array<{ voter: Address; bytes: Uint8Array }> = [];
    for (const [voter, v] of this.byVoter) if (v.target === target) out.push({ voter, bytes: v.bytes });
    return out.sort((a, b) => (a.voter < b.voter ? -1 : a.voter > b.voter ? 1 : 0));
  }

  all(): Uint8Array[] {
    return [...this.byVoter.values()].map((v) => v.bytes);
  }
}
