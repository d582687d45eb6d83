/**
 * Digests (SHA-256 of the full signed encoding) of transactions and votes whose stateless checks
 * and signatures passed. Those checks are pure functions of the bytes and the chain's genesis, so
 * nodes of one chain that share a process (the simulator, `self up`) may share one cache: the
 * memo never skips anything a node could judge differently. Bounded; forgetting only costs a
 * re-check.
 */
export class VerifiedCache {
  private readonly seen = new Set<string>();

  constructor(private readonly limit = 200_000) {}

  has(digest: string): boolean {
    return this.seen.has(digest);
  }

  add(digest: string): void {
    if (this.seen.size >= this.limit) this.seen.clear();
    this.seen.add(digest);
  }
}
