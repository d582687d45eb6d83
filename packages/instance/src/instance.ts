import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { toHex, type SigningKey } from '@self/crypto';
import {
  AUDIT_GENESIS_PREV,
  AuditError,
  AuditLog,
  auditAnchorBody,
  validateEntry,
  type AuditAnchorBody,
  type AuditAppend,
  type AuditEntry,
  type AuditProof,
  type AuditSegment,
  type AuditVerifyResult,
} from './audit/index.js';
import { AiError } from './ai/errors.js';
import type { MemoryItem } from './ai/memory.js';
import { NOT_RETRIEVED, type RetrievalIndex } from './ai/retrieval.js';
import { AiState } from './ai/state.js';
import type { MessageRecord, ThreadRecord } from './ai/threads.js';
import type { UsageRow } from './ai/usage.js';
import { isIndexableType } from './ai/text-extract.js';
import { GrantError } from './grants/errors.js';
import { GrantStore, type GrantRecord } from './grants/store.js';
import { ensureInstanceKey, loadInstanceKey, type InstanceKeyInfo } from './instance-key.js';
import { InstanceMeta } from './instance-meta.js';
import { InstanceError } from './store/errors.js';
import {
  APP_ID_RE,
  PERSON_NAMESPACE,
  checkCollection,
  encodeKey,
  encodePrefix,
  type Namespace,
} from './store/names.js';
import {
  BLOBS_DIR,
  DB_FILE,
  DEFAULT_CONTENT_TYPE,
  InstanceStore,
  type CollectionInfo,
  type ListOptions,
  type ListPage,
  type PutOptions,
  type PutResult,
  type StoredObject,
  type Usage,
} from './store/store.js';
import {
  KEY_FILE,
  VaultError,
  generateDataKey,
  readKeyFile,
  unlockWithHostKey,
  unlockWithPersonKey,
  wrapDataKey,
  writeKeyFile,
  type KeyMode,
} from './vault.js';

/**
 * The instance: one person's directory, unlocked, with every access checked and audited. This is
 * the one object the instance process, the CLI and tests use; the store (store/) and the audit log
 * (audit/) underneath it are never handed out.
 *
 * Directory layout (mode 0700):
 *   instance.json  what the instance is: {v: 1, instance_id, did, tier, quota_bytes, created_at}
 *   keys.json      the wrapped data key (vault.ts)
 *   instance.db    the encrypted SQLite database: objects, usage counters, audit log, grants
 *   blobs/         encrypted values over 64 KiB
 *
 * Every access (put, get, list, delete, collections, export, and each access through action():
 * the assistant's, the grants', the profile's)
 * appends exactly one audit entry:
 *   - allowed and done: outcome `ok`, in the same transaction as the data change, so a change is
 *     never committed without its entry and an entry never claims a change that rolled back;
 *   - refused by the access rules: outcome `denied`, then AccessError('forbidden');
 *   - failed (not_found, quota_exceeded, invalid_key…): the data change rolls back, then an entry with
 *     outcome `error` and action `<action>.<code>` (e.g. `data.put.quota_exceeded`) is appended in a
 *     transaction of its own, and the original error is rethrown.
 * Entries name the actor's DID, the app (null for the person), the scope the access needs
 * (`storage:<collection>:read|write`, or `storage:read|write` for an app's own namespace) and the object (`<namespace>/<collection>/<key>`).
 * Only a call whose actor cannot be named (a malformed Actor) or that reaches a closed instance
 * is refused without an entry: there is nobody, or no log, to write it for.
 */

export type Tier = 'free' | 'growth' | 'pro' | 'enterprise';
export const TIERS: readonly Tier[] = ['free', 'growth', 'pro', 'enterprise'];

const GB = 1_000_000_000;
/** Quotas of the fixed tiers in bytes (decimal gigabytes, design §5); enterprise quotas are custom. */
export const TIER_QUOTA_BYTES: Readonly<Record<Exclude<Tier, 'enterprise'>, number>> = {
  free: 10 * GB,
  growth: 50 * GB,
  pro: 200 * GB,
};

/** Largest single value an instance accepts unless opened with another maxValueBytes. */
export const DEFAULT_MAX_VALUE_BYTES = 32 * 1024 * 1024;
export const INSTANCE_FILE = 'instance.json';
const INSTANCE_FILE_VERSION = 1;
const INSTANCE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** instance.json. Times are milliseconds since the epoch. */
export interface InstanceFile {
  v: 1;
  instance_id: string;
  did: string;
  tier: Tier;
  quota_bytes: number;
  created_at: number;
}

/**
 * Who is acting. The person acts in their own namespace (`person`). An app acts for `did` in its
 * own namespace (`app:<appId>`) with `storage:read` / `storage:write`, and reaches a person
 * collection only with that collection's scope: `storage:<collection>:read` for get/list,
 * `storage:<collection>:write` for put/delete — the OAuth scopes of the chain's `app.register`
 * and consents (packages/chain/src/tx/scopes.ts). The HTTP server builds an app's Actor only from
 * an access token it verified itself against a grant it holds (grants/tokens.ts), and names that
 * grant in `grantId`; the Instance trusts the Actor it is given.
 */
export type Actor =
  | { kind: 'person'; did: string }
  | { kind: 'app'; did: string; appId: string; scopes: readonly string[]; grantId?: string };

/** Which namespace an access addresses. */
export interface AccessOptions {
  /**
   * `own` (the default): the actor's own namespace, `person` for the person and `app:<appId>` for
   * an app. `person`: the person's collections; for an app this needs the collection's scope.
   */
  target?: 'own' | 'person';
}

/** The scope an access to a person collection needs; also what the audit entry records. */
export function collectionScope(collection: string, op: 'read' | 'write'): string {
  return `storage:${collection}:${op}`;
}

/** The scope an app needs for its own namespace. */
export function ownStorageScope(op: 'read' | 'write'): string {
  return `storage:${op}`;
}

/** An access the rules refuse. Its audit entry (outcome `denied`) is already committed. */
export class AccessError extends Error {
  override readonly name = 'AccessError';
  readonly code = 'forbidden' as const;
  readonly details: { scope: string; namespace: string };

  constructor(message: string, details: { scope: string; namespace: string }) {
    super(message);
    this.details = details;
  }
}

export function isAccessError(error: unknown): error is AccessError {
  return error instanceof AccessError;
}

/** The scopes of the assistant: `ai:chat` to chat with it, `ai:memory` for its memory items. */
export type AiScope = 'ai:chat' | 'ai:memory';

/** One access that is not to an object (grants, the profile, the assistant), as Instance.action checks and audits it. */
export interface ActionSpec {
  /** The audit action: `grant.create`, `profile.read`, `ai.chat`… */
  action: string;
  /** The scope the entry records, and the one an app must hold when `apps` is `scoped`. */
  scope: string;
  /** What is acted on: `grants/<id>`, `person/profile/me`… */
  object: string;
  /**
   * Which apps may: `none` (the person only), `scoped` (apps holding `scope`), `any` (an app acting
   * on what is its own, its grant, which needs no scope).
   */
  apps: 'none' | 'scoped' | 'any';
}

/** An access to audit as refused that never reached the Instance: an app token the server refused. */
export interface DeniedAccess {
  actor: string;
  app: string | null;
  scope: string;
  action: string;
  object: string;
}

/** One access to the assistant, as Instance.aiAction checks and audits it. */
export interface AiActionSpec {
  /** The audit action: `ai.chat`, `ai.thread.read`, `ai.memory.update`, `ai.completions`… */
  action: string;
  scope: AiScope;
  /** What is acted on: `ai/threads/<id>`, `ai/memory/<id>`, `ai/models`… */
  object: string;
  /** Whether an app holding `scope` may do this; false: the person only. */
  apps: boolean;
}

/**
 * An AI access the rules allowed, waiting for its outcome. Settle it exactly once: `ok(run)` runs
 * `run` (its writes to the AI state) and appends the `ok` entry in one transaction (a failure of
 * `run` rolls back and is audited as an error); `fail(err)` appends the `error` entry
 * `<action>.<code>` for a failure that happened outside (an unreachable model, a spent budget).
 */
export interface AiActionTicket {
  ok<T>(run: () => T): T;
  fail(err: unknown): void;
}

/** What Instance.action hands out: settle it once, like an AiActionTicket. */
export type ActionTicket = AiActionTicket;

export interface CreateInstanceOptions {
  /** The instance directory; must not exist, or be an empty directory. Parents are created. */
  dir: string;
  /** 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", ":", "-", starting with a letter or digit. */
  instanceId: string;
  /** The person's DID (`did:self:self1…`). */
  did: string;
  tier: Tier;
  /** Required for the enterprise tier (its custom quota); refused for the others (the tier sets it). */
  quotaBytes?: number;
  mode: KeyMode;
  /** The person's hybrid encryption public key: the recovery phrase can always unwrap the data key. */
  personPublicKey: Uint8Array;
  /** The host sealing key; required in always-on mode, unused in sovereign mode. */
  hostKey?: Uint8Array;
  maxValueBytes?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export interface OpenInstanceOptions {
  dir: string;
  maxValueBytes?: number;
  now?: () => number;
}

export interface InstanceInfo {
  instanceId: string;
  did: string;
  tier: Tier;
  quotaBytes: number;
  createdAt: number;
  mode: KeyMode;
  usage: Usage;
  /** The last audit entry's seq and hash (hex), or null while the log is empty. */
  auditHead: { seq: number; hash: string } | null;
  /** The instance key's encoded public key (hex); see instance-key.ts. */
  instance_public_key: string;
  /** The instance key's `self1…` address: the account that pays for its anchors. */
  instance_address: string;
}

/**
 * A consistent, read-only view of everything the instance holds, for an export. Only
 * Instance.exportSnapshot hands one out, and it audits the export.
 */
export interface ExportView {
  readonly did: string;
  readonly instanceId: string;
  /** Namespaces that hold objects: `person` first, then apps' namespaces by name. */
  namespaces(): Namespace[];
  collections(ns: Namespace): CollectionInfo[];
  list(ns: Namespace, collection: string, opts?: ListOptions): ListPage;
  get(ns: Namespace, collection: string, key: string): StoredObject | null;
  /** Up to `limit` (1..1000) audit entries from `fromSeq` on. */
  auditEntries(fromSeq: number, limit: number): AuditEntry[];
  /**
   * The assistant's state, read one row at a time (iterate each to its end or abandon it with
   * `return()`, as `for…of` does): its threads by id, a thread's messages oldest first, memory items
   * by id, and the months of usage oldest first.
   */
  aiThreads(): Iterable<ThreadRecord>;
  aiMessages(threadId: string): Iterable<MessageRecord>;
  aiMemory(): Iterable<MemoryItem>;
  aiUsage(): Iterable<UsageRow>;
  /** The grants the person signed, in the order they were stored, revoked ones included. */
  grants(): Iterable<GrantRecord>;
}

type Op = 'read' | 'write';
type AuditBase = Omit<AuditAppend, 'outcome' | 'time'>;

/** Stands in the audit entry for a name that failed validation (never a valid collection or namespace). */
const INVALID = '<invalid>';

function invalid(message: string, details?: Record<string, unknown>): InstanceError {
  return new InstanceError('invalid_argument', message, details);
}

/** A DID the audit log accepts as an actor (W3C DID Core syntax; the audit module owns the rule). */
function isDid(did: unknown): did is string {
  if (typeof did !== 'string' || !did.startsWith('did:')) return false;
  try {
    validateEntry({
      seq: 1,
      time: 0,
      actor: did,
      app: null,
      scope: 'x',
      action: 'x',
      object: '',
      outcome: 'ok',
      prev: AUDIT_GENESIS_PREV,
    });
    return true;
  } catch {
    return false;
  }
}

function checkActor(actor: Actor): void {
  if (typeof actor !== 'object' || actor === null) throw invalid('an actor is {kind, did, …}');
  if (!isDid(actor.did)) throw invalid('an actor needs a valid DID (did:<method>:<id>)');
  if (actor.kind === 'person') return;
  if (actor.kind !== 'app') throw invalid('an actor is of kind "person" or "app"');
  if (typeof actor.appId !== 'string' || !APP_ID_RE.test(actor.appId)) {
    throw invalid(
      'an app id is 1 to 128 characters of a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
    );
  }
  if (!Array.isArray(actor.scopes) || !actor.scopes.every((s) => typeof s === 'string')) {
    throw invalid("an app actor's scopes are an array of strings");
  }
}

/** The error's stable code, for the action suffix of an `error` entry. */
function errorCode(err: unknown): string {
  if (
    err instanceof InstanceError ||
    err instanceof AuditError ||
    err instanceof VaultError ||
    err instanceof AiError ||
    err instanceof GrantError
  ) {
    return err.code;
  }
  // The API's own errors (server/errors.ts) carry a stable snake_case code too.
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code)) return code;
  return 'internal';
}

function checkMaxValueBytes(v: number | undefined): number {
  if (v === undefined) return DEFAULT_MAX_VALUE_BYTES;
  if (!Number.isSafeInteger(v) || v < 1)
    throw invalid('maxValueBytes is a whole number of bytes, at least 1');
  return v;
}

function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** Reads and checks instance.json. */
export function readInstanceFile(dir: string): InstanceFile {
  const path = join(dir, INSTANCE_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
      throw new InstanceError(
        'not_found',
        `no SELF instance in ${dir} (${INSTANCE_FILE} is missing); create one first`,
        { dir },
      );
    }
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InstanceError('corrupt', `${path} is not valid JSON; restore it from a backup`, { path });
  }
  const f = raw as Partial<InstanceFile> | null;
  const ok =
    typeof f === 'object' &&
    f !== null &&
    f.v === INSTANCE_FILE_VERSION &&
    typeof f.instance_id === 'string' &&
    INSTANCE_ID_RE.test(f.instance_id) &&
    isDid(f.did) &&
    TIERS.includes(f.tier as Tier) &&
    Number.isSafeInteger(f.quota_bytes) &&
    (f.quota_bytes as number) >= 0 &&
    Number.isSafeInteger(f.created_at) &&
    (f.created_at as number) >= 0;
  if (!ok) {
    throw new InstanceError(
      'corrupt',
      `${path} is not a SELF instance file (version ${INSTANCE_FILE_VERSION}); restore it from a backup`,
      { path },
    );
  }
  return f as InstanceFile;
}

function quotaFor(tier: Tier, quotaBytes: number | undefined): number {
  if (!TIERS.includes(tier)) throw invalid(`a tier is one of ${TIERS.join(', ')}`, { tier });
  if (tier === 'enterprise') {
    if (quotaBytes === undefined || !Number.isSafeInteger(quotaBytes) || quotaBytes < 1) {
      throw invalid('the enterprise tier needs quotaBytes: its custom quota, a whole number of bytes ≥ 1');
    }
    return quotaBytes;
  }
  if (quotaBytes !== undefined) {
    throw invalid(
      `the ${tier} tier's quota is fixed (${TIER_QUOTA_BYTES[tier]} bytes); leave quotaBytes out`,
    );
  }
  return TIER_QUOTA_BYTES[tier];
}

/**
 * Makes `dir` (mode 0700), or takes an existing empty directory. Anything else is refused: creation
 * never overwrites. Returns whether this call made the directory.
 */
function makeInstanceDir(dir: string): boolean {
  const refuse = (why: string): never => {
    throw invalid(
      `${dir} ${why}; an instance is created only in a new or empty directory (open an existing one instead, or choose another path)`,
      { dir },
    );
  };
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  if (!statSync(dir).isDirectory()) refuse('exists and is not a directory');
  if (readdirSync(dir).length > 0) {
    refuse(existsInstance(dir) ? 'already holds an instance' : 'is not empty');
  }
  chmodSync(dir, 0o700);
  return false;
}

function existsInstance(dir: string): boolean {
  return [INSTANCE_FILE, KEY_FILE, DB_FILE].some((name) => {
    try {
      statSync(join(dir, name));
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Writes instance.json so that it appears whole or not at all, and only if no other creation got
 * there first: write and fsync a temporary file, then link(2) it to the final name (which fails if
 * that name exists). This is what claims the directory.
 */
function claimInstanceFile(dir: string, file: InstanceFile): void {
  const path = join(dir, INSTANCE_FILE);
  const tmp = `${path}.${randomBytes(8).toString('hex')}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    syncPath(tmp);
    linkSync(tmp, path);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw invalid(`${dir} already holds an instance; creation never overwrites one`, { dir });
    }
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Removes what a failed creation wrote in a directory it had claimed. */
function undoCreate(dir: string, madeDir: boolean): void {
  for (const name of [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`, `${KEY_FILE}.tmp`, KEY_FILE, BLOBS_DIR]) {
    rmSync(join(dir, name), { recursive: true, force: true });
  }
  // instance.json goes last: while it exists, no other creation can claim the directory.
  rmSync(join(dir, INSTANCE_FILE), { force: true });
  if (madeDir) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty: someone else's files; leave them
    }
  }
}

export class Instance {
  private closed = false;
  /** One transaction function, reused: `tx.immediate(fn)` runs fn in BEGIN IMMEDIATE (or a savepoint). */
  private readonly tx: {
    (fn: () => unknown): unknown;
    immediate(fn: () => unknown): unknown;
    deferred(fn: () => unknown): unknown;
  };
  private readonly namespacesStmt;
  private readonly segmentedStmt;
  private readonly meta: InstanceMeta;
  private readonly key: InstanceKeyInfo;
  private readonly ai: AiState;
  private readonly grantStore: GrantStore;
  private signingKey: SigningKey | null = null;

  private constructor(
    private readonly store: InstanceStore,
    private readonly audit: AuditLog,
    private readonly file: InstanceFile,
    readonly mode: KeyMode,
    now: () => number,
  ) {
    const db = store.database;
    this.tx = db.transaction((fn: () => unknown) => fn());
    this.namespacesStmt = db.prepare<[], string>('SELECT DISTINCT ns FROM objects ORDER BY ns').pluck();
    this.segmentedStmt = db.prepare<[], number | null>('SELECT max(last_seq) FROM audit_segments').pluck();
    this.meta = new InstanceMeta(db);
    this.key = ensureInstanceKey(this.meta);
    this.ai = new AiState(db, now, (index) => this.indexExisting(index));
    this.grantStore = new GrantStore(db, file.did, now);
  }

  /**
   * Creates a new instance in `dir` and returns it open. Generates the data key, writes
   * instance.json and keys.json (both fsynced before any data exists), and opens the store. Refuses
   * (InstanceError 'invalid_argument') a directory that exists and is not empty; VaultError
   * 'no_host_wrap' for always-on without a host key. A failed creation removes what it wrote.
   */
  static create(opts: CreateInstanceOptions): Instance {
    if (typeof opts.dir !== 'string' || opts.dir.length === 0) throw invalid('dir must be a directory path');
    if (typeof opts.instanceId !== 'string' || !INSTANCE_ID_RE.test(opts.instanceId)) {
      throw invalid(
        'an instance id is 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", ":" and "-", starting with a letter or digit',
      );
    }
    if (!isDid(opts.did)) throw invalid("the person's DID must be a valid DID (did:<method>:<id>)");
    if (opts.mode !== 'always-on' && opts.mode !== 'sovereign') {
      throw invalid('the mode is "always-on" or "sovereign"');
    }
    if (!(opts.personPublicKey instanceof Uint8Array)) {
      throw invalid("personPublicKey is the person's hybrid encryption public key (bytes)");
    }
    const quotaBytes = quotaFor(opts.tier, opts.quotaBytes);
    const maxValueBytes = checkMaxValueBytes(opts.maxValueBytes);
    const now = opts.now ?? Date.now;

    const dataKey = generateDataKey();
    try {
      // Wrap before touching the disk: a missing host key fails here, leaving nothing behind.
      const keyFile = wrapDataKey({
        instanceId: opts.instanceId,
        dataKey,
        mode: opts.mode,
        personPublicKey: opts.personPublicKey,
        hostKey: opts.hostKey,
      });
      const file: InstanceFile = {
        v: INSTANCE_FILE_VERSION,
        instance_id: opts.instanceId,
        did: opts.did,
        tier: opts.tier,
        quota_bytes: quotaBytes,
        created_at: now(),
      };
      const madeDir = makeInstanceDir(opts.dir);
      try {
        claimInstanceFile(opts.dir, file);
      } catch (err) {
        // Nothing of ours is in the directory (another creation may own it now).
        if (madeDir && readdirSync(opts.dir).length === 0) rmdirSync(opts.dir);
        throw err;
      }
      try {
        writeKeyFile(opts.dir, keyFile);
        // The wrapped key must be on disk before any data encrypted under it.
        syncPath(join(opts.dir, KEY_FILE));
        syncPath(opts.dir);
        return Instance.fromKey(opts.dir, file, opts.mode, dataKey, maxValueBytes, now);
      } catch (err) {
        undoCreate(opts.dir, madeDir);
        throw err;
      }
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * Opens an always-on instance with the host sealing key. A sovereign instance refuses:
   * VaultError 'locked' (it opens only with the person's key); a wrong key: VaultError 'wrong_key'.
   */
  static open(opts: OpenInstanceOptions & { hostKey: Uint8Array }): Instance {
    const { file, keys } = Instance.readFiles(opts.dir);
    const dataKey = unlockWithHostKey(keys, opts.hostKey);
    return Instance.openUnlocked(opts, file, keys.mode, dataKey);
  }

  /** Opens an instance (either mode) with the person's hybrid encryption secret key: a sovereign session. */
  static openWithPersonKey(opts: OpenInstanceOptions & { personSecretKey: Uint8Array }): Instance {
    const { file, keys } = Instance.readFiles(opts.dir);
    const dataKey = unlockWithPersonKey(keys, opts.personSecretKey);
    return Instance.openUnlocked(opts, file, keys.mode, dataKey);
  }

  private static readFiles(dir: string) {
    if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir must be a directory path');
    const file = readInstanceFile(dir);
    const keys = readKeyFile(dir);
    if (keys.instance_id !== file.instance_id) {
      throw new InstanceError(
        'corrupt',
        `${KEY_FILE} belongs to instance ${keys.instance_id}, ${INSTANCE_FILE} to ${file.instance_id}; restore the directory from a backup`,
        { dir },
      );
    }
    return { file, keys };
  }

  private static openUnlocked(
    opts: OpenInstanceOptions,
    file: InstanceFile,
    mode: KeyMode,
    dataKey: Uint8Array,
  ): Instance {
    try {
      return Instance.fromKey(
        opts.dir,
        file,
        mode,
        dataKey,
        checkMaxValueBytes(opts.maxValueBytes),
        opts.now ?? Date.now,
      );
    } finally {
      dataKey.fill(0);
    }
  }

  private static fromKey(
    dir: string,
    file: InstanceFile,
    mode: KeyMode,
    dataKey: Uint8Array,
    maxValueBytes: number,
    now: () => number,
  ): Instance {
    const store = InstanceStore.open({ dir, dataKey, quotaBytes: file.quota_bytes, maxValueBytes, now });
    try {
      return new Instance(store, new AuditLog(store.database, { now }), file, mode, now);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  get did(): string {
    return this.file.did;
  }

  get instanceId(): string {
    return this.file.instance_id;
  }

  get tier(): Tier {
    return this.file.tier;
  }

  // ---- data access: checked and audited -------------------------------------------------------

  /** Creates or replaces an object (see InstanceStore.put). Audited as `data.put`. */
  put(
    actor: Actor,
    collection: string,
    key: string,
    value: Uint8Array,
    opts: PutOptions & AccessOptions = {},
  ): PutResult {
    const { contentType, ifMatch } = opts;
    return this.access(actor, 'write', 'data.put', collection, { key }, opts.target, (ns) => {
      const result = this.store.put(ns, collection, key, value, { contentType, ifMatch });
      // In the write's transaction: a put that rolls back leaves no index row.
      if (ns === PERSON_NAMESPACE) {
        this.ai.retrieval.objectWritten(
          collection,
          key,
          value,
          contentType ?? DEFAULT_CONTENT_TYPE,
          result.etag,
        );
      }
      return result;
    });
  }

  /** The object; InstanceError 'not_found' if there is none. Audited as `data.get`. */
  get(actor: Actor, collection: string, key: string, opts: AccessOptions = {}): StoredObject {
    return this.access(actor, 'read', 'data.get', collection, { key }, opts.target, (ns) => {
      const obj = this.store.get(ns, collection, key);
      if (obj === null) {
        throw new InstanceError('not_found', `there is no object "${key}" in ${collection}`, {
          collection,
          key,
        });
      }
      return obj;
    });
  }

  /** One page of a collection's objects (metadata only). Audited as `data.list`. */
  list(actor: Actor, collection: string, opts: ListOptions & AccessOptions = {}): ListPage {
    const { prefix, limit, cursor } = opts;
    return this.access(actor, 'read', 'data.list', collection, { prefix: prefix ?? '' }, opts.target, (ns) =>
      this.store.list(ns, collection, { prefix, limit, cursor }),
    );
  }

  /** Removes an object; InstanceError 'not_found' if there is none. Audited as `data.delete`. */
  delete(actor: Actor, collection: string, key: string, opts: AccessOptions = {}): void {
    this.access(actor, 'write', 'data.delete', collection, { key }, opts.target, (ns) => {
      if (!this.store.delete(ns, collection, key)) {
        throw new InstanceError('not_found', `there is no object "${key}" in ${collection}`, {
          collection,
          key,
        });
      }
      if (ns === PERSON_NAMESPACE) this.ai.retrieval.objectDeleted(collection, key);
    });
  }

  /**
   * The collections of the actor's own namespace that hold objects: the person's for the person,
   * the app's for an app (never another app's, never the person's). Audited as `data.collections`
   * with scope `storage:*:read`.
   */
  collections(actor: Actor): CollectionInfo[] {
    this.checkOpen();
    checkActor(actor);
    const ns = actor.kind === 'person' ? PERSON_NAMESPACE : (`app:${actor.appId}` as Namespace);
    const base: AuditBase = {
      actor: actor.did,
      app: actor.kind === 'app' ? actor.appId : null,
      scope: 'storage:*:read',
      action: 'data.collections',
      object: `${ns}/`,
    };
    if (actor.kind === 'person' && actor.did !== this.did) this.deny(base, 'person', ns);
    return this.audited(base, () => this.store.collections(ns));
  }

  // ---- instance ---------------------------------------------------------------------------------

  usage(): Usage {
    this.checkOpen();
    return this.store.usage();
  }

  info(): InstanceInfo {
    this.checkOpen();
    const head = this.audit.head();
    return {
      instanceId: this.file.instance_id,
      did: this.file.did,
      tier: this.file.tier,
      quotaBytes: this.file.quota_bytes,
      createdAt: this.file.created_at,
      mode: this.mode,
      usage: this.store.usage(),
      auditHead: head === null ? null : { seq: head.seq, hash: toHex(head.hash) },
      instance_public_key: toHex(this.key.publicKey),
      instance_address: this.key.address,
    };
  }

  // ---- instance key and the instance process's records -------------------------------------------

  /**
   * The instance key (instance-key.ts): signs `anchor` and `node.announce` transactions as the
   * DID's delegate. Derived from the encrypted database on first use.
   */
  instanceKey(): SigningKey {
    this.checkOpen();
    this.signingKey ??= loadInstanceKey(this.meta);
    return this.signingKey;
  }

  /** The instance key's encoded public key and address, without deriving the signing key. */
  instanceKeyInfo(): InstanceKeyInfo {
    this.checkOpen();
    return { publicKey: new Uint8Array(this.key.publicKey), address: this.key.address };
  }

  /**
   * A small record the instance process keeps between runs (its chain outbox, what it announced),
   * parsed from JSON; null when there is none. Names are `[a-z][a-z0-9._-]*`; the instance key is
   * not reachable through here.
   */
  runtimeRecord(name: string): unknown {
    this.checkOpen();
    const v = this.meta.get(runtimeKey(name));
    return typeof v === 'string' ? (JSON.parse(v) as unknown) : null;
  }

  /** Stores (as JSON) or, with null, removes a runtime record; see runtimeRecord. */
  setRuntimeRecord(name: string, value: unknown): void {
    this.checkOpen();
    const key = runtimeKey(name);
    if (value === null) this.meta.delete(key);
    else this.meta.set(key, JSON.stringify(value));
  }

  // ---- the assistant ------------------------------------------------------------------------------

  /**
   * The assistant's state in this database: threads, memory items, usage and the retrieval index
   * (ai/state.ts). For the instance's own AI code (the assistant, the embedder, the AI routes),
   * which checks and audits every access on someone's behalf with aiAction first.
   */
  aiState(): AiState {
    this.checkOpen();
    return this.ai;
  }

  /**
   * Checks an access to the assistant and audits it like a data access: the person (the instance's
   * own DID) may; an app only where `spec.apps` allows it and it holds `spec.scope`. A refusal is
   * a `denied` entry and AccessError('forbidden'). Otherwise the returned ticket records the
   * outcome: one `ok` or `error` entry (AiActionTicket). Prompt and reply text never reach the log:
   * entries name only the action, the scope and the object.
   */
  aiAction(actor: Actor, spec: AiActionSpec): AiActionTicket {
    return this.action(
      actor,
      { ...spec, apps: spec.apps ? 'scoped' : 'none' },
      'only the person who owns this instance uses this; apps reach the assistant through the OpenAI-compatible API with the ai:chat scope',
    );
  }

  /**
   * Checks an access that is not to an object and audits it like a data access: the person (the
   * instance's own DID) may; an app as `spec.apps` says. A refusal is a `denied` entry and
   * AccessError('forbidden') (`appMessage` says why to an app refused outright). Otherwise the
   * returned ticket records the outcome: one `ok` or `error` entry (AiActionTicket).
   */
  action(actor: Actor, spec: ActionSpec, appMessage?: string): ActionTicket {
    this.checkOpen();
    checkActor(actor);
    const app = actor.kind === 'app' ? actor.appId : null;
    const base: AuditBase = {
      actor: actor.did,
      app,
      scope: spec.scope,
      action: spec.action,
      object: spec.object,
    };
    // What a refusal names as its namespace: `ai`, `grant`, `profile`.
    const area = spec.action.split('.')[0]!;
    if (actor.kind === 'person' && actor.did !== this.did) this.deny(base, 'person', area);
    if (actor.kind === 'app' && spec.apps === 'none') {
      this.deny(base, 'app', area, appMessage ?? 'only the person who owns this instance does this');
    }
    if (actor.kind === 'app' && spec.apps === 'scoped' && !actor.scopes.includes(spec.scope)) {
      this.deny(base, 'app', area);
    }
    let settled = false;
    const settle = (): void => {
      if (settled) throw new Error('an action is settled once');
      settled = true;
    };
    return {
      ok: <T>(run: () => T): T => {
        settle();
        return this.audited(base, run);
      },
      fail: (err: unknown): void => {
        settle();
        this.auditFailure(base, err);
      },
    };
  }

  /**
   * Appends a `denied` entry for an access refused before it became an Actor (an app whose token
   * or grant the server refused): the refusal is in the log like any other.
   */
  auditDenied(access: DeniedAccess): void {
    this.checkOpen();
    this.audit.append({ ...access, outcome: 'denied' });
  }

  // ---- grants and the profile ----------------------------------------------------------------------

  /**
   * The grants this instance holds (grants/store.ts), for the grant actions, the app token check
   * and the anchorer; those check and audit every access on someone's behalf with action() first.
   */
  grants(): GrantStore {
    this.checkOpen();
    return this.grantStore;
  }

  /**
   * The person's profile (their collection `profile`, key `me`), or null when they have none. The
   * person, or an app holding `profile:read` (no collection scope needed: this one object is what
   * the scope grants). Audited as `profile.read`.
   */
  readProfile(actor: Actor): StoredObject | null {
    const ticket = this.action(actor, {
      action: 'profile.read',
      scope: 'profile:read',
      object: `${PERSON_NAMESPACE}/profile/me`,
      apps: 'scoped',
    });
    return ticket.ok(() => this.store.get(PERSON_NAMESPACE, 'profile', 'me'));
  }

  // ---- audit log --------------------------------------------------------------------------------

  /** Re-checks the whole log and its segments (AuditLog.verify). */
  auditVerify(): AuditVerifyResult {
    this.checkOpen();
    return this.audit.verify();
  }

  /** Up to `limit` (1..1000) entries from `fromSeq` on. */
  auditEntries(fromSeq = 1, limit = 1000): AuditEntry[] {
    this.checkOpen();
    return this.audit.range(fromSeq, limit);
  }

  /**
   * Closes the entries since the last segment into a segment and returns the body of the `anchor`
   * transaction that commits it on chain (its `seq` is the segment id), or null when there is
   * nothing new to close.
   */
  closeAuditSegment(): AuditAnchorBody | null {
    this.checkOpen();
    const segment = this.audit.closeSegment();
    return segment === null ? null : auditAnchorBody(this.did, segment);
  }

  /** Closed segments not yet marked anchored, in id order: what the anchorer still has to commit. */
  unanchoredAuditSegments(): AuditSegment[] {
    this.checkOpen();
    return this.audit.unanchoredSegments();
  }

  /** Entries appended since the last closed segment: what the next closeAuditSegment would commit. */
  unsegmentedAuditEntries(): number {
    this.checkOpen();
    const head = this.audit.head();
    return head === null ? 0 : head.seq - (this.segmentedStmt.get() ?? 0);
  }

  /** Records the committed `anchor` transaction of segment `segmentId` (see AuditLog.markAnchored). */
  markAnchored(segmentId: number, txHash: string, height: number): void {
    this.checkOpen();
    this.audit.markAnchored(segmentId, txHash, height);
  }

  /** An exportable proof that entry `seq` is inside its closed segment (AuditLog.proof). */
  auditProof(seq: number): AuditProof {
    this.checkOpen();
    return this.audit.proof(seq);
  }

  /**
   * Runs `read` over a consistent snapshot of everything the instance holds (one read transaction)
   * and audits it as the person's `instance.export` with object `describe(result)`; a failure is
   * audited as `instance.export.<code>`. The audit entry is appended after the snapshot, so the
   * export it records is not part of what was exported. For export.ts; `read` must not write.
   */
  exportSnapshot<T>(read: (view: ExportView) => T, describe: (result: T) => string): T {
    this.checkOpen();
    const base = { actor: this.did, app: null, scope: 'storage:*:read', action: 'instance.export' };
    const store = this.store;
    const audit = this.audit;
    const namespacesStmt = this.namespacesStmt;
    const ai = this.ai;
    const view: ExportView = {
      did: this.did,
      instanceId: this.instanceId,
      namespaces: () => {
        const all = namespacesStmt.all() as Namespace[];
        return [
          ...all.filter((ns) => ns === PERSON_NAMESPACE),
          ...all.filter((ns) => ns !== PERSON_NAMESPACE),
        ];
      },
      collections: (ns) => store.collections(ns),
      list: (ns, collection, opts) => store.list(ns, collection, opts),
      get: (ns, collection, key) => store.get(ns, collection, key),
      auditEntries: (fromSeq, limit) => audit.range(fromSeq, limit),
      aiThreads: () => ai.threads.iterateThreads(),
      aiMessages: (threadId) => ai.threads.iterateMessages(threadId),
      aiMemory: () => ai.memory.iterateAll(),
      aiUsage: () => ai.usage.iterateMonths(),
      grants: () => this.grantStore.iterate(),
    };
    let result: T;
    try {
      result = this.tx.deferred(() => read(view)) as T;
    } catch (err) {
      this.auditFailure({ ...base, object: '*' }, err);
      throw err;
    }
    this.audit.append({ ...base, object: describe(result), outcome: 'ok' });
    return result;
  }

  /**
   * Runs `fn` in one transaction: the accesses it makes become savepoints inside it (each still
   * commits or rolls back with its own audit entry) and share one commit. Large values made
   * unreferenced inside are released after that commit. The HTTP server's group commit uses this.
   */
  batch<T>(fn: () => T): T {
    this.checkOpen();
    try {
      return this.tx.immediate(fn) as T;
    } finally {
      this.store.releaseOrphanedBlobs();
    }
  }

  /** Closes the store (wiping its copy of the data key); later calls throw InstanceError 'closed'. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signingKey = null;
    try {
      this.grantStore.flushUses();
    } catch {
      // counting uses is best effort: closing must go on
    }
    this.store.close();
  }

  // ---- internals --------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new InstanceError('closed', 'this instance is closed; open it again');
  }

  /**
   * The access rules and the audit around one data operation. Validates the names first (a bad
   * name is an `error` entry), then the rules (a refusal is a `denied` entry), then runs `run` and
   * appends the `ok` entry in one transaction.
   */
  private access<T>(
    actor: Actor,
    op: Op,
    action: string,
    collection: unknown,
    what: { key: unknown } | { prefix: unknown },
    target: AccessOptions['target'],
    run: (ns: Namespace) => T,
  ): T {
    this.checkOpen();
    checkActor(actor);
    const app = actor.kind === 'app' ? actor.appId : null;
    const own: Namespace = app === null ? PERSON_NAMESPACE : `app:${app}`;
    const ns: Namespace = target === 'person' ? PERSON_NAMESPACE : own;
    const validCollection = typeof collection === 'string' && isValid(() => checkCollection(collection));
    const name = validCollection ? collection : INVALID;
    const scope =
      actor.kind === 'app' && ns !== PERSON_NAMESPACE ? ownStorageScope(op) : collectionScope(name, op);
    let object: string;
    let validKey: boolean;
    if ('key' in what) {
      validKey = isValid(() => encodeKey(what.key));
      object = `${ns}/${name}/${validKey ? (what.key as string) : INVALID}`;
    } else {
      validKey = isValid(() => encodePrefix(what.prefix));
      object = `${ns}/${name}/${validKey ? (what.prefix as string) : INVALID}*`;
    }
    const base: AuditBase = { actor: actor.did, app, scope, action, object };

    if (target !== undefined && target !== 'own' && target !== 'person') {
      this.auditFailure(base, invalid('target is "own" or "person"'));
      throw invalid('target is "own" or "person"', { target });
    }
    if (actor.kind === 'person' && actor.did !== this.did) this.deny(base, 'person', ns);
    // An invalid collection name gives a scope no app holds (`storage:<invalid>:…`): denied.
    if (actor.kind === 'app' && !actor.scopes.includes(scope)) this.deny(base, 'app', ns);
    // Other invalid names reach the store, which refuses them with its own code (an error entry).
    return this.audited(base, () => run(ns));
  }

  /** Runs `run` and appends the `ok` entry in one transaction; audits a failure after the rollback. */
  private audited<T>(base: AuditBase, run: () => T): T {
    try {
      return this.tx.immediate(() => {
        const result = run();
        this.audit.append({ ...base, outcome: 'ok' });
        return result;
      }) as T;
    } catch (err) {
      this.auditFailure(base, err);
      throw err;
    } finally {
      // Large values replaced or deleted inside the transaction: their files go once it is over.
      this.store.releaseOrphanedBlobs();
    }
  }

  private deny(base: AuditBase, who: 'person' | 'app', ns: string, message?: string): never {
    this.audit.append({ ...base, outcome: 'denied' });
    throw new AccessError(
      message ??
        (who === 'person'
          ? 'only the person who owns this instance acts as the person here'
          : `this app has no ${base.scope} scope; ask the person to grant it`),
      { scope: base.scope, namespace: ns },
    );
  }

  /**
   * Indexes the person's objects stored before the retrieval index existed (once, when it is
   * created: see AiState). The `chat` collection and non-text objects are skipped.
   */
  private indexExisting(index: RetrievalIndex): void {
    for (const collection of this.store.collections(PERSON_NAMESPACE)) {
      if (NOT_RETRIEVED.has(collection.name)) continue;
      let cursor: string | undefined;
      do {
        const page = this.store.list(PERSON_NAMESPACE, collection.name, {
          limit: 1000,
          ...(cursor !== undefined ? { cursor } : {}),
        });
        for (const item of page.items) {
          if (!isIndexableType(item.contentType)) continue;
          const obj = this.store.get(PERSON_NAMESPACE, collection.name, item.key);
          if (obj !== null) {
            index.objectWritten(collection.name, item.key, obj.value, obj.contentType, obj.etag);
          }
        }
        cursor = page.cursor ?? undefined;
      } while (cursor !== undefined);
    }
  }

  /**
   * Appends the `error` entry of a failed access in its own transaction (the failed one rolled
   * back). Best effort: if even that fails (a closed or damaged database), the caller's original
   * error is what matters and is rethrown by the caller.
   */
  private auditFailure(base: AuditBase, err: unknown): void {
    try {
      this.audit.append({ ...base, action: `${base.action}.${errorCode(err)}`, outcome: 'error' });
    } catch {
      // the original error is rethrown by the caller
    }
  }
}

const RUNTIME_NAME_RE = /^[a-z][a-z0-9._-]{0,63}$/;

function runtimeKey(name: string): string {
  if (typeof name !== 'string' || !RUNTIME_NAME_RE.test(name)) {
    throw invalid('a runtime record name is 1 to 64 characters of a-z, 0-9, ".", "_" and "-"');
  }
  return `runtime.${name}`;
}

function isValid(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}
