/**
 * `npm run bench -- instance [--signups 8] [--seconds 8] [--connections 32] [--cold 20]
 *   [--provisioned 10000] [--active 200] [--skip-density]`
 *
 * 1. The product as people meet it: `self up` (4 validators, the gateway, the instance manager) in
 *    a child process. Sign-ups through POST /v1/signup, each including the sponsor's funding and
 *    did.create's finality (signup_p50_ms); authenticated, encrypted, audited GET and PUT through
 *    the gateway to one person's instance process (get_rps, put_rps), against a bare Fastify route
 *    loaded the same way in the same run (baseline_rps); cold starts: the operator stops the
 *    instance, then one request is timed (cold_start_p99_ms).
 * 2. Density: a LocalProvisioner in this process provisions `--provisioned` instances, then starts
 *    `--active` of them (one request each) and reports their memory.
 * 3. Encryption cost: the same single-row upsert workload on a SQLCipher database (the instance's
 *    settings) and on a plain SQLite database (encrypted_over_plain_write_ratio = encrypted rate /
 *    plain rate).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3-multiple-ciphers';
import {
  didFromAddress,
  encodeAddress,
  identityFromSeed,
  sha256,
  sha512,
  utf8,
  type DeviceIdentity,
} from '@self/crypto';
import { openInstanceDatabase } from '@self/instance';
import { LocalProvisioner } from '@self/cloud';
import { httpLoad } from './lib/http-load.js';
import { signupTransaction } from './lib/self-up.js';
import { median, round } from './lib/timing.js';

const BIN = fileURLToPath(new URL('../../packages/cli/bin/self.js', import.meta.url));

const { values: args } = parseArgs({
  options: {
    signups: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '32' },
    cold: { type: 'string', default: '20' },
    provisioned: { type: 'string', default: '10000' },
    active: { type: 'string', default: '200' },
    'skip-density': { type: 'boolean', default: false },
  },
});
const signups = Number(args.signups);
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const coldRuns = Number(args.cold);
const provisionedTarget = Number(args.provisioned);
const activeTarget = Number(args.active);

const p = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

// ---- 1. `self up` in a child process
const dataDir = mkdtempSync(join(tmpdir(), 'self-bench-instance-'));
// BENCH_UP_NODE_ARGS: Node.js flags for the `self up` process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
const upNodeArgs = (process.env.BENCH_UP_NODE_ARGS ?? '').split(' ').filter(Boolean);
const up = spawn(
  process.execPath,
  [...upNodeArgs, BIN, '--json', 'up', '--data', dataDir, '--port', '0', '--no-rate-limit'],
  {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SELF_LOG_LEVEL: 'warn' },
  },
);
let upLogs = '';
up.stderr!.on('data', (c: Buffer) => (upLogs = (upLogs + c.toString('utf8')).slice(-20_000)));
const ready = await new Promise<{ api_url: string; operator_token_file: string }>((resolve, reject) => {
  let out = '';
  const onData = (c: Buffer): void => {
    out += c.toString('utf8');
    for (const line of out.split('\n')) {
      if (line.includes('"event":"ready"')) {
        up.stdout!.off('data', onData);
        resolve(JSON.parse(line) as { api_url: string; operator_token_file: string });
      }
    }
  };
  up.stdout!.on('data', onData);
  up.once('exit', (code) => reject(new Error(`self up exited (${code}):\n${upLogs}`)));
});
up.stdout!.resume();
const url = ready.api_url;
const operatorToken = readFileSync(ready.operator_token_file, 'utf8').trim();
const status = (await (await fetch(`${url}/v1/status`)).json()) as { chain_id: string };
console.log(`self up at ${url} (chain ${status.chain_id})`);

const children: ChildProcess[] = [up];
const cleanup = (): void => {
  for (const c of children) c.kill('SIGTERM');
};
process.on('exit', cleanup);

async function postJson(
  path: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

// ---- 1a. Sign-ups (identities derived before the clock starts: that is the device's work)
const people: DeviceIdentity[] = [];
for (let i = 0; i < signups; i++) people.push(identityFromSeed(sha512(utf8(`bench-person-${i}-${dataDir}`))));
const signupMs: number[] = [];
const sessions: Array<{ did: string; token: string }> = [];
for (const person of people) {
  const transaction = signupTransaction(status.chain_id, person);
  const t0 = performance.now();
  const res = await postJson('/v1/signup', { tier: 'pro', transaction });
  signupMs.push(performance.now() - t0);
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${JSON.stringify(res.json)}`);
  const body = res.json as { did: string; session: { token: string } };
  sessions.push({ did: body.did, token: body.session.token });
}
signupMs.sort((a, b) => a - b);
console.log(
  `sign-up: p50 ${round(median(signupMs))} ms, max ${round(signupMs.at(-1)!)} ms (${signups} people)`,
);

// ---- 1b. Throughput through the gateway, and a bare Fastify baseline
const me = sessions[0]!;
const auth = { authorization: `Bearer ${me.token}` };
const value = randomBytes(96).toString('hex');
const put = await fetch(`${url}/v1/i/${me.did}/data/notes/bench`, {
  method: 'PUT',
  headers: { ...auth, 'content-type': 'text/plain' },
  body: value,
});
if (put.status !== 200 && put.status !== 201)
  throw new Error(`PUT failed: ${put.status} ${await put.text()}`);

const baselineServer = spawn(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import Fastify from 'fastify';
     const app = Fastify();
     app.get('/baseline', async () => ({ ok: true }));
     const addr = await app.listen({ host: '127.0.0.1', port: 0 });
     console.log(addr);`,
  ],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: fileURLToPath(new URL('../../packages/cloud/', import.meta.url)),
  },
);
children.push(baselineServer);
const baselineUrl = await new Promise<string>((resolve) =>
  baselineServer.stdout!.once('data', (c: Buffer) => resolve(c.toString('utf8').trim())),
);

const baseline = await httpLoad({ url: `${baselineUrl}/baseline`, seconds, connections });
console.log(`baseline (bare Fastify GET): ${round(baseline.rps)} req/s, p99 ${baseline.p99_ms} ms`);
const gets = await httpLoad({
  url: `${url}/v1/i/${me.did}/data/notes/bench`,
  headers: auth,
  seconds,
  connections,
});
console.log(
  `GET via gateway: ${round(gets.rps)} req/s, p50 ${gets.p50_ms} ms, p99 ${gets.p99_ms} ms, non-2xx ${gets.non2xx}`,
);
const puts = await httpLoad({
  url: `${url}/v1/i/${me.did}/data/notes/bench-put`,
  method: 'PUT',
  headers: { ...auth, 'content-type': 'text/plain' },
  body: value,
  seconds,
  connections,
});
console.log(
  `PUT via gateway: ${round(puts.rps)} req/s, p50 ${puts.p50_ms} ms, p99 ${puts.p99_ms} ms, non-2xx ${puts.non2xx}`,
);

// ---- 1c. Cold starts: the operator stops the instance; the next request starts it. Runs are a
// second apart, so each finds the provisioner as a stopped instance would: its warm spare ready.
const coldMs: number[] = [];
for (let i = 0; i < coldRuns; i++) {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const stop = await fetch(`${url}/v1/admin/instances/${me.did}/stop`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}` },
  });
  if (stop.status !== 200) throw new Error(`stop failed: ${stop.status} ${await stop.text()}`);
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/i/${me.did}/data/notes/bench`, { headers: auth });
  await res.arrayBuffer();
  coldMs.push(performance.now() - t0);
  if (res.status !== 200) throw new Error(`cold GET failed: ${res.status}`);
}
coldMs.sort((a, b) => a - b);
console.log(
  `cold start: p50 ${round(median(coldMs))} ms, p99 ${round(p(coldMs, 0.99))} ms (${coldRuns} runs)`,
);

cleanup();
children.length = 0;

// ---- 2. Density
let provisioned = 0;
let active = 0;
let activeRssMb = 0;
let provisionPerSecond = 0;
let memAvailableMb = 0;
let activeMemDeltaMb = 0;

function memAvailableKb(): number {
  const m = readFileSync('/proc/meminfo', 'utf8').match(/MemAvailable:\s+(\d+) kB/);
  return m ? Number(m[1]) : 0;
}

/** VmRSS of `pid` and all its descendants, in KiB (0 for processes gone meanwhile). */
function treeRssKb(pid: number): number {
  let total = 0;
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    total += m ? Number(m[1]) : 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ') : []) total += treeRssKb(Number(child));
    }
  } catch {
    // exited between the listing and here
  }
  return total;
}
if (!args['skip-density']) {
  const root = join(dataDir, 'density');
  const provisioner = new LocalProvisioner({
    root,
    hostKey: randomBytes(32),
    chain: null,
    publicUrl: 'http://127.0.0.1:1',
    idleMs: 60 * 60_000,
  });
  const personKey = people[0]!.encryptionPublicKey;
  const densityDid = (i: number): string =>
    didFromAddress(encodeAddress(sha256(utf8(`density-${i}`)).subarray(0, 20)));
  const t0 = performance.now();
  for (let i = 0; i < provisionedTarget; i++) {
    await provisioner.provision({
      did: densityDid(i),
      tier: 'free',
      mode: 'always-on',
      personEncryptionKey: personKey,
    });
    provisioned++;
    if (provisioned % 1000 === 0) console.log(`  provisioned ${provisioned}`);
  }
  provisionPerSecond = provisioned / ((performance.now() - t0) / 1000);
  console.log(`provisioned ${provisioned} instances (${round(provisionPerSecond)}/s)`);
  const availableBefore = memAvailableKb();
  const headers = { 'x-self-actor': 'person', 'x-self-did': '' };
  for (let i = 0; i < Math.min(activeTarget, provisioned); i++) {
    const did = densityDid(i);
    const res = await provisioner.forward(did, {
      method: 'GET',
      path: '/v1/usage',
      headers: { ...headers, 'x-self-did': did },
    });
    if (res.status !== 200) throw new Error(`density GET ${did}: ${res.status}`);
    if ((i + 1) % 50 === 0) console.log(`  started ${i + 1}`);
  }
  const running = (await provisioner.list()).filter((s) => s.state === 'running');
  active = running.length;
  // A sandboxed instance's pid is bubblewrap's: its memory is that process and its descendants.
  for (const s of running) if (s.pid !== null) activeRssMb += treeRssKb(s.pid) / 1024;
  memAvailableMb = freemem() / 2 ** 20;
  activeMemDeltaMb = (availableBefore - memAvailableKb()) / 1024;
  console.log(
    `active ${active} instance processes: ${round(activeRssMb)} MiB RSS in all (${round(activeRssMb / Math.max(1, active))} MiB each, shared pages counted in each); available memory fell by ${round(activeMemDeltaMb)} MiB; ${round(memAvailableMb)} of ${round(totalmem() / 2 ** 20)} MiB free`,
  );
  await provisioner.close();
}

// ---- 3. Encryption cost at the database
function writeRate(db: Database.Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BLOB NOT NULL)');
  const upsert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v');
  const v = randomBytes(1024);
  const n = 5_000;
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) upsert.run(`key-${i % 2000}`, v);
    best = Math.max(best, n / ((performance.now() - t0) / 1000));
  }
  return best;
}
const encDb = openInstanceDatabase(join(dataDir, 'enc.db'), randomBytes(32));
const plainDb = new Database(join(dataDir, 'plain.db'));
for (const pragma of [
  'journal_mode = WAL',
  'synchronous = NORMAL',
  'cache_size = -65536',
  'temp_store = MEMORY',
])
  plainDb.pragma(pragma);
const plainRate = writeRate(plainDb);
const encRate = writeRate(encDb as unknown as Database.Database);
encDb.close();
plainDb.close();
console.log(
  `1 KiB upserts, one per transaction: SQLCipher ${round(encRate)}/s, plain SQLite ${round(plainRate)}/s (ratio ${round(encRate / plainRate, 2)})`,
);

rmSync(dataDir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bench: 'instance',
    signup_p50_ms: round(median(signupMs)),
    signup_max_ms: round(signupMs.at(-1)!),
    cold_start_p50_ms: round(median(coldMs)),
    cold_start_p99_ms: round(p(coldMs, 0.99)),
    get_rps: round(gets.rps),
    put_rps: round(puts.rps),
    get_p99_ms: gets.p99_ms,
    put_p99_ms: puts.p99_ms,
    baseline_rps: round(baseline.rps),
    get_over_baseline: round(gets.rps / baseline.rps, 3),
    put_over_baseline: round(puts.rps / baseline.rps, 3),
    encrypted_over_plain_write_ratio: round(encRate / plainRate, 3),
    instances_provisioned: provisioned,
    instances_active: active,
    active_rss_mb_each: round(activeRssMb / Math.max(1, active)),
    active_mem_delta_mb: round(activeMemDeltaMb),
    provision_per_s: round(provisionPerSecond),
    mem_available_mb: round(memAvailableMb),
  }),
);
process.exit(0);
