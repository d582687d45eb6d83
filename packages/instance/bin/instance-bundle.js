#!/usr/bin/env node
// Runs the instance process from its esbuild bundle (src/process/bundle.ts) with V8's code cache:
// `node instance-bundle.js <bundle.cjs> [<code cache>]`. The cache holds the bundle's compiled
// functions, so a start skips most parsing and compiling. A missing or stale cache (another Node
// version) is ignored; V8 then compiles the source as usual. With SELF_WRITE_CODE_CACHE=1 the
// process writes the cache when it exits (the bundle builder's warm-up run).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Script } from 'node:vm';

const file = resolve(process.argv[2] ?? '');
const cacheFile = process.argv[3] ? resolve(process.argv[3]) : null;
let cachedData;
if (cacheFile !== null && process.env.SELF_WRITE_CODE_CACHE !== '1') {
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (cacheFile !== null && process.env.SELF_WRITE_CODE_CACHE === '1') {
  process.on('exit', () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile);
  });
}
const mod = new Module(file);
mod.filename = file;
script.runInThisContext()(mod.exports, createRequire(file), mod, file, dirname(file));
