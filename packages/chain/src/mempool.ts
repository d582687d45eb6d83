import { addressFromPublicKey, toHex } from '@self/crypto';
import { compareAscii, findAccount } from './accounts.js';
import { ChainError } from './errors.js';
import { MinHeap } from './poai/heap.js';
import type { StateReader } from './state-view.js';
import { txCost, txFee } from './tx/fees.js';
import type { Address, SignedTransaction } from './types.js';

export interface MempoolOptions {
  maxTxs: number;
  maxBytes: number;
  maxPerSender: number;
  /** A transaction waiting longer than this is dropped by expire(). */
  ttlMs: number;
  /** How far past the account's next nonce a transaction may wait (default 64). */
  maxNonceGap?: number;
  /** Injectable clock (ms) so tests and the simulator control expiry. */
  now?: () => number;
}

export const DEFAULT_MEMPOOL_OPTIONS: Required<Omit<MempoolOptions, 'now'>> = {
  maxTxs: 50_000,
  maxBytes: 256 * 1024 * 1024,
  maxPerSender: 128,
  ttlMs: 10 * 60 * 1000,
  maxNonceGap: 64,
};

/** A replacement must pay at least 110% of the point price it replaces (new × 10 ≥ old × 11). */
export const REPLACEMENT_PERCENT = 110;

export interface MempoolEntry {
  stx: SignedTransaction;
  bytes: Uint8Array;
  hash: Uint8Array;
  hashHex: string;
  sender: Address;
  nonce: number;
  pointPrice: number;
  fee: number;
  /** Fee plus transferred or bonded amount. */
  cost: number;
  /** Clock time of arrival (ms). */
  addedAt: number;
  /** Arrival order, unique per pool: breaks ties without depending on clock resolution. */
  seq: number;
}

export interface AddResult {
  accepted: true;
  /** Hash of the transaction this one replaced (same sender and nonce). */
  replaced: Uint8Array | null;
  /** Hashes evicted to make room. */
  evicted: Uint8Array[];
}

/** Eviction order: lowest point price first, then the newest arrival (older ones have waited longer). */
function evictionOrder(a: MempoolEntry, b: MempoolEntry): number {
  return a.pointPrice - b.pointPrice || b.seq - a.seq;
}

/** Block order of ready transactions: highest point price first, then oldest, then lowest hash. */
function readyOrder(a: MempoolEntry, b: MempoolEntry): number {
  return b.pointPrice - a.pointPrice || a.seq - b.seq || compareAscii(a.hashHex, b.hashHex);
}

/**
 * Pending transactions that passed checkStateless, checked here only against committed state
 * (nonce window, affordability). Nothing consensus-relevant depends on Map insertion order: every
 * list this returns is sorted explicitly.
 */
export class Mempool {
  private readonly opts: Required<Omit<MempoolOptions, 'now'>>;
  private readonly now: () => number;
  private readonly byHash = new Map<string, MempoolEntry>();
  private readonly bySender = new Map<Address, Map<number, MempoolEntry>>();
  private totalBytes = 0;
  private nextSeq = 0;

  constructor(opts: Partial<MempoolOptions> = {}) {
    const { now, ...rest } = opts;
    // Keys present but undefined (spread from optional config) must not erase the defaults.
    const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    this.opts = { ...DEFAULT_MEMPOOL_OPTIONS, ...given };
    this.now = now ?? Date.now;
  }

  get size(): number {
    return this.byHash.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  has(hash: Uint8Array): boolean {
    return this.byHash.has(toHex(hash));
  }

  get(hash: Uint8Array): MempoolEntry | undefined {
    return this.byHash.get(toHex(hash));
  }

  /** Every entry, by sender then nonce. */
  entries(): MempoolEntry[] {
    return [...this.byHash.values()].sort((a, b) => compareAscii(a.sender, b.sender) || a.nonce - b.nonce);
  }

  /**
   * Admits a transaction or throws a ChainError: duplicate, bad_nonce (already used),
   * nonce_too_high (beyond the gap), unknown_account / insufficient_funds (committed balance
   * cannot cover fee + amount), replacement_underpriced, mempool_full (per sender, or the pool is
   * full and the newcomer would be the cheapest), oversized.
   */
  add(stx: SignedTransaction, bytes: Uint8Array, hash: Uint8Array, state: StateReader): AddResult {
    this.expire();
    const hashHex = toHex(hash);
    if (this.byHash.has(hashHex)) throw new ChainError('duplicate', 'transaction is already pending');
    const sender = addressFromPublicKey(stx.signer);
    const { nonce, point_price: pointPrice } = stx.tx;
    const account = findAccount(state, sender);
    if (!account) throw new ChainError('unknown_account', `${sender} has no account`);
    if (nonce <= account.nonce) {
      throw new ChainError('bad_nonce', `nonce ${nonce} is already used (account nonce ${account.nonce})`);
    }
    if (nonce > account.nonce + this.opts.maxNonceGap) {
      throw new ChainError(
        'nonce_too_high',
        `nonce ${nonce} is more than ${this.opts.maxNonceGap} past ${account.nonce}`,
      );
    }
    const cost = txCost(stx.tx);
    if (cost > account.balance) {
      throw new ChainError('insufficient_funds', `balance ${account.balance} cannot cover ${cost}`, {
        balance: account.balance,
        needed: cost,
      });
    }
    if (bytes.length > this.opts.maxBytes)
      throw new ChainError('oversized', 'transaction is larger than the mempool');

    const chain = this.bySender.get(sender);
    const existing = chain?.get(nonce);
    if (existing && pointPrice * 100 < existing.pointPrice * REPLACEMENT_PERCENT) {
      throw new ChainError(
        'replacement_underpriced',
        `a replacement needs point price ≥ ${REPLACEMENT_PERCENT}% of ${existing.pointPrice}`,
        {
          old_point_price: existing.pointPrice,
        },
      );
    }
    if (!existing && (chain?.size ?? 0) >= this.opts.maxPerSender) {
      throw new ChainError(
        'mempool_full',
        `${sender} already has ${this.opts.maxPerSender} pending transactions`,
        {
          reason: 'sender',
        },
      );
    }
    const evicted = this.chooseEvictions(pointPrice, bytes.length, existing);

    if (existing) this.removeEntry(existing);
    for (const e of evicted) this.removeEntry(e);
    this.insert({
      stx,
      bytes,
      hash,
      hashHex,
      sender,
      nonce,
      pointPrice,
      fee: txFee(stx.tx),
      cost,
      addedAt: this.now(),
      seq: this.nextSeq++,
    });
    return { accepted: true, replaced: existing?.hash ?? null, evicted: evicted.map((e) => e.hash) };
  }

  /** The cheapest entries to drop so a newcomer fits; throws if it would itself be the cheapest. */
  private chooseEvictions(
    pointPrice: number,
    length: number,
    replacing: MempoolEntry | undefined,
  ): MempoolEntry[] {
    let count = this.byHash.size + 1 - (replacing ? 1 : 0);
    let bytes = this.totalBytes + length - (replacing?.bytes.length ?? 0);
    if (count <= this.opts.maxTxs && bytes <= this.opts.maxBytes) return [];
    const candidates = [...this.byHash.values()].filter((e) => e !== replacing).sort(evictionOrder);
    const out: MempoolEntry[] = [];
    for (const victim of candidates) {
      if (count <= this.opts.maxTxs && bytes <= this.opts.maxBytes) break;
      if (victim.pointPrice >= pointPrice) break;
      out.push(victim);
      count--;
      bytes -= victim.bytes.length;
    }
    if (count > this.opts.maxTxs || bytes > this.opts.maxBytes) {
      throw new ChainError('mempool_full', 'mempool is full of transactions paying at least as much', {
        reason: 'capacity',
      });
    }
    return out;
  }

  /**
   * Transactions that can run now, in order: per sender, consecutive nonces from account.nonce + 1
   * while the committed balance covers their cumulative cost; across senders, highest point price
   * first (a sender's later nonce becomes eligible once its predecessor is taken).
   */
  pendingExecutable(state: StateReader, limit: number): MempoolEntry[] {
    const heap = new MinHeap<{ entry: MempoolEntry; rest: MempoolEntry[] }>((a, b) =>
      readyOrder(a.entry, b.entry),
    );
    for (const sender of [...this.bySender.keys()].sort(compareAscii)) {
      const ready = this.readyChain(sender, state);
      if (ready.length > 0) heap.push({ entry: ready[0]!, rest: ready.slice(1) });
    }
    const out: MempoolEntry[] = [];
    while (out.length < limit) {
      const top = heap.pop();
      if (!top) break;
      out.push(top.entry);
      const [next, ...rest] = top.rest;
      if (next) heap.push({ entry: next, rest });
    }
    return out;
  }

  private readyChain(sender: Address, state: StateReader): MempoolEntry[] {
    const chain = this.bySender.get(sender);
    const account = findAccount(state, sender);
    if (!chain || !account) return [];
    const out: MempoolEntry[] = [];
    let balance = account.balance;
    for (let nonce = account.nonce + 1; ; nonce++) {
      const e = chain.get(nonce);
      if (!e || e.cost > balance) break;
      balance -= e.cost;
      out.push(e);
    }
    return out;
  }

  /** After a commit: drops the included transactions and every one whose nonce is now used. */
  onCommitted(txHashes: readonly Uint8Array[], state: StateReader): Uint8Array[] {
    const removed: Uint8Array[] = [];
    for (const h of txHashes) {
      const e = this.byHash.get(toHex(h));
      if (e) {
        this.removeEntry(e);
        removed.push(e.hash);
      }
    }
    for (const sender of [...this.bySender.keys()].sort(compareAscii)) {
      const used = findAccount(state, sender)?.nonce ?? 0;
      const chain = this.bySender.get(sender)!;
      for (const nonce of [...chain.keys()].sort((a, b) => a - b)) {
        if (nonce > used) break;
        const e = chain.get(nonce)!;
        this.removeEntry(e);
        removed.push(e.hash);
      }
    }
    return removed;
  }

  /** Drops entries older than ttlMs (age ≥ ttl); returns their hashes, oldest first. */
  expire(): Uint8Array[] {
    const now = this.now();
    const old = [...this.byHash.values()]
      .filter((e) => now - e.addedAt >= this.opts.ttlMs)
      .sort((a, b) => a.seq - b.seq);
    for (const e of old) this.removeEntry(e);
    return old.map((e) => e.hash);
  }

  remove(hash: Uint8Array): boolean {
    const e = this.byHash.get(toHex(hash));
    if (e) this.removeEntry(e);
    return e !== undefined;
  }

  private insert(e: MempoolEntry): void {
    this.byHash.set(e.hashHex, e);
    let chain = this.bySender.get(e.sender);
    if (!chain) {
      chain = new Map();
      this.bySender.set(e.sender, chain);
    }
    chain.set(e.nonce, e);
    this.totalBytes += e.bytes.length;
  }

  private removeEntry(e: MempoolEntry): void {
    this.byHash.delete(e.hashHex);
    const chain = this.bySender.get(e.sender);
    chain?.delete(e.nonce);
    if (chain?.size === 0) this.bySender.delete(e.sender);
    this.totalBytes -= e.bytes.length;
  }
}
