import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'scripts/test/**/*.test.ts'],
    // Native addons (pqclean, better-sqlite3) are safest in child processes.
    pool: 'forks',
    // Two files at a time: most test time is waiting (blocks, process starts, polling), and
    // vitest's default on a 2-core machine (cores - 1) runs the files one after another.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: '.test-results/vitest.json' }]],
  },
});
