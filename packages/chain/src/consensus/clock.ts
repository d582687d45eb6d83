/** Time and timers, injected so the same engine runs on wall-clock time and in the simulator. */
export interface Clock {
  now(): number;
  /** Runs fn after ms; returns a cancel function. */
  schedule(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // Timers stay referenced: a running engine is what keeps a node's process alive; stop() cancels them.
  schedule(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
