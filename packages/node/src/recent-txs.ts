import { sha256, toHex } from '@self/crypto';

/**
 * Signed transactions by the hex SHA-256 of their full encoding, oldest evicted first. Compact
 * proposals name transactions by that digest, so a node rebuilds a proposal from what it already
 * holds and fetches only the rest. The byte arrays are the mempool's own, so this costs little.
 */
export class RecentTxs {
  private readonly byDigest = new Map<string, Uint8Array>();

  constructor(private readonly limit: number) {}

  /** `digest` when the caller already has it (the verification pool returns it). */
  add(bytes: Uint8Array, digest: string = toHex(sha256(bytes))): string {
    if (this.byDigest.has(digest)) return digest;
    if (this.byDigest.size >= this.limit) {
      const oldest = this.byDigest.keys().next().value;
      if (oldest !== undefined) this.byDigest.delete(oldest);
    }
    this.byDigest.set(digest, bytes);
    return digest;
  }

  get(digest: string): Uint8Array | undefined {
    return this.byDigest.get(digest);
  }

  get size(): number {
    return this.byDigest.size;
  }
}
