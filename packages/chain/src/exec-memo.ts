import { equalBytes, toHex } from '@self/crypto';
import type { ReferenceCandidate } from './consensus/chain-port.js';
import { StateOverlay, type StateChanges, type StateReader } from './state-view.js';
import type { ColourTransition } from './types.js';

/**
 * One transaction's execution inside a block, as a function of what it read: the value of every
 * key it read before writing it (undefined: absent), and everything it wrote.
 */
export interface TxTrace {
  /** The signed encoding it was executed from: a trace serves only the same bytes. */
  bytes: Uint8Array;
  reads: Map<string, Uint8Array | undefined>;
  writes: StateChanges;
  risk: number;
  fee: number;
  colour: ColourTransition;
  candidate: ReferenceCandidate;
}

/**
 * A child layer that remembers the first value it read for every key it had not written itself,
 * so the execution it hosts can be replayed elsewhere when those values are the same there.
 */
export class RecordingOverlay extends StateOverlay {
  readonly reads = new Map<string, Uint8Array | undefined>();

  override get(key: string): Uint8Array | undefined {
    if (this.hasOwn(key)) return super.get(key);
    const value = super.get(key);
    if (!this.reads.has(key)) this.reads.set(key, value);
    return value;
  }
}

const sameValue = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && equalBytes(a, b));

/**
 * Executions of one height's transactions, shared by the blocks a node builds and checks at that
 * height. Each builder's proposal carries mostly the same transactions; executing a transaction is
 * deterministic in (height, the values it reads, its bytes), so when every value it read is the
 * same in the next proposal, its writes are copied instead of executing it again. Reads are
 * compared byte for byte, so a differing prologue (another certificate's signers paid) or an
 * earlier transaction that touched the same account makes it execute for real.
 */
export class ExecMemo {
  private height = -1;
  private readonly traces = new Map<string, TxTrace>();
  /** Transactions replayed and executed since the last reset (for metrics and benchmarks). */
  hits = 0;
  misses = 0;

  /** Forgets every trace when the height changes (a new parent state, a new `ctx.height`). */
  at(height: number): this {
    if (height !== this.height) {
      this.height = height;
      this.traces.clear();
    }
    return this;
  }

  clear(): void {
    this.height = -1;
    this.traces.clear();
  }

  get size(): number {
    return this.traces.size;
  }

  /** The trace of `hash` when it was made from these bytes and every value it read is unchanged in `state`. */
  reusable(hash: Uint8Array, bytes: Uint8Array, state: StateReader): TxTrace | null {
    const trace = this.traces.get(toHex(hash));
    if (!trace || !equalBytes(trace.bytes, bytes)) {
      this.misses++;
      return null;
    }
    for (const [key, value] of trace.reads) {
      if (!sameValue(state.get(key), value)) {
        this.misses++;
        return null;
      }
    }
    this.hits++;
    return trace;
  }

  remember(hash: Uint8Array, trace: TxTrace): void {
    this.traces.set(toHex(hash), trace);
  }
}
