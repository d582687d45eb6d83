import { Random } from '../../src/sim/random.js';

/** A seeded integer source for property loops: prng(seed)(n) is uniform in [0, n). Reproducible. */
export function prng(seed: number): (n: number) => number {
  const rng = new Random(seed);
  return (n) => rng.int(0, n - 1);
}
