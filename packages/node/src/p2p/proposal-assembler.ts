import { equalBytes, sha256, toHex } from '@self/crypto';
import type { ByteCache } from './byte-cache.js';
import { rebuildProposal } from './compact-proposal.js';
import type { CompactProposalPayload } from './gossip-codec.js';

export type AssemblyOutcome =
  | { bytes: Uint8Array }
  /** unavailable: transactions missing everywhere we asked; mismatch: the result has another digest. */
  | { fail: 'proposal_unavailable' | 'proposal_mismatch' };

export interface AssemblerDeps {
  /** Our caches and the mempool, by hex digest. */
  findTx(digestHex: string): Uint8Array | undefined;
  rememberTx(digestHex: string, tx: Uint8Array): void;
  /** Full proposals by the hex digest of their bytes: served to peers, and checked first. */
  proposals: ByteCache;
  fetchTxs(peer: string, digests: Uint8Array[]): Promise<Array<Uint8Array | null>>;
  fetchProposal(peer: string, digest: Uint8Array): Promise<Uint8Array | null>;
  onFetchError(err: unknown, peer: string, what: 'txs' | 'proposal'): void;
  maxFetchTxs: number;
  /** False once the node stops: no further requests. */
  active(): boolean;
}

/**
 * Turns compact proposals back into the exact bytes their builder signed: transactions from what
 * this node holds, the missing ones fetched from the peers that have the proposal, and as a last
 * resort the full proposal by digest. Concurrent copies of one proposal share one assembly.
 */
export class ProposalAssembler {
  private readonly pending = new Map<string, Promise<AssemblyOutcome>>();

  constructor(private readonly deps: AssemblerDeps) {}

  /** `sources`: peers to ask, best first (the propagation source, then the author if connected). */
  assemble(p: CompactProposalPayload, sources: string[]): Promise<AssemblyOutcome> {
    const key = toHex(p.digest);
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.run(p, key, sources).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  clear(): void {
    this.pending.clear();
  }

  private async run(p: CompactProposalPayload, key: string, sources: string[]): Promise<AssemblyOutcome> {
    const d = this.deps;
    const cached = d.proposals.get(key);
    if (cached) return { bytes: cached };
    const txs = p.digests.map((digest) => d.findTx(toHex(digest)));
    for (const source of sources) {
      const missing = missingIndices(txs).slice(0, d.maxFetchTxs);
      if (missing.length === 0 || !d.active()) break;
      try {
        const got = await d.fetchTxs(
          source,
          missing.map((i) => p.digests[i]!),
        );
        got.forEach((tx, j) => {
          if (!tx) return;
          const i = missing[j]!;
          txs[i] = tx;
          d.rememberTx(toHex(p.digests[i]!), tx);
        });
      } catch (err) {
        d.onFetchError(err, source, 'txs');
      }
    }
    if (missingIndices(txs).length > 0) return this.fetchWhole(p, key, sources);
    let bytes: Uint8Array;
    try {
      bytes = rebuildProposal(p.skeleton, txs as Uint8Array[]);
    } catch {
      return { fail: 'proposal_mismatch' };
    }
    if (!equalBytes(sha256(bytes), p.digest)) return { fail: 'proposal_mismatch' };
    d.proposals.set(key, bytes);
    return { bytes };
  }

  private async fetchWhole(
    p: CompactProposalPayload,
    key: string,
    sources: string[],
  ): Promise<AssemblyOutcome> {
    for (const source of sources) {
      if (!this.deps.active()) break;
      try {
        // fetchProposal checks the bytes against the digest.
        const full = await this.deps.fetchProposal(source, p.digest);
        if (full) {
          this.deps.proposals.set(key, full);
          return { bytes: full };
        }
      } catch (err) {
        this.deps.onFetchError(err, source, 'proposal');
      }
    }
    return { fail: 'proposal_unavailable' };
  }
}

function missingIndices(txs: Array<Uint8Array | undefined>): number[] {
  const out: number[] = [];
  txs.forEach((t, i) => {
    if (!t) out.push(i);
  });
  return out;
}
