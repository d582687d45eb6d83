import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * HTTP load from autocannon run as a child process, so the load generator does not share an event
 * loop with the server under test (it still shares the machine's cores: every figure that matters is
 * a ratio against a baseline loaded the same way in the same run).
 */
const AUTOCANNON = fileURLToPath(new URL('../../../node_modules/autocannon/autocannon.js', import.meta.url));

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'PUT' | 'POST' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  seconds: number;
  connections: number;
  pipelining?: number;
}

export interface LoadResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** Responses outside 2xx, and socket errors and timeouts. */
  non2xx: number;
  errors: number;
  requests: number;
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

export function httpLoad(opts: LoadOptions): Promise<LoadResult> {
  const args = [
    AUTOCANNON,
    '--json',
    '--connections',
    String(opts.connections),
    '--duration',
    String(opts.seconds),
    '--pipelining',
    String(opts.pipelining ?? 1),
    '--method',
    opts.method ?? 'GET',
  ];
  for (const [name, value] of Object.entries(opts.headers ?? {})) args.push('--headers', `${name}=${value}`);
  if (opts.body !== undefined) args.push('--body', opts.body);
  args.push(opts.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err.slice(-2000)}`));
      const r = JSON.parse(out) as AutocannonJson;
      resolve({
        rps: r.requests.total / opts.seconds,
        p50_ms: r.latency.p50,
        p99_ms: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors + r.timeouts,
        requests: r.requests.total,
      });
    });
  });
}
