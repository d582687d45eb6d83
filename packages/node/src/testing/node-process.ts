import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StatusBody {
  chain_id: string;
  latest_block: { height: number; hash: string; timestamp: number | string };
  node_info: { peer_id: string; peer_count: number; syncing: boolean };
}

/**
 * One `self node` process (`bin` is the `self` CLI entry, packages/cli/bin/self.js), for tests
 * and benchmarks that need real processes. Its stderr (pino logs) is kept in memory so a failing test can show
 * what the node said; stdout carries the JSON `ready` line.
 */
export class NodeProcess {
  child: ChildProcess | null = null;
  logs = '';
  apiUrl: string;

  constructor(
    readonly bin: string,
    readonly home: string,
    apiUrl: string,
    private readonly opts: {
      netns?: string;
      extraArgs?: string[];
      env?: Record<string, string>;
      logLevel?: string;
      /** Node.js flags before the script (e.g. --cpu-prof for profiling). */
      nodeArgs?: string[];
    } = {},
  ) {
    this.apiUrl = apiUrl;
  }

  /** Starts the process and resolves when it prints its ready line. */
  start(): Promise<void> {
    const args = [
      ...(this.opts.nodeArgs ?? []),
      this.bin,
      '--json',
      'node',
      '--home',
      this.home,
      ...(this.opts.extraArgs ?? []),
    ];
    const [cmd, argv] = this.opts.netns
      ? ['ip', ['netns', 'exec', this.opts.netns, process.execPath, ...args]]
      : [process.execPath, args];
    const child = spawn(cmd, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SELF_LOG_LEVEL: this.opts.logLevel ?? 'warn', ...this.opts.env },
    });
    this.child = child;
    child.stderr!.on('data', (c: Buffer) => {
      this.logs += c.toString('utf8');
      if (this.logs.length > 200_000) this.logs = this.logs.slice(-100_000);
    });
    return new Promise((resolve, reject) => {
      let out = '';
      const onData = (c: Buffer): void => {
        out += c.toString('utf8');
        if (out.includes('"event":"ready"')) {
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) =>
        reject(new Error(`node ${this.home} exited (${code}) before ready:\n${this.logs}`)),
      );
    });
  }

  /** SIGKILL: a crash, no shutdown path runs. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM: graceful shutdown; resolves with the exit code. */
  async terminate(): Promise<number | null> {
    return this.signal('SIGTERM');
  }

  private signal(sig: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return Promise.resolve(child?.exitCode ?? null);
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill(sig);
    });
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async get<T>(path: string): Promise<T> {
    const res = await fetch(`${this.apiUrl}${path}`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async height(): Promise<number> {
    return (await this.get<StatusBody>('/v1/status')).latest_block.height;
  }

  async blockHash(height: number): Promise<string> {
    const b = await this.get<{ hash: string }>(`/v1/blocks/${height}`);
    return b.hash;
  }

  async metrics(): Promise<string> {
    const res = await fetch(`${this.apiUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return res.text();
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(
  what: string,
  ms: number,
  check: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${ms} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`,
  );
}

/** Waits until every given node has committed `height`. */
export function waitForHeight(nodes: NodeProcess[], height: number, ms = 60_000): Promise<void> {
  return waitFor(`height ${height} on ${nodes.length} nodes`, ms, async () => {
    const hs = await Promise.all(nodes.map((n) => n.height()));
    return hs.every((h) => h >= height) ? true : undefined;
  }).then(() => undefined);
}

/** Every height up to the lowest tip has one hash on all nodes: no fork. */
export async function assertNoFork(nodes: NodeProcess[]): Promise<number> {
  const tips = await Promise.all(nodes.map((n) => n.height()));
  const top = Math.min(...tips);
  for (let h = 1; h <= top; h++) {
    const hashes = new Set(await Promise.all(nodes.map((n) => n.blockHash(h))));
    if (hashes.size !== 1) throw new Error(`fork at height ${h}: ${[...hashes].join(' vs ')}`);
  }
  return top;
}

/** Edits a node home's config.json in place. */
export function editConfig(home: string, edit: (c: Record<string, unknown>) => void): void {
  const path = join(home, 'config.json');
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(config);
  writeFileSync(path, JSON.stringify(config, null, 2));
}
