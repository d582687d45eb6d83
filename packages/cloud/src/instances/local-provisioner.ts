import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDid } from '@self/crypto';
import {
  DEFAULT_ANCHOR_SCHEDULE,
  EXIT_DAMAGED,
  Instance,
  isInstanceError,
  readInstanceFile,
  readKeyFile,
  type AiConnection,
  type AnchorSchedule,
  type ChainConnection,
  type ProcessLogLevel,
} from '@self/instance';
import { pino, type Logger } from 'pino';
import { TIER_CONFIG } from '../config/tiers.js';
import { checkRequest, checkSpec } from './checks.js';
import { diskUsage } from './disk-usage.js';
import { ProvisionerError } from './errors.js';
import { RETRYABLE_METHODS, neverDelivered, sendToInstance } from './forward.js';
import {
  SOCKET_SUFFIX_BYTES,
  instanceIdFor,
  moveHome,
  moveIntoSlot,
  recoverRunDirs,
  removeSlot,
} from './instance-dirs.js';
import type { InstanceProcess } from './instance-process.js';
import { chooseSandbox, type Sandbox, type SandboxMode } from './sandbox.js';
import { SpareProcesses } from './spare-processes.js';
import type {
  InstanceRequest,
  InstanceResponse,
  InstanceSpec,
  InstanceState,
  InstanceStatus,
  Placement,
  AppTokenIssuer,
  Provisioner,
  Tier,
} from './types.js';

/**
 * Runs people's instances as processes on this machine: the instance manager of design §5.
 *
 * - provision() creates the instance at `<root>/inst-<16 hex of SHA-256(DID)>` with Instance.create
 *   (data key wrapped to the person and, in always-on mode, the host key; instance key generated)
 *   and closes it: nothing runs until a request comes.
 * - forward() starts the instance's process on demand: a spare process (spare-processes.ts; node
 *   and the code already loaded, in a bubblewrap sandbox where available, sandbox.ts) receives the
 *   instance (instance-dirs.ts) and its config, then the request goes over its Unix socket through a
 *   keep-alive undici Pool. A process that crashed or was killed is started again on the next
 *   request; a request that never reached it (socket gone, connection refused) is sent again once,
 *   and so is a read whose process died while answering. A write whose process died mid-way is
 *   answered `unavailable`: it may or may not have committed, and only the caller may retry it.
 * - Processes idle for `idleMs` are stopped; at most `maxActive` run at once (starting another
 *   stops the least recently used idle one).
 * - Sovereign instances never start here (`locked`): their data key opens only with the person's
 *   key. An instance whose database fails its integrity check stays stopped (`damaged`).
 */

export interface LocalProvisionerOptions {
  /** Where instance directories live (created 0700). Keep it short: socket paths are limited to 107 bytes. */
  root: string;
  /** The host sealing key (32 bytes): wraps always-on instances' data keys; passed to processes on stdin. */
  hostKey: Uint8Array;
  /** The chain instances anchor to and announce on; null or absent: no anchoring. */
  chain?: ChainConnection | null;
  /** The gateway's public URL; an instance's endpoint is `${publicUrl}/v1/i/${did}`. */
  publicUrl: string;
  /** Stop a process after this long without requests (default 5 min). */
  idleMs?: number;
  /** `auto` (default): bubblewrap when it works here, else none. */
  sandbox?: SandboxMode;
  /** Most processes running at once (default unlimited). */
  maxActive?: number;
  /** Idle processes kept ready for cold starts: 1 (default) or 0. */
  spares?: number;
  logger?: Logger;
  /** Anchoring schedule handed to each process (default every 5 s, from 1 entry). */
  anchor?: Partial<AnchorSchedule>;
  /** Log level of the instance processes (default warn). */
  logLevel?: ProcessLogLevel;
  /** Extra environment for the processes (they get a minimal one: PATH only). No secrets here. */
  env?: Record<string, string>;
  /** How long a process may take to print its ready line (default 15 s). */
  readyTimeoutMs?: number;
  /** How long a stopping process may take before it is killed (default 5 s). */
  stopGraceMs?: number;
  /** The private AI instances may use; null or absent: none (the instance answers 503 ai_unavailable). */
  ai?: CloudAiConfig | null;
  now?: () => number;
}

/** The inference service instances reach, and which of its models each tier may use. */
export interface CloudAiConfig {
  /** The inference service's base URL (loopback). */
  url: string;
  /** Its bearer key: handed to instance processes on stdin only. */
  key: string;
  /** Models per tier, the tier's default first; an empty list gives that tier no AI. */
  tiers: Readonly<Record<Tier, readonly string[]>>;
  /** The model that makes retrieval vectors; null: full-text retrieval only. */
  embeddingModel: string | null;
}

/** What one instance process is told about the AI: its tier's models and monthly budget. */
export function aiConnectionFor(ai: CloudAiConfig | null | undefined, tier: Tier): AiConnection | null {
  const models = ai?.tiers[tier] ?? [];
  if (ai === null || ai === undefined || models.length === 0) return null;
  return {
    url: ai.url,
    key: ai.key,
    models: [...models],
    embeddingModel: ai.embeddingModel,
    monthlyTokenBudget: TIER_CONFIG[tier].aiMonthlyTokens,
  };
}

interface Entry {
  did: string;
  instanceId: string;
  /** Where the instance lives while stopped. */
  home: string;
  /** Where it is now: home, or its process's slot while running. */
  dir: string;
  slot: string | null;
  tier: Tier;
  quotaBytes: number;
  mode: 'always-on' | 'sovereign';
  proc: InstanceProcess | null;
  starting: Promise<InstanceProcess> | null;
  /** Resolves once the last process is gone and the instance is back home. */
  released: Promise<void>;
  lastActiveAt: number | null;
  inFlight: number;
  /** Its process found the database damaged: this provisioner does not start it again. */
  damaged: boolean;
}

const INSTANCE_DIR_RE = /^inst-[0-9a-f]{16}$/;
/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 107;

export class LocalProvisioner implements Provisioner {
  readonly kind = 'local';
  private readonly root: string;
  private readonly hostKey: Uint8Array;
  private readonly sandbox: Sandbox;
  private readonly spares: SpareProcesses;
  private readonly logger: Logger;
  private readonly idleMs: number;
  private readonly maxActive: number;
  private readonly stopGraceMs: number;
  private readonly anchor: AnchorSchedule;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  /** Who signs app tokens; null until the cloud says (instances then refuse every app request). */
  private appTokens: AppTokenIssuer | null = null;

  setAppTokenIssuer(issuer: AppTokenIssuer): void {
    this.appTokens = { issuer: issuer.issuer, keys: [...issuer.keys] };
  }

  constructor(private readonly opts: LocalProvisionerOptions) {
    if (!(opts.hostKey instanceof Uint8Array) || opts.hostKey.length !== 32) {
      throw new ProvisionerError('invalid_argument', 'hostKey is the 32-byte host sealing key');
    }
    this.root = resolve(opts.root);
    if (Buffer.byteLength(this.root) + SOCKET_SUFFIX_BYTES > MAX_SOCKET_PATH) {
      throw new ProvisionerError(
        'invalid_argument',
        `the instances root ${this.root} is too long: instance sockets under it would exceed ${MAX_SOCKET_PATH} bytes; choose a shorter data directory`,
      );
    }
    new URL(opts.publicUrl); // throws on a malformed URL before anything starts
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    this.logger = opts.logger ?? pino({ level: 'silent' });
    for (const home of recoverRunDirs(this.root)) {
      this.logger.warn({ home }, 'moved an instance left in a work directory back home');
    }
    this.hostKey = new Uint8Array(opts.hostKey);
    this.sandbox = chooseSandbox(opts.sandbox ?? 'auto');
    this.idleMs = opts.idleMs ?? 5 * 60_000;
    this.maxActive = opts.maxActive ?? Number.POSITIVE_INFINITY;
    this.stopGraceMs = opts.stopGraceMs ?? 5_000;
    this.anchor = { ...DEFAULT_ANCHOR_SCHEDULE, ...opts.anchor };
    this.now = opts.now ?? Date.now;
    this.spares = new SpareProcesses({
      root: this.root,
      sandbox: this.sandbox,
      // No NODE_OPTIONS or NODE_EXTRA_CA_CERTS from the host: they cost start time and change V8's flags.
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...opts.env },
      logger: this.logger,
      spares: opts.spares ?? 1,
    });
    this.sweeper = setInterval(() => void this.stopIdle(), Math.max(25, Math.min(this.idleMs / 2, 30_000)));
    this.sweeper.unref();
  }

  /** How processes are confined here: `bwrap` or `none`. */
  get sandboxKind(): 'bwrap' | 'none' {
    return this.sandbox.kind;
  }

  async provision(spec: InstanceSpec): Promise<Placement> {
    this.checkOpen();
    const { did, tier, mode, personEncryptionKey } = checkSpec(spec);
    const quotaBytes = tier === 'enterprise' ? spec.quotaBytes : undefined;
    const instanceId = instanceIdFor(did);
    const home = join(this.root, instanceId);
    const exists = (): ProvisionerError =>
      new ProvisionerError('exists', `${did} already has an instance here`, { did });
    if (this.entries.has(did) || hasInstance(home)) throw exists();
    let instance: Instance;
    try {
      instance = Instance.create({
        dir: home,
        instanceId,
        did,
        tier,
        ...(quotaBytes === undefined ? {} : { quotaBytes }),
        mode,
        personPublicKey: personEncryptionKey,
        ...(mode === 'always-on' ? { hostKey: this.hostKey } : {}),
      });
    } catch (err) {
      if (hasInstance(home)) throw exists();
      if (isInstanceError(err, 'invalid_argument')) {
        throw new ProvisionerError('invalid_argument', err.message, { did });
      }
      throw err;
    }
    try {
      const key = instance.instanceKeyInfo();
      this.logger.info({ did, instanceId, mode, tier }, 'instance provisioned');
      return {
        did,
        instanceId,
        provisioner: this.kind,
        location: home,
        instancePublicKey: key.publicKey,
        instanceAddress: key.address,
      };
    } finally {
      instance.close();
    }
  }

  async forward(did: string, req: InstanceRequest): Promise<InstanceResponse> {
    this.checkOpen();
    checkRequest(req);
    const entry = this.entry(did);
    if (entry.mode === 'sovereign') throw lockedError(did);
    if (entry.damaged) throw damagedError(did);
    entry.inFlight++;
    entry.lastActiveAt = this.now();
    let streaming = false;
    try {
      for (let attempt = 0; ; attempt++) {
        const proc = await this.ensureRunning(entry);
        const pool = proc.connection();
        if (pool === null) {
          // Stopped between start and send (an explicit stop): nothing was sent.
          await proc.exited;
          if (attempt === 0) continue;
          throw unavailable(did, 'the instance stopped before it could answer; try again');
        }
        try {
          const res = await sendToInstance(pool, req);
          if (res.stream !== undefined) {
            // A streamed answer keeps the instance busy (never idle-stopped) until it ends.
            streaming = true;
            res.stream.once('close', () => {
              entry.inFlight--;
              entry.lastActiveAt = this.now();
            });
          }
          return res;
        } catch (err) {
          const gone = await this.settleFailedProcess(proc, neverDelivered(err));
          const again = neverDelivered(err) || (gone && RETRYABLE_METHODS.has(req.method.toUpperCase()));
          this.logger.warn({ did, err: describe(err), gone, again }, 'forwarding to the instance failed');
          if (entry.damaged) throw damagedError(did);
          if (attempt === 0 && again && !this.closed) continue;
          throw unavailable(
            did,
            gone
              ? 'the instance stopped while answering; the request may or may not have taken effect'
              : 'the instance did not answer; try again',
          );
        }
      }
    } finally {
      if (!streaming) {
        entry.inFlight--;
        entry.lastActiveAt = this.now();
      }
    }
  }

  async stop(did: string): Promise<void> {
    const entry = this.entry(did);
    await entry.starting?.catch(() => undefined);
    await entry.proc?.stop(this.stopGraceMs);
    await entry.released;
  }

  async status(did: string): Promise<InstanceStatus> {
    return this.statusOf(this.entry(did));
  }

  async list(): Promise<InstanceStatus[]> {
    const dids = new Set<string>();
    // Running instances are out of their homes: the entries know them.
    for (const entry of this.entries.values()) dids.add(entry.did);
    let names: string[] = [];
    try {
      names = readdirSync(this.root).filter((n) => INSTANCE_DIR_RE.test(n));
    } catch {
      // no root: nothing provisioned
    }
    for (const name of names) {
      try {
        const { did } = readInstanceFile(join(this.root, name));
        if (instanceIdFor(did) === name) dids.add(did);
      } catch {
        // a creation in progress or a damaged directory
      }
    }
    const out: InstanceStatus[] = [];
    for (const did of [...dids].sort()) out.push(await this.statusOf(this.entry(did)));
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    await Promise.all([
      this.spares.close(),
      ...[...this.entries.values()].map(async (entry) => {
        await entry.starting?.catch(() => undefined);
        await entry.proc?.stop(this.stopGraceMs);
        await entry.released;
      }),
    ]);
    this.hostKey.fill(0);
  }

  // ---- internals ----------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new ProvisionerError('closed', 'the instance provisioner is closed');
  }

  /** The entry of a provisioned DID; ProvisionerError 'not_found' for any other. */
  private entry(did: string): Entry {
    const known = this.entries.get(did);
    if (known !== undefined) return known;
    const notFound = (): ProvisionerError =>
      new ProvisionerError('not_found', 'there is no instance for this DID here', { did });
    if (typeof did !== 'string' || !isDid(did)) throw notFound();
    const instanceId = instanceIdFor(did);
    const home = join(this.root, instanceId);
    let file;
    let mode;
    try {
      file = readInstanceFile(home);
      mode = readKeyFile(home).mode;
    } catch {
      throw notFound();
    }
    if (file.did !== did) throw notFound();
    const entry: Entry = {
      did,
      instanceId,
      home,
      dir: home,
      slot: null,
      tier: file.tier,
      quotaBytes: file.quota_bytes,
      mode,
      proc: null,
      starting: null,
      released: Promise.resolve(),
      lastActiveAt: null,
      inFlight: 0,
      damaged: false,
    };
    this.entries.set(did, entry);
    return entry;
  }

  private ensureRunning(entry: Entry): Promise<InstanceProcess> {
    if (entry.proc !== null && entry.proc.state === 'running') return Promise.resolve(entry.proc);
    entry.starting ??= this.start(entry)
      .catch((err: unknown) => {
        if (err instanceof ProvisionerError) throw err;
        this.logger.error({ did: entry.did, err }, 'could not start the instance process');
        throw unavailable(entry.did, 'the instance could not be started; try again shortly');
      })
      .finally(() => {
        entry.starting = null;
      });
    return entry.starting;
  }

  private async start(entry: Entry): Promise<InstanceProcess> {
    // A process on its way out must be gone, and the instance home, before another takes it.
    await entry.released;
    if (entry.damaged) throw damagedError(entry.did);
    await this.makeRoom(entry);
    this.checkOpen();
    const { proc, slot } = await this.spares.take();
    try {
      entry.dir = moveIntoSlot(entry.home, slot);
    } catch (err) {
      await proc.stop(this.stopGraceMs);
      removeSlot(slot);
      throw err;
    }
    entry.slot = slot;
    entry.proc = proc;
    entry.released = proc.exited.then((exit) => this.release(entry, proc, exit));
    const publicUrl = this.opts.publicUrl.replace(/\/+$/, '');
    try {
      await proc.configure({
        did: entry.did,
        dir: entry.dir,
        hostKey: this.hostKey,
        chain: this.opts.chain ?? null,
        anchor: this.anchor,
        endpoint: `${publicUrl}/v1/i/${entry.did}`,
        logLevel: this.opts.logLevel ?? 'warn',
        ai: aiConnectionFor(this.opts.ai, entry.tier),
        appTokens: this.appTokens,
        readyTimeoutMs: this.opts.readyTimeoutMs ?? 15_000,
      });
    } catch (err) {
      await entry.released;
      if (entry.damaged) throw damagedError(entry.did);
      throw err;
    }
    if (this.closed) {
      await proc.stop(this.stopGraceMs);
      this.checkOpen();
    }
    this.logger.debug(
      { did: entry.did, pid: proc.pid, sandbox: this.sandbox.kind },
      'instance process started',
    );
    return proc;
  }

  /** After a process exits: the instance goes home; a damaged database keeps it stopped. */
  private release(
    entry: Entry,
    proc: InstanceProcess,
    exit: { code: number | null; signal: NodeJS.Signals | null },
  ): void {
    if (entry.proc === proc) entry.proc = null;
    if (entry.slot !== null) {
      try {
        moveHome(entry.slot, entry.home);
        entry.dir = entry.home;
        entry.slot = null;
      } catch (err) {
        this.logger.error({ did: entry.did, err, dir: entry.dir }, 'could not move a stopped instance home');
      }
    }
    if (exit.code === EXIT_DAMAGED) {
      entry.damaged = true;
      this.logger.error({ did: entry.did }, 'the instance database is damaged; restore it from a backup');
    } else if (!proc.stopRequested) {
      this.logger.warn({ did: entry.did, ...exit }, 'instance process exited unexpectedly');
    }
  }

  /** Stops the least recently used idle process while starting `entry` would exceed maxActive. */
  private async makeRoom(entry: Entry): Promise<void> {
    const active = [...this.entries.values()].filter(
      (e) => e !== entry && (e.starting !== null || (e.proc !== null && e.proc.state !== 'exited')),
    );
    if (active.length < this.maxActive) return;
    const idle = active
      .filter((e) => e.inFlight === 0 && e.starting === null && e.proc?.state === 'running')
      .sort((a, b) => (a.lastActiveAt ?? 0) - (b.lastActiveAt ?? 0));
    const victims = idle.slice(0, active.length - this.maxActive + 1);
    if (victims.length === 0) {
      this.logger.warn({ maxActive: this.maxActive }, 'every running instance is busy; starting one more');
      return;
    }
    await Promise.all(
      victims.map(async (v) => {
        this.logger.debug({ did: v.did }, 'stopping the least recently used instance to make room');
        await v.proc?.stop(this.stopGraceMs);
        await v.released;
      }),
    );
  }

  /**
   * After a failed request: is the process gone? Waits briefly for a dying one; one that refuses
   * connections while alive is broken and is killed, so that the next start replaces it.
   */
  private async settleFailedProcess(proc: InstanceProcess, refused: boolean): Promise<boolean> {
    if (proc.state === 'exited') return true;
    const exited = await Promise.race([
      proc.exited.then(() => true),
      new Promise<boolean>((done) => setTimeout(() => done(false), 1_000).unref()),
    ]);
    if (exited) return true;
    if (!refused) return false;
    proc.kill();
    await proc.exited;
    return true;
  }

  private async stopIdle(): Promise<void> {
    const now = this.now();
    for (const entry of this.entries.values()) {
      const proc = entry.proc;
      if (proc === null || proc.state !== 'running' || entry.inFlight > 0 || entry.starting !== null)
        continue;
      if (now - (entry.lastActiveAt ?? 0) < this.idleMs) continue;
      this.logger.debug({ did: entry.did }, 'stopping an idle instance');
      await proc.stop(this.stopGraceMs).catch(() => undefined);
    }
  }

  private async statusOf(entry: Entry): Promise<InstanceStatus> {
    const proc = entry.proc;
    let state: InstanceState;
    if (entry.starting !== null) state = 'starting';
    else if (proc !== null && proc.state !== 'exited' && proc.state !== 'idle') state = proc.state;
    else state = entry.mode === 'sovereign' ? 'locked' : 'stopped';
    return {
      did: entry.did,
      instanceId: entry.instanceId,
      tier: entry.tier,
      state,
      pid: proc !== null && proc.state !== 'exited' ? proc.pid : null,
      storageBytes: await diskUsage(entry.dir),
      quotaBytes: entry.quotaBytes,
      lastActiveAt: entry.lastActiveAt,
      sandbox: this.sandbox.kind,
    };
  }
}

function hasInstance(dir: string): boolean {
  try {
    readInstanceFile(dir);
    return true;
  } catch (err) {
    return !isInstanceError(err, 'not_found');
  }
}

function damagedError(did: string): ProvisionerError {
  return new ProvisionerError(
    'damaged',
    "the instance's database failed its integrity check (a page was altered or damaged); it stays stopped until restored from a backup",
    { did },
  );
}

function lockedError(did: string): ProvisionerError {
  return new ProvisionerError(
    'locked',
    "this instance is in sovereign mode: it opens only with the person's key, which this host never holds",
    { did },
  );
}

function unavailable(did: string, message: string): ProvisionerError {
  return new ProvisionerError('unavailable', message, { did });
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  return `${String(e?.code ?? '')} ${String(e?.message ?? err)}`.trim();
}
