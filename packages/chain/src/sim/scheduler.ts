import type { Clock } from '../consensus/clock.js';

interface Event {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Discrete-event scheduler in simulated milliseconds. Events at the same instant run in the order
 * they were scheduled, so a run depends only on the seed.
 */
export class Scheduler {
  private heap: Event[] = [];
  private seq = 0;
  private time: number;

  constructor(startTime: number) {
    this.time = startTime;
  }

  now(): number {
    return this.time;
  }

  at(time: number, fn: () => void): () => void {
    const ev: Event = { at: Math.max(time, this.time), seq: this.seq++, fn, cancelled: false };
    this.push(ev);
    return () => {
      ev.cancelled = true;
    };
  }

  after(ms: number, fn: () => void): () => void {
    return this.at(this.time + ms, fn);
  }

  /** A Clock for one node; `skew` shifts what the node believes the time is. */
  clock(skew = 0): Clock {
    return { now: () => this.time + skew, schedule: (ms, fn) => this.after(ms, fn) };
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Runs the next event; false when none is left. */
  step(): boolean {
    const ev = this.pop();
    if (!ev) return false;
    this.time = ev.at;
    if (!ev.cancelled) ev.fn();
    return true;
  }

  private less(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(ev: Event): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Event | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
