/**
 * `npm run bench -- <name>`: runs scripts/bench/<name>.ts. Each benchmark prints human-readable
 * lines, then one last line of JSON with its figures.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('./bench/', import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const name = process.argv[2];

if (!name || name === '--help' || name === '-h') {
  console.log(`usage: npm run bench -- <name> [options]\n\nbenchmarks: ${available.join(', ')}`);
  process.exit(name ? 0 : 1);
}
if (!available.includes(name)) {
  console.error(`unknown benchmark "${name}"; available: ${available.join(', ')}`);
  process.exit(2);
}
process.argv.splice(2, 1);
await import(`./bench/${name}.ts`);
