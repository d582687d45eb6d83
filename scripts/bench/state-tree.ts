/**
 * `npm run bench -- state-tree` (or `npx tsx scripts/bench/state-tree.ts`). Importing this file runs
 * the benchmark, as scripts/bench.ts expects; composite benchmarks import ./lib/state-tree.ts instead.
 */
import { benchStateTree } from './lib/state-tree.js';

console.log(JSON.stringify({ bench: 'state-tree', ...(await benchStateTree()) }));
