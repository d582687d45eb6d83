import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Running the real `self` command in tests: one-shot commands (blocking or not) with a device home
 * of their own, and `self up` in the background until its ready line.
 */

export const SELF_BIN = fileURLToPath(new URL('../../bin/self.js', import.meta.url));

export interface Run {
  status: number | null;
  out: string;
  err: string;
}

/** The environment of a device: its home, its passphrase, the server it talks to. */
export interface Device {
  home: string;
  passphrase: string;
  /** Read at each run: the server's URL is known only once `self up` is ready. */
  server: () => string;
}

function deviceEnv(d: Device, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SELF_HOME: d.home,
    SELF_PASSPHRASE: d.passphrase,
    SELF_SERVER: d.server(),
    ...extra,
  };
}

/** `self …` to its end, with no input (a prompt sees EOF). */
export function runSelf(d: Device, args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [SELF_BIN, ...args], {
    input: '',
    env: deviceEnv(d, env),
    timeout: 180_000,
  });
  return { status: r.status, out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8') };
}

/** Like runSelf, without blocking this process (for commands that talk to a server this test runs). */
export function runSelfAsync(d: Device, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: deviceEnv(d),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, out, err }));
  });
}

/** The run, or an error with its output when it did not exit 0. */
export function ok(r: Run): Run {
  if (r.status !== 0) throw new Error(`exit ${r.status}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r;
}

export const json = <T = Record<string, unknown>>(r: Run): T => JSON.parse(ok(r).out) as T;

export interface SelfUp {
  /** The gateway's URL from the ready line. */
  url: string;
  /** The ready line, parsed. */
  ready: Record<string, unknown>;
  /** The last 20 kB of its stderr. */
  log(): string;
  /** SIGTERM, then waits for it to exit. */
  stop(): Promise<void>;
}

/** `self --json up --data <dataDir> …args` in the background, once it printed its ready line. */
export async function startSelfUp(dataDir: string, args: string[]): Promise<SelfUp> {
  const proc: ChildProcess = spawn(process.execPath, [SELF_BIN, '--json', 'up', '--data', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SELF_LOG_LEVEL: 'warn' },
  });
  let log = '';
  proc.stderr!.on('data', (c: Buffer) => (log = (log + c.toString('utf8')).slice(-20_000)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffer = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.includes('"event":"ready"')) resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    proc.once('exit', (code) => reject(new Error(`self up exited (${code}) before it was ready:\n${log}`)));
  });
  return {
    url: ready.api_url as string,
    ready,
    log: () => log,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const closed = new Promise((resolve) => proc.once('close', resolve));
      proc.kill('SIGTERM');
      await closed;
    },
  };
}
