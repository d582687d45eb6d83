export interface KnownPeer {
  id: string;
  addrs: string[];
  /** Failed dials since the last success. */
  failures: number;
  /** Not dialled again before this time. */
  nextDialAt: number;
}

export interface PeerBookOptions {
  baseMs: number;
  maxMs: number;
  now?: () => number;
  random?: () => number;
}

const MAX_ADDRS = 16;

/**
 * Peers this node keeps connected: bootstrap peers and validators announced on chain. When one is
 * not connected it is redialled with exponential backoff (jittered, so peers that restart together
 * do not dial in lockstep); a disconnect makes it due again soon, so a restarted peer is found.
 */
export class PeerBook {
  private readonly peers = new Map<string, KnownPeer>();
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly opts: PeerBookOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  /** Adds or refreshes a peer; new addresses go first (an announce record is the freshest). */
  add(id: string, addrs: string[]): void {
    const known = this.peers.get(id);
    if (known) {
      known.addrs = [...new Set([...addrs, ...known.addrs])].slice(0, MAX_ADDRS);
      return;
    }
    this.peers.set(id, { id, addrs: addrs.slice(0, MAX_ADDRS), failures: 0, nextDialAt: this.now() });
  }

  remove(id: string): void {
    this.peers.delete(id);
  }

  has(id: string): boolean {
    return this.peers.has(id);
  }

  get(id: string): KnownPeer | undefined {
    return this.peers.get(id);
  }

  list(): KnownPeer[] {
    return [...this.peers.values()];
  }

  connected(id: string): void {
    const p = this.peers.get(id);
    if (p) p.failures = 0;
  }

  /** A dropped peer is redialled after the base delay (it may be restarting). */
  disconnected(id: string): void {
    const p = this.peers.get(id);
    if (p) p.nextDialAt = this.now() + this.opts.baseMs;
  }

  failed(id: string): void {
    const p = this.peers.get(id);
    if (!p) return;
    p.failures++;
    const delay = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(p.failures - 1, 20));
    p.nextDialAt = this.now() + delay * (0.8 + 0.4 * this.random());
  }

  /** Peers to dial now: not connected and past their backoff. */
  due(isConnected: (id: string) => boolean): KnownPeer[] {
    const now = this.now();
    return this.list().filter((p) => p.nextDialAt <= now && !isConnected(p.id));
  }
}
