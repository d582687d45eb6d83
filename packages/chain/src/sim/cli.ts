/**
 * `npm run sim -- --validators 7 --heights 200 --seed 42 --drop 0.1 --crash 2 --byzantine 1`
 * Runs the deterministic network simulator, prints progress, then one last line of JSON.
 * Exits 1 when an invariant broke (safety always; liveness when faults stayed within f).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SimCluster, type SimOptions } from './cluster.js';

const HELP = `usage: npm run sim -- [options]

Runs N SELF Chain validators in one process over a simulated network with a seeded scheduler.
The same seed gives the same run.

options:
  --validators N   validators (default 4)
  --heights N      heights to commit (default 100)
  --seed N         PRNG seed (default 1)
  --drop P         message loss probability, 0..0.5 (default 0)
  --dup P          message duplication probability (default 0.02)
  --delay A-B      message delay range in ms (default 5-60)
  --crash N        honest validators that crash and restart from disk (default 0)
  --byzantine N    Byzantine validators (default 0)
  --partitions N   network partitions during the fault phase (default 0)
  --tx-rate N      client transfers per simulated second (default 20)
  --committee N    committee size drawn each height by sortition (default 0: every validator)
  --sig S          validator signatures: ed25519 (default: fast, the subject here is consensus)
                   or hybrid (Ed25519 + ML-DSA-65, as on the real chain)
  --data DIR       keep the validators' SQLite files here (default: a temp dir, removed after)
  --quiet          no progress lines
  -h, --help       this help
`;

function fail(message: string): never {
  console.error(`sim: ${message}\nRun with --help for usage.`);
  process.exit(2);
}

function int(name: string, value: string | undefined, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

function prob(name: string, value: string | undefined, def: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 0.5) fail(`--${name} must be a probability from 0 to 0.5`);
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      validators: { type: 'string' },
      heights: { type: 'string' },
      seed: { type: 'string' },
      drop: { type: 'string' },
      dup: { type: 'string' },
      delay: { type: 'string' },
      crash: { type: 'string' },
      byzantine: { type: 'string' },
      partitions: { type: 'string' },
      'tx-rate': { type: 'string' },
      committee: { type: 'string' },
      sig: { type: 'string' },
      data: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

const validators = int('validators', args.validators, 4, 1, 64);
const delay = (args.delay ?? '5-60').split('-').map(Number);
if (delay.length !== 2 || !delay.every((d) => Number.isInteger(d) && d >= 0) || delay[0]! > delay[1]!) {
  fail('--delay must look like 5-60 (milliseconds)');
}
const sig = args.sig ?? 'ed25519';
if (sig !== 'hybrid' && sig !== 'ed25519') fail('--sig must be hybrid or ed25519');
const dataDir = args.data ?? mkdtempSync(join(tmpdir(), 'self-sim-'));

const opts: SimOptions = {
  validators,
  heights: int('heights', args.heights, 100, 1, 1_000_000),
  seed: int('seed', args.seed, 1, 0, 0xffffffff),
  drop: prob('drop', args.drop, 0),
  duplicate: prob('dup', args.dup, 0.02),
  minDelayMs: delay[0]!,
  maxDelayMs: delay[1]!,
  crash: int('crash', args.crash, 0, 0, validators),
  byzantine: int('byzantine', args.byzantine, 0, 0, validators),
  partitions: int('partitions', args.partitions, 0, 0, 1000),
  txRate: int('tx-rate', args['tx-rate'], 20, 0, 100_000),
  committee: int('committee', args.committee, 0, 0, validators),
  scheme: sig === 'ed25519' ? 'ed25519' : 'hybrid-ed25519-ml-dsa-65',
  dataDir,
};
if (opts.crash + opts.byzantine >= validators) fail('at least one validator must stay honest and up');

const quiet = args.quiet === true;
let nextMark = 0;
opts.onProgress = (height, target) => {
  if (quiet || height < nextMark) return;
  nextMark = height + Math.max(1, Math.floor(target / 10));
  console.log(`sim: height ${height}/${target}`);
};
if (!quiet) {
  const f = Math.floor((validators - 1) / 3);
  console.log(
    `sim: ${validators} validators (f=${f}), ${opts.heights} heights, seed ${opts.seed}, drop ${opts.drop}, ` +
      `crash ${opts.crash}, byzantine ${opts.byzantine}, partitions ${opts.partitions}, ${sig} signatures`,
  );
}

const report = new SimCluster(opts).run();
if (!args.data) rmSync(dataDir, { recursive: true, force: true });
for (const v of report.violations) console.log(`sim: VIOLATION ${v}`);
const livenessOk =
  !report.faults_within_f || (report.liveness_stalls === 0 && report.heights_committed >= opts.heights);
const ok = report.safety_violations === 0 && livenessOk;
if (!quiet) {
  console.log(
    `sim: ${ok ? 'OK' : 'FAILED'}: ${report.heights_committed} heights, ${report.forks} forks, max round ${report.max_round}, ` +
      `${report.crashes} crashes, ${report.equivocators_slashed}/${report.equivocators_detected} equivocators slashed, ` +
      `${report.txs_committed} txs, ${report.sim_ms} ms simulated in ${report.wall_ms} ms`,
  );
}
const { violations: _v, ...figures } = report;
console.log(JSON.stringify(figures));
process.exit(ok ? 0 : 1);
