import type { ChainError } from '../errors.js';
import type { SelectionCandidate } from '../poai/index.js';
import type { Address, Block, CommitCertificate, SignedVote } from '../types.js';

export interface CommitteeMember {
  address: Address;
  publicKey: Uint8Array;
}

export interface Committee {
  height: number;
  /** Draw order (see docs/protocol/poai.md); voting power is one per member. */
  members: CommitteeMember[];
  quorum: number;
}

/** Outcome of fully checking a proposed block against the parent state. */
export type BlockCheck =
  | {
      ok: true;
      hash: Uint8Array;
      efficiency: number;
      /** Per tx: selection inputs, for the reference block. */
      candidates: ReferenceCandidate[];
    }
  | { ok: false; hash: Uint8Array; error: ChainError };

/** A transaction as the reference-block selection sees it (poai/candidates.ts). */
export type ReferenceCandidate = SelectionCandidate;

/**
 * What the consensus engine needs from the chain: the committed tip, committees, block building and
 * checking, and commit. The Chain class implements it over SQLite and the Merkle state tree; tests
 * may implement it over anything.
 */
export interface ChainPort {
  readonly chainId: string;
  readonly genesisTime: number;
  latestHeight(): number;
  latestHash(): Uint8Array;
  latestTimestamp(): number;
  /** Committee for height latestHeight()+1 (only the next height is ever asked). */
  nextCommittee(): Committee;
  /** True if `address` may build a block at the next height. */
  isBuilder(address: Address): boolean;
  buildBlock(opts: {
    proposer: Address;
    round: number;
    timestamp: number;
    lastCommit: CommitCertificate | null;
  }): { block: Block; hash: Uint8Array };
  /** Verifies a vote signature, remembering the result for this exact encoding. */
  verifyVote(sv: SignedVote, bytes: Uint8Array): boolean;
  /** Cheap check that a block's body is the one its header commits to. */
  bodyBinds(block: Block): boolean;
  /** Full validation of a block for the next height (cached by hash). */
  checkBlock(block: Block, now: number): BlockCheck;
  /** Efficiency of the deterministic 20/20/50/10 reference block over the union of candidates. */
  referenceEfficiency(candidates: ReferenceCandidate[]): number;
  /** Verifies a certificate for the next height against its committee. */
  verifyCertificate(cert: CommitCertificate, committee: Committee): ChainError | null;
  /** Commits a checked block for the next height with its certificate. */
  commit(block: Block, hash: Uint8Array, cert: CommitCertificate): void;
  /** Certificate of the latest committed block (null before block 1). */
  latestCertificate(): CommitCertificate | null;
  /** True when the mempool holds transactions (an empty block can wait; see EngineOptions). */
  hasPendingTransactions(): boolean;
  /** Committed blocks and their certificates from `fromHeight`, at most `max`, for peers that sync. */
  blocksFrom(fromHeight: number, max: number): Array<{ block: Uint8Array; cert: Uint8Array }>;
}
