/**
 * Byte strings by key, oldest evicted first once the total size or the entry count is exceeded.
 * Holds transactions seen in gossip (to rebuild compact proposals and serve peers' missing-data
 * requests) and recent full proposals.
 */
export class ByteCache {
  private readonly entries = new Map<string, Uint8Array>();
  private total = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries = Number.POSITIVE_INFINITY,
  ) {}

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, value: Uint8Array): void {
    if (value.length > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      // Refresh: re-insert so it is evicted last.
      this.entries.delete(key);
      this.total -= old.length;
    }
    this.entries.set(key, value);
    this.total += value.length;
    while (this.total > this.maxBytes || this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.total -= this.entries.get(oldest.value)!.length;
      this.entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }
}
