/**
 * The boundary between the state machine and storage. State is a flat map from namespaced string
 * keys (see StateKey) to canonical-CBOR-encoded records. The state machine reads through a
 * StateReader and writes into a StateOverlay; committing hands the overlay's changes to the store
 * and to the Merkle state tree.
 */
export interface StateReader {
  /** Encoded record, or undefined when absent. */
  get(key: string): Uint8Array | undefined;
}

/** Changes of one block: encoded record, or null for a deletion. Iteration order is irrelevant. */
export type StateChanges = Map<string, Uint8Array | null>;

/** A copy-on-write layer over a reader; layers stack (a proposal's overlay over the committed state). */
export class StateOverlay implements StateReader {
  private readonly writes: StateChanges = new Map();

  constructor(private readonly base: StateReader) {}

  /** True when this layer itself wrote (or deleted) `key`. */
  protected hasOwn(key: string): boolean {
    return this.writes.has(key);
  }

  get(key: string): Uint8Array | undefined {
    const w = this.writes.get(key);
    if (w === null) return undefined;
    if (w !== undefined) return w;
    return this.base.get(key);
  }

  set(key: string, value: Uint8Array): void {
    this.writes.set(key, value);
  }

  delete(key: string): void {
    this.writes.set(key, null);
  }

  /** A nested layer whose writes can be merged back (apply) or dropped (a failed transaction). */
  child(): StateOverlay {
    return new StateOverlay(this);
  }

  /** Merges this layer's writes into its parent, which must be a StateOverlay. */
  mergeInto(parent: StateOverlay): void {
    parent.apply(this.writes);
  }

  /** Writes a set of changes (a replayed transaction's) into this layer. */
  apply(changes: StateChanges): void {
    for (const [k, v] of changes) this.writes.set(k, v);
  }

  changes(): StateChanges {
    return this.writes;
  }
}
