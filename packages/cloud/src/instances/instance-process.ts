import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { toHex } from '@self/crypto';
import {
  parseReadyEvent,
  type AiConnection,
  type AppTokenConfig,
  type AnchorSchedule,
  type ChainConnection,
  type InstanceProcessCommand,
  type ProcessLogLevel,
  type ReadyEvent,
} from '@self/instance';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import { ProvisionerError } from './errors.js';
import type { Sandbox } from './sandbox.js';

/**
 * One instance process (packages/instance/src/process/protocol.ts) and the connection pool to its
 * Unix socket. It is spawned idle, before it is needed (a spare: node started, code loaded, no
 * secret yet), and configured when a request needs an instance: its config, host key included,
 * goes on stdin only. Stopping ends its stdin, which the process takes as "close the instance and
 * exit" (a signal would reach only the sandbox's monitor under bubblewrap); one that does not exit
 * in time is killed.
 */

export interface SpawnOptions {
  /** The directory the process may write: bound into its sandbox, and its working directory. */
  workDir: string;
  command: InstanceProcessCommand;
  sandbox: Sandbox;
  env: Record<string, string>;
  logger: Logger;
}

export interface ConfigureOptions {
  did: string;
  /** The instance directory, inside workDir. */
  dir: string;
  hostKey: Uint8Array;
  chain: ChainConnection | null;
  anchor: AnchorSchedule;
  endpoint: string | null;
  logLevel: ProcessLogLevel;
  /** The private AI this instance may use (its key is a secret: stdin only). */
  ai: AiConnection | null;
  /** Who signs app access tokens, and its public keys; null: the instance refuses every app. */
  appTokens: AppTokenConfig | null;
  readyTimeoutMs: number;
}

export type ProcessState = 'idle' | 'starting' | 'running' | 'stopping' | 'exited';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface LogLine {
  level?: unknown;
  msg?: unknown;
  [field: string]: unknown;
}

/** Log lines kept to explain a process that failed to start. */
const KEPT_LOG_LINES = 8;
const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

export class InstanceProcess {
  state: ProcessState = 'idle';
  /** Set by stop(): the exit that follows is expected. */
  stopRequested = false;
  /** The DID it serves, once configured. */
  did: string | null = null;
  readonly exited: Promise<ProcessExit>;
  private pool: Pool | null = null;
  private readonly lastLines: string[] = [];
  private readonly stdoutLines: Interface;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly logger: Logger,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.state = 'exited';
        const pool = this.pool;
        this.pool = null;
        void pool?.destroy().catch(() => undefined);
        resolve({ code, signal });
      }),
    );
    // A dead process's pipes may report EPIPE; the exit handler has what matters.
    child.stdin.on('error', () => undefined);
    // Read from the start, so the pipe never fills; only the ready line means anything.
    this.stdoutLines = createInterface({ input: child.stdout });
    this.relayLogs();
  }

  /** Starts node (in the sandbox) with the instance code loaded, waiting for its config. */
  static spawnIdle(opts: SpawnOptions): InstanceProcess {
    const { file, args, env } = opts.sandbox.command({
      dir: opts.workDir,
      nodeArgs: opts.command.args,
      readPaths: opts.command.readPaths,
      env: opts.env,
    });
    const child = spawn(file, args, { cwd: opts.workDir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const proc = new InstanceProcess(child, opts.logger);
    // An idle process never keeps its parent alive; once it serves an instance, it does.
    proc.setRef(false);
    return proc;
  }

  /** The host pid of what was spawned (bubblewrap's, when sandboxed). */
  get pid(): number | null {
    return this.child.pid ?? null;
  }

  /** Hands an idle process its instance and waits for its ready line. */
  async configure(opts: ConfigureOptions): Promise<void> {
    if (this.state !== 'idle') {
      throw new ProvisionerError('unavailable', 'the instance process is gone; try again', { did: opts.did });
    }
    this.state = 'starting';
    this.did = opts.did;
    this.setRef(true);
    const config = {
      dir: opts.dir,
      hostKey: toHex(opts.hostKey),
      chain: opts.chain,
      anchor: opts.anchor,
      endpoint: opts.endpoint,
      logLevel: opts.logLevel,
      ai: opts.ai,
      appTokens: opts.appTokens,
    };
    this.child.stdin.write(`${JSON.stringify(config)}\n`);
    let ready: ReadyEvent;
    try {
      ready = await this.waitReady(opts);
    } catch (err) {
      this.child.kill('SIGKILL');
      await this.exited;
      throw err;
    }
    this.pool = new Pool('http://localhost', {
      socketPath: ready.socket,
      connections: 16,
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    this.state = 'running';
  }

  /** The connection pool to the instance's socket; null unless running. */
  connection(): Pool | null {
    return this.state === 'running' ? this.pool : null;
  }

  /** Closes stdin (a graceful stop), then kills the process if it is still there after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'exited') return;
    this.stopRequested = true;
    this.state = 'stopping';
    const pool = this.pool;
    this.pool = null;
    await pool?.close().catch(() => undefined);
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.state !== 'exited') this.child.kill('SIGKILL');
  }

  private setRef(ref: boolean): void {
    for (const handle of [this.child, this.child.stdin, this.child.stdout, this.child.stderr]) {
      const h = handle as { ref?: () => void; unref?: () => void };
      if (ref) h.ref?.();
      else h.unref?.();
    }
  }

  private waitReady(opts: ConfigureOptions): Promise<ReadyEvent> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string, exit?: ProcessExit): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const log = this.lastLines.join(' | ');
        reject(
          new ProvisionerError('unavailable', `the instance process ${why}; try again shortly`, {
            did: opts.did,
            ...(exit ? { exit_code: exit.code, signal: exit.signal } : {}),
            ...(log ? { log } : {}),
          }),
        );
      };
      const timer = setTimeout(
        () => fail(`did not become ready within ${opts.readyTimeoutMs} ms`),
        opts.readyTimeoutMs,
      );
      const onLine = (line: string): void => {
        const ready = parseReadyEvent(line);
        if (ready === null || settled) return;
        settled = true;
        clearTimeout(timer);
        this.stdoutLines.off('line', onLine);
        resolve(ready);
      };
      this.stdoutLines.on('line', onLine);
      void this.exited.then((exit) =>
        fail(`exited before it was ready (${exit.signal ?? `status ${exit.code}`})`, exit),
      );
    });
  }

  /** The process logs pino JSON on stderr; its lines go to our logger at their own level. */
  private relayLogs(): void {
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      let entry: LogLine | null;
      try {
        const parsed = JSON.parse(line) as unknown;
        entry = typeof parsed === 'object' && parsed !== null ? (parsed as LogLine) : null;
      } catch {
        entry = null;
      }
      const level = (entry && typeof entry.level === 'number' && PINO_LEVELS[entry.level]) || 'warn';
      const msg = entry && typeof entry.msg === 'string' ? entry.msg : line;
      this.lastLines.push(msg.slice(0, 300));
      if (this.lastLines.length > KEPT_LOG_LINES) this.lastLines.shift();
      const log = this.logger.child({ did: this.did, component: 'instance' });
      if (entry === null) log.warn(msg);
      else {
        const { level: _level, msg: _msg, time: _time, pid: _pid, hostname: _host, ...fields } = entry;
        log[level](fields, msg);
      }
    });
  }
}
