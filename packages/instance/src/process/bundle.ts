import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateHybridKemKeyPair, toHex } from '@self/crypto';
import { Instance } from '../instance.js';
import { generateHostKey } from '../vault.js';
import { parseReadyEvent } from './protocol.js';

/**
 * The instance process as one esbuild bundle, started with V8's code cache. Loading the TypeScript
 * sources through tsx costs over a second per start; the bundle needs no module resolution, and
 * the code cache (written by one warm-up run of the bundle) spares most parsing and compiling, so
 * a stopped instance answers its first request within a few hundred milliseconds.
 *
 * Native modules stay outside the bundle and are required by absolute path. The bundle goes to
 * `node_modules/.cache/self-instance/`, under the node_modules that holds them, so a runtime
 * `require` from the bundle (crypto's optional PQClean binding) resolves as from the sources. A
 * manifest of the inputs' sizes and mtimes lets later runs skip esbuild while no source changed.
 */

export interface InstanceProcessCommand {
  /** Arguments for the node binary (process.execPath): the loader, the bundle, its code cache. */
  args: string[];
  /**
   * What the process reads at run time besides the node binary and system libraries: the loader,
   * the bundle directory and the external packages. A sandbox mounts exactly these read-only.
   */
  readPaths: string[];
}

/** Native packages the bundle requires from node_modules (with their dependencies). */
const EXTERNAL_PACKAGES = ['better-sqlite3-multiple-ciphers', 'better-sqlite3', 'pqclean'];

const ENTRY = fileURLToPath(new URL('./entry.ts', import.meta.url));
const LOADER = fileURLToPath(new URL('../../bin/instance-bundle.js', import.meta.url));
/** Bundles differ per source tree; code caches also per Node version and architecture. */
const BUILD_ID = createHash('sha256')
  .update(`${ENTRY}\n${process.version}\n${process.arch}`)
  .digest('hex')
  .slice(0, 16);

interface Manifest {
  bundle: string;
  /** Null when the warm-up run could not write one: the process then compiles as usual. */
  codeCache: string | null;
  inputs: Record<string, string>;
}

/** Bundles and caches nobody's manifest names, older than this, are removed. */
const PRUNE_AFTER_MS = 24 * 60 * 60 * 1000;

/** The package directories of `roots` and of everything they depend on. */
function packageClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const visit = (pkg: string, from: string): void => {
    let dir: string;
    try {
      dir = dirname(createRequire(from).resolve(`${pkg}/package.json`));
    } catch {
      return; // an optional dependency that is not installed
    }
    if (seen.has(dir)) return;
    seen.add(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      visit(dep, join(dir, 'package.json'));
    }
  };
  for (const pkg of roots) visit(pkg, ENTRY);
  return [...seen];
}

function cacheDirFor(externals: string[]): string {
  const first = externals[0] ?? '';
  const at = first.lastIndexOf(`${sep}node_modules${sep}`);
  if (at < 0) throw new Error('cannot locate the node_modules that holds the instance bundle');
  return join(first.slice(0, at), 'node_modules', '.cache', 'self-instance');
}

function fingerprint(path: string): string {
  const s = statSync(path);
  return `${s.size}:${s.mtimeMs}`;
}

function readManifest(path: string): Manifest | null {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    for (const [input, print] of Object.entries(m.inputs)) if (fingerprint(input) !== print) return null;
    statSync(m.bundle);
    if (m.codeCache !== null) statSync(m.codeCache);
    return m;
  } catch {
    return null;
  }
}

function writeAtomically(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

let building: Promise<InstanceProcessCommand> | null = null;

/** How to start the instance process: built on first use in this process, on disk only when needed. */
export function instanceProcessCommand(): Promise<InstanceProcessCommand> {
  building ??= build().catch((err: unknown) => {
    building = null;
    throw err;
  });
  return building;
}

async function build(): Promise<InstanceProcessCommand> {
  const externals = packageClosure(EXTERNAL_PACKAGES);
  const cacheDir = writableCacheDir(cacheDirFor(externals));
  const readPaths = [LOADER, cacheDir, ...externals];
  const manifestPath = join(cacheDir, `manifest-${BUILD_ID}.json`);
  const command = (m: Manifest): InstanceProcessCommand => ({
    args: [LOADER, m.bundle, ...(m.codeCache === null ? [] : [m.codeCache])],
    readPaths,
  });
  const cached = readManifest(manifestPath);
  if (cached !== null) return command(cached);

  const { bundle, inputs } = await bundleSources(cacheDir);
  const codeCache = `${bundle}.${BUILD_ID}.v8cache`;
  const warm = await warmUp(bundle, codeCache).then(
    () => true,
    () => false,
  );
  const manifest: Manifest = { bundle, codeCache: warm ? codeCache : null, inputs };
  writeAtomically(manifestPath, JSON.stringify(manifest));
  prune(cacheDir);
  return command(manifest);
}

/**
 * node_modules/.cache/self-instance where it can be written, else a directory of this user's under
 * the system temp dir. From there the bundle still loads (its native imports are absolute paths);
 * only crypto's optional PQClean binding is not found, so ML-DSA signs with noble instead.
 */
function writableCacheDir(preferred: string): string {
  for (const dir of [preferred, join(tmpdir(), `self-instance-${process.getuid?.() ?? 'user'}`)]) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      accessSync(dir, constants.W_OK);
      return dir;
    } catch {
      // try the next
    }
  }
  throw new Error(`no writable directory for the instance bundle (tried ${preferred} and the temp dir)`);
}

/** Removes bundles and code caches no manifest names once they are a day old (never one in use). */
function prune(cacheDir: string): void {
  try {
    const names = readdirSync(cacheDir);
    const kept = new Set<string>();
    for (const name of names.filter((n) => n.startsWith('manifest-'))) {
      try {
        const m = JSON.parse(readFileSync(join(cacheDir, name), 'utf8')) as Manifest;
        kept.add(m.bundle);
        if (m.codeCache !== null) kept.add(m.codeCache);
      } catch {
        // a manifest being written: its files are new, so too young to prune anyway
      }
    }
    const cutoff = Date.now() - PRUNE_AFTER_MS;
    for (const name of names.filter((n) => n.startsWith('instance-'))) {
      const path = join(cacheDir, name);
      if (!kept.has(path) && statSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
    }
  } catch {
    // pruning is housekeeping: never fail a build over it
  }
}

async function bundleSources(cacheDir: string): Promise<{ bundle: string; inputs: Record<string, string> }> {
  const esbuild = await import('esbuild');
  const externalRe = new RegExp(`^(${EXTERNAL_PACKAGES.map((p) => p.replace(/[.-]/g, '\\$&')).join('|')})$`);
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    // CommonJS, so that the loader can run it as a vm.Script with a code cache.
    format: 'cjs',
    target: 'node20',
    write: false,
    metafile: true,
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'import.meta.url': '__selfBundleUrl' },
    banner: { js: "var __selfBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [
      {
        name: 'absolute-externals',
        setup(b) {
          // Models run in the inference service, never in an instance: a runtime in this bundle is a
          // wrong import (the instance uses @self/ai/client).
          b.onResolve({ filter: /^(node-llama-cpp|@node-llama-cpp\/)/ }, (args) => ({
            errors: [{ text: `${args.importer} pulls in ${args.path}; instances import @self/ai/client` }],
          }));
          b.onResolve({ filter: externalRe }, (args) => ({
            path: createRequire(join(args.resolveDir, 'index.js')).resolve(args.path),
            external: true,
          }));
        },
      },
    ],
  });
  const out = result.outputFiles[0];
  if (out === undefined) throw new Error('esbuild produced no instance bundle');
  const hash = createHash('sha256').update(out.contents).digest('hex').slice(0, 16);
  const bundle = join(cacheDir, `instance-${hash}.cjs`);
  writeAtomically(bundle, out.contents);
  const inputs: Record<string, string> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = resolve(process.cwd(), input);
    try {
      inputs[path] = fingerprint(path);
    } catch {
      // not a file on disk: nothing to watch
    }
  }
  return { bundle, inputs };
}

/**
 * Runs the bundle once against a throwaway instance, up to its ready line, so that the code cache
 * it writes at exit holds what a start compiles.
 */
async function warmUp(bundle: string, codeCache: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'self-warmup-'));
  try {
    const hostKey = generateHostKey();
    Instance.create({
      dir: join(dir, 'i'),
      instanceId: 'warmup',
      did: 'did:self:self1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq',
      tier: 'free',
      mode: 'always-on',
      personPublicKey: generateHybridKemKeyPair().publicKey,
      hostKey,
    }).close();
    const child = spawn(process.execPath, [LOADER, bundle, codeCache], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, SELF_WRITE_CODE_CACHE: '1' },
    });
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.stdin.write(
      `${JSON.stringify({ dir: join(dir, 'i'), hostKey: toHex(hostKey), chain: null, logLevel: 'silent' })}\n`,
    );
    await new Promise<void>((done) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').some((line) => parseReadyEvent(line) !== null)) done();
      });
      void exited.then(() => done());
    });
    child.stdin.end();
    await exited;
    statSync(codeCache); // the warm-up must have written it
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
