/**
 * Timing helpers shared by the benchmarks. The machine the figures come from is shared and noisy:
 * other processes only ever slow a measurement down, so every figure is the best of a few fixed
 * time slices (or of a few repetitions), never a mean.
 */

export const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 300);
export const SLICES = Number(process.env.BENCH_SLICES ?? 3);

/**
 * Operations per second over one time slice of `sliceMs`. `step` performs one operation; the
 * clock is read after each, so a step should cost at least a microsecond.
 */
export function sliceRate(step: () => unknown, sliceMs: number = SLICE_MS): number {
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(sliceMs * 1e6));
  let now = start;
  while (now < deadline) {
    step();
    ops++;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

/** Best of `slices` time slices after `warmup` untimed steps. */
export function bestRate(
  step: () => unknown,
  opts: { slices?: number; sliceMs?: number; warmup?: number } = {},
): number {
  const warmup = opts.warmup ?? 3;
  for (let i = 0; i < warmup; i++) step();
  let best = 0;
  for (let i = 0; i < (opts.slices ?? SLICES); i++) best = Math.max(best, sliceRate(step, opts.sliceMs));
  return best;
}

/**
 * Best rate of each step, their slices interleaved (slice 1 of every step, then slice 2…): a slow
 * spell on a shared machine then hits every figure alike, and ratios between them stay meaningful.
 */
export function bestRates<K extends string>(
  steps: Record<K, { step: () => unknown; warmup?: number }>,
  opts: { slices?: number; sliceMs?: number } = {},
): Record<K, number> {
  const names = Object.keys(steps) as K[];
  const out = {} as Record<K, number>;
  for (const name of names) {
    const { step, warmup = 3 } = steps[name];
    for (let i = 0; i < warmup; i++) step();
    out[name] = 0;
  }
  for (let i = 0; i < (opts.slices ?? SLICES); i++) {
    for (const name of names) out[name] = Math.max(out[name], sliceRate(steps[name].step, opts.sliceMs));
  }
  return out;
}

/**
 * Milliseconds of each call of each function, interleaved run by run (see bestRates), after
 * `warmup` untimed calls of each.
 */
export function timeRunsInterleaved<K extends string>(
  fns: Record<K, () => unknown>,
  runs: number = SLICES,
  warmup = 1,
): Record<K, number[]> {
  const names = Object.keys(fns) as K[];
  const out = {} as Record<K, number[]>;
  for (const name of names) {
    for (let i = 0; i < warmup; i++) fns[name]();
    out[name] = [];
  }
  for (let r = 0; r < runs; r++) {
    for (const name of names) {
      const t0 = performance.now();
      fns[name]();
      out[name].push(performance.now() - t0);
    }
  }
  return out;
}

/** Milliseconds of each of `runs` calls of `fn` (after `warmup` untimed calls). */
export function timeRuns(fn: () => unknown, runs: number = SLICES, warmup = 1): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times;
}

/** Milliseconds one call of `fn` takes, with its result. */
export function timed<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}

export const best = (xs: readonly number[]): number => Math.min(...xs);

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Rounds to `digits` decimals (numbers ≥ 1000 to whole units). */
export function round(x: number, digits = 1): number {
  if (Math.abs(x) >= 1000) return Math.round(x);
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
