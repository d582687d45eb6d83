import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ServeConfig } from './config.js';

export interface SpawnedInferenceService {
  url: string;
  key: string;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs` (default 5000). */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** Called once when the process exits, with the tail of its stderr. */
  onExit?: (code: number | null, signal: NodeJS.Signals | null, stderrTail: string) => void;
  /** Each stderr line (pino JSON), e.g. to forward the logs. */
  onLog?: (line: string) => void;
  /** How long to wait for the ready line (default 60 000 ms). */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const STDERR_TAIL = 16 * 1024;

/** tsx's loader, resolved from this package: the service runs from its TypeScript sources. */
function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

/**
 * Runs `self-ai serve` as a child process: writes the config line (key included; generated when
 * absent) on its stdin, which stays open (closing it, or this process dying, stops the child),
 * and resolves once it prints its ready line. Rejects if it exits or stays silent first, with the
 * tail of its stderr.
 */
export function spawnInferenceService(
  config: Omit<ServeConfig, 'key'> & { key?: string },
  opts: SpawnOptions = {},
): Promise<SpawnedInferenceService> {
  const key = config.key ?? randomBytes(32).toString('base64url');
  const child = spawn(process.execPath, ['--import', tsxLoader(), MAIN, 'serve'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true', ...opts.env },
  });
  let stderr = '';
  let pendingLine = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stderr = (stderr + text).slice(-STDERR_TAIL);
    if (opts.onLog) {
      const lines = (pendingLine + text).split('\n');
      pendingLine = lines.pop() ?? '';
      for (const line of lines) if (line !== '') opts.onLog(line);
    }
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      opts.onExit?.(code, signal, stderr);
      resolve();
    });
  });
  child.stdin?.on('error', () => undefined); // the child may be gone before we write
  child.stdin?.write(`${JSON.stringify({ ...config, key })}\n`);

  const stop = async (graceMs = 5000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  return new Promise((resolve, reject) => {
    let out = '';
    const fail = (message: string): void => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${message}\n--- self-ai stderr (tail) ---\n${stderr.slice(-4000)}`));
    };
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      let nl: number;
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let event: { event?: string; url?: string; message?: string };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          continue;
        }
        if (event.event === 'ready' && typeof event.url === 'string') {
          cleanup();
          resolve({ url: event.url, key, process: child, stop });
          return;
        }
        if (event.event === 'error')
          return fail(`self-ai failed to start: ${event.message ?? 'unknown error'}`);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(`self-ai exited (${signal ?? code}) before it was ready`);
    const timer = setTimeout(
      () => fail(`self-ai did not become ready within ${opts.readyTimeoutMs ?? 60_000} ms`),
      opts.readyTimeoutMs ?? 60_000,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      // Nothing more is read from stdout; keep it flowing so the child never blocks on it.
      child.stdout?.resume();
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
