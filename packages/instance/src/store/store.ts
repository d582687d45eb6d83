import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fromUtf8, sha256, toHex } from '@self/crypto';
import { BlobFiles, INLINE_MAX, type BlobOwner } from './blob-files.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import {
  DATA_KEY_BYTES,
  isCorruptionError,
  openInstanceDatabase,
  type InstanceDatabase,
} from './database.js';
import { InstanceError } from './errors.js';
import { checkCollection, checkNamespace, encodeKey, encodePrefix, type Namespace } from './names.js';
import { META } from './schema.js';

export const DB_FILE = 'instance.db';
export const BLOBS_DIR = 'blobs';
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
export const LIST_DEFAULT_LIMIT = 100;
export const LIST_MAX_LIMIT = 1000;
const MAX_CONTENT_TYPE_LENGTH = 255;
const CONTENT_TYPE_RE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(?:\s*;[\x20-\x7e]*)?$/;
/** Greater than every stored key: keys are UTF-8, and UTF-8 never contains the byte 0xff. */
const AFTER_ALL_KEYS = new Uint8Array([0xff]);

export interface InstanceStoreOptions {
  /** Holds `instance.db` and `blobs/`; created (mode 0700) if missing. One open store per directory. */
  dir: string;
  /** The instance's 32-byte data key (vault.ts). The store keeps a copy and wipes it on close. */
  dataKey: Uint8Array;
  /** Bytes of values the instance may hold (the tier's quota). */
  quotaBytes: number;
  /** Largest single value accepted. */
  maxValueBytes: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export interface PutOptions {
  /** Stored and returned as given; defaults to application/octet-stream. */
  contentType?: string;
  /** Write only if the object exists and its current etag equals this one. */
  ifMatch?: string;
}

export interface PutResult {
  /** 1 when the object is created, +1 at each overwrite (a deleted and re-created object starts at 1). */
  version: number;
  /** Lowercase hex SHA-256 of the value. */
  etag: string;
  size: number;
}

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  version: number;
  /** Milliseconds since the epoch. */
  updatedAt: number;
  contentType: string;
}

export interface StoredObject extends Omit<ObjectInfo, 'key'> {
  value: Uint8Array;
}

export interface ListOptions {
  /** Only keys that start with this string. */
  prefix?: string;
  /** 1 to 1000 (larger values are capped at 1000); default 100. */
  limit?: number;
  /** `cursor` from the previous page. */
  cursor?: string;
}

export interface ListPage {
  /** In key order (UTF-8 bytes). */
  items: ObjectInfo[];
  /** Pass to the next call for the next page; null when this page is the last. */
  cursor: string | null;
}

export interface CollectionInfo {
  name: string;
  objects: number;
  bytes: number;
}

export interface Usage {
  bytes: number;
  quotaBytes: number;
  objects: number;
}

interface CurrentRow {
  size: number;
  etag: Uint8Array;
  version: number;
  blob_id: string | null;
}

interface ObjectRow extends CurrentRow {
  content_type: string;
  updated_at: number;
  value: Uint8Array | null;
}

interface ListRow {
  key: Uint8Array;
  size: number;
  etag: Uint8Array;
  version: number;
  content_type: string;
  updated_at: number;
}

const WHERE_OBJECT = 'WHERE ns = ? AND collection = ? AND key = ?';

/** Prepared once per connection: parsing SQL costs more than running these statements. */
function prepare(db: InstanceDatabase) {
  return {
    current: db.prepare<[string, string, Uint8Array], CurrentRow>(
      `SELECT size, etag, version, blob_id FROM objects ${WHERE_OBJECT}`,
    ),
    read: db.prepare<[string, string, Uint8Array], ObjectRow>(
      `SELECT size, etag, version, blob_id, content_type, updated_at, value FROM objects ${WHERE_OBJECT}`,
    ),
    upsert: db.prepare(
      `INSERT INTO objects (ns, collection, key, size, etag, version, content_type, updated_at, blob_id, value)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ns, collection, key) DO UPDATE SET
         size = excluded.size, etag = excluded.etag, version = excluded.version,
         content_type = excluded.content_type, updated_at = excluded.updated_at,
         blob_id = excluded.blob_id, value = excluded.value`,
    ),
    remove: db.prepare<[string, string, Uint8Array]>(`DELETE FROM objects ${WHERE_OBJECT}`),
    list: db.prepare<[string, string, Uint8Array, Uint8Array, number], ListRow>(
      `SELECT key, size, etag, version, content_type, updated_at FROM objects
       WHERE ns = ? AND collection = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`,
    ),
    collections: db.prepare<[string], CollectionInfo>(
      `SELECT collection AS name, count(*) AS objects, sum(size) AS bytes FROM objects
       WHERE ns = ? GROUP BY collection ORDER BY collection`,
    ),
    blobReferenced: db.prepare<[string]>('SELECT 1 FROM objects WHERE blob_id = ?').pluck(),
    getMeta: db.prepare<[string], number>('SELECT value FROM meta WHERE key = ?').pluck(),
    addMeta: db.prepare<[number, string]>('UPDATE meta SET value = value + ? WHERE key = ?'),
  };
}

/** better-sqlite3 returns Buffers; hand out plain Uint8Array views so every byte string has one type. */
function bytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function invalid(message: string, details?: Record<string, unknown>): InstanceError {
  return new InstanceError('invalid_argument', message, details);
}

function checkContentType(contentType: unknown): string {
  if (contentType === undefined) return DEFAULT_CONTENT_TYPE;
  if (
    typeof contentType !== 'string' ||
    contentType.length > MAX_CONTENT_TYPE_LENGTH ||
    !CONTENT_TYPE_RE.test(contentType)
  ) {
    throw invalid(
      `a content type is a media type such as "text/plain; charset=utf-8", at most ${MAX_CONTENT_TYPE_LENGTH} characters`,
    );
  }
  return contentType;
}

function checkLimit(limit: unknown): number {
  if (limit === undefined) return LIST_DEFAULT_LIMIT;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw invalid(`a list limit is a whole number from 1 to ${LIST_MAX_LIMIT}`, { limit });
  }
  return Math.min(limit, LIST_MAX_LIMIT);
}

function checkByteCount(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${name} must be a whole number of bytes, at least ${min}`, { [name]: value });
  }
  return value;
}

/** The least byte string greater than every string that starts with `prefix` (non-empty UTF-8). */
function afterPrefix(prefix: Uint8Array): Uint8Array {
  const out = Uint8Array.from(prefix);
  out[out.length - 1]! += 1; // never overflows: UTF-8 has no 0xff byte
  return out;
}

/**
 * A person's objects: `(namespace, collection, key) → value`, in one encrypted SQLite database
 * (`instance.db`, SQLCipher 4) with values over 64 KiB in encrypted files under `blobs/`.
 *
 * Every write is one IMMEDIATE transaction that checks `ifMatch` and the quota, writes the row and
 * updates the usage counters, so a refused write changes nothing. A blob file is written and
 * fsynced before the transaction that references it commits, and removed if that transaction
 * fails; a file a commit makes unreferenced is removed after the commit. Files a crash leaves
 * behind are swept at the next open. The store is synchronous (better-sqlite3 is) and assumes it is
 * the only writer of its directory: one instance process per person.
 *
 * Other modules may keep their own tables in the same database (`database`) and call the store
 * inside their own transaction, so that, say, a write and its audit entry commit together.
 */
export class InstanceStore {
  private readonly stmt: ReturnType<typeof prepare>;
  private closed = false;
  /** Blob files unreferenced by writes inside a caller's transaction (see releaseOrphanedBlobs). */
  private readonly orphaned = new Set<string>();

  private constructor(
    private readonly db: InstanceDatabase,
    private readonly blobs: BlobFiles,
    private readonly dataKey: Uint8Array,
    private readonly quotaBytes: number,
    private readonly maxValueBytes: number,
    private readonly now: () => number,
  ) {
    this.stmt = prepare(db);
  }

  static open(opts: InstanceStoreOptions): InstanceStore {
    if (typeof opts.dir !== 'string' || opts.dir.length === 0) throw invalid('dir must be a directory path');
    if (!(opts.dataKey instanceof Uint8Array) || opts.dataKey.length !== DATA_KEY_BYTES) {
      throw new InstanceError(
        'bad_key',
        `the data key must be ${DATA_KEY_BYTES} bytes; unlock the instance's key file again`,
      );
    }
    const quotaBytes = checkByteCount('quotaBytes', opts.quotaBytes, 0);
    const maxValueBytes = checkByteCount('maxValueBytes', opts.maxValueBytes, 1);
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const db = openInstanceDatabase(join(opts.dir, DB_FILE), opts.dataKey);
    const dataKey = Uint8Array.from(opts.dataKey);
    try {
      const blobs = BlobFiles.open(join(opts.dir, BLOBS_DIR), dataKey);
      const store = new InstanceStore(db, blobs, dataKey, quotaBytes, maxValueBytes, opts.now ?? Date.now);
      store.guard(() => blobs.sweep((id) => store.stmt.blobReferenced.get(id) !== undefined));
      return store;
    } catch (err) {
      db.close();
      dataKey.fill(0);
      throw err;
    }
  }

  /**
   * Creates or replaces an object. Throws InstanceError: invalid_name / invalid_key /
   * invalid_argument, too_large, conflict (ifMatch), quota_exceeded (details: used, quota, needed:
   * the bytes this write adds), corrupt, closed. A refused write leaves no row and no file.
   */
  put(ns: Namespace, collection: string, key: string, value: Uint8Array, opts: PutOptions = {}): PutResult {
    this.checkOpen();
    const owner = this.owner(ns, collection, key);
    if (!(value instanceof Uint8Array)) throw invalid('a value is a Uint8Array of bytes');
    const contentType = checkContentType(opts.contentType);
    const { ifMatch } = opts;
    if (ifMatch !== undefined && typeof ifMatch !== 'string') throw invalid('ifMatch is an etag string');
    const size = value.length;
    if (size > this.maxValueBytes) {
      throw new InstanceError(
        'too_large',
        `this value is ${size} bytes; this instance accepts values up to ${this.maxValueBytes} bytes, so split it into smaller objects`,
        { size, max: this.maxValueBytes },
      );
    }
    const etag = sha256(value);
    const etagHex = toHex(etag);
    const args = [owner.ns, owner.collection, owner.key] as const;

    // Filled in by the transaction; an object so TypeScript sees the closure's writes.
    const blob: { written: string | null; replaced: string | null } = { written: null, replaced: null };
    const durable = this.removesBlobAfterCommit(args);
    let result: PutResult;
    try {
      result = this.guard(() =>
        this.transaction(durable, () => {
          const cur = this.stmt.current.get(...args);
          if (ifMatch !== undefined && (cur === undefined || toHex(cur.etag) !== ifMatch)) {
            throw new InstanceError(
              'conflict',
              'the object changed since you read it (its etag no longer matches ifMatch); read it again and retry',
              { ifMatch, current: cur === undefined ? null : toHex(cur.etag) },
            );
          }
          const needed = size - (cur?.size ?? 0);
          const used = this.meta(META.usedBytes);
          if (needed > 0 && used + needed > this.quotaBytes) {
            throw new InstanceError(
              'quota_exceeded',
              `this write needs ${needed} more bytes and the instance has ${Math.max(0, this.quotaBytes - used)} left of its ${this.quotaBytes}; delete objects or move to a larger tier`,
              { used, quota: this.quotaBytes, needed },
            );
          }
          let inline: Uint8Array | null = value;
          if (size > INLINE_MAX) {
            blob.written = this.blobs.newId();
            this.blobs.write(blob.written, owner, value);
            inline = null;
          }
          const version = (cur?.version ?? 0) + 1;
          this.stmt.upsert.run(...args, size, etag, version, contentType, this.now(), blob.written, inline);
          if (needed !== 0) this.stmt.addMeta.run(needed, META.usedBytes);
          if (cur === undefined) this.stmt.addMeta.run(1, META.objectCount);
          blob.replaced = cur?.blob_id ?? null;
          return { version, etag: etagHex, size };
        }),
      );
    } catch (err) {
      if (blob.written !== null) this.removeQuietly(blob.written);
      throw err;
    }
    // Only after a commit made durable (FULL); inside a caller's transaction, once the caller has
    // committed and calls releaseOrphanedBlobs.
    if (blob.replaced !== null) {
      if (durable) this.removeQuietly(blob.replaced);
      else if (this.db.inTransaction) this.orphaned.add(blob.replaced);
    }
    return result;
  }

  /** The object, or null if there is none. A blob that fails authentication throws corrupt. */
  get(ns: Namespace, collection: string, key: string): StoredObject | null {
    this.checkOpen();
    const owner = this.owner(ns, collection, key);
    return this.guard(() => {
      const row = this.stmt.read.get(owner.ns, owner.collection, owner.key);
      if (row === undefined) return null;
      const value =
        row.blob_id !== null
          ? this.blobs.read(row.blob_id, owner, row.size)
          : row.value !== null
            ? bytes(row.value)
            : null;
      if (value === null)
        throw new InstanceError('corrupt', 'an object row holds no value; restore from a backup');
      return {
        value,
        contentType: row.content_type,
        version: row.version,
        etag: toHex(row.etag),
        size: row.size,
        updatedAt: row.updated_at,
      };
    });
  }

  /** One page of a collection's objects (metadata only) in key order; see ListOptions. */
  list(ns: Namespace, collection: string, opts: ListOptions = {}): ListPage {
    this.checkOpen();
    checkNamespace(ns);
    checkCollection(collection);
    const prefix = encodePrefix(opts.prefix ?? '');
    const limit = checkLimit(opts.limit);
    let from = prefix;
    if (opts.cursor !== undefined) {
      // The least key after the cursor's key is that key followed by 0x00.
      const cursorKey = decodeCursor(opts.cursor);
      const afterCursor = new Uint8Array(cursorKey.length + 1);
      afterCursor.set(cursorKey);
      if (Buffer.compare(afterCursor, from) > 0) from = afterCursor;
    }
    const to = prefix.length > 0 ? afterPrefix(prefix) : AFTER_ALL_KEYS;
    const rows = this.guard(() => this.stmt.list.all(ns, collection, from, to, limit + 1));
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((row) => ({
        key: fromUtf8(row.key),
        size: row.size,
        etag: toHex(row.etag),
        version: row.version,
        updatedAt: row.updated_at,
        contentType: row.content_type,
      })),
      cursor: rows.length > limit && last !== undefined ? encodeCursor(last.key) : null,
    };
  }

  /** Removes an object; false if there was none. */
  delete(ns: Namespace, collection: string, key: string): boolean {
    this.checkOpen();
    const owner = this.owner(ns, collection, key);
    const args = [owner.ns, owner.collection, owner.key] as const;
    const durable = this.removesBlobAfterCommit(args);
    const removed = this.guard(() =>
      this.transaction(durable, () => {
        const cur = this.stmt.current.get(...args);
        if (cur === undefined) return null;
        this.stmt.remove.run(...args);
        if (cur.size !== 0) this.stmt.addMeta.run(-cur.size, META.usedBytes);
        this.stmt.addMeta.run(-1, META.objectCount);
        return { blobId: cur.blob_id };
      }),
    );
    if (removed === null) return false;
    if (removed.blobId !== null) {
      if (durable) this.removeQuietly(removed.blobId);
      else if (this.db.inTransaction) this.orphaned.add(removed.blobId);
    }
    return true;
  }

  /** The namespace's collections that hold at least one object, by name. */
  collections(ns: Namespace): CollectionInfo[] {
    this.checkOpen();
    checkNamespace(ns);
    return this.guard(() => this.stmt.collections.all(ns));
  }

  usage(): Usage {
    this.checkOpen();
    return this.guard(() => ({
      bytes: this.meta(META.usedBytes),
      quotaBytes: this.quotaBytes,
      objects: this.meta(META.objectCount),
    }));
  }

  /**
   * The connection, for modules that keep their own tables in the instance database (the audit
   * log); they must not write `objects` or `meta`. A store call inside their transaction commits or
   * rolls back with it.
   */
  get database(): InstanceDatabase {
    this.checkOpen();
    return this.db;
  }

  /** Closes the database and wipes the store's copy of the data key; later calls throw closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.close();
    } finally {
      this.dataKey.fill(0);
    }
  }

  // ---- internals ----

  private checkOpen(): void {
    if (this.closed) throw new InstanceError('closed', 'this instance store is closed; open it again');
  }

  private owner(ns: Namespace, collection: string, key: string): BlobOwner {
    checkNamespace(ns);
    checkCollection(collection);
    return { ns, collection, key: encodeKey(key) };
  }

  /** Runs `fn`, turning SQLite's reports of damaged pages (a failed SQLCipher HMAC) into corrupt. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isCorruptionError(err)) {
        throw new InstanceError(
          'corrupt',
          'the instance database failed an integrity check (a page was altered or damaged); restore it from a backup',
          undefined,
          err,
        );
      }
      throw err;
    }
  }

  /**
   * Whether this write removes the blob file it makes unreferenced right after its commit. Such a
   * commit runs with synchronous = FULL: under NORMAL a power loss could undo the commit but not
   * the removal, leaving a row that points to nothing. Inside a caller's transaction (where
   * better-sqlite3 makes ours a savepoint) the commit is not ours to make durable, and the caller
   * may still roll back, so the old file is left for the sweep at the next open.
   */
  private removesBlobAfterCommit(args: readonly [string, string, Uint8Array]): boolean {
    if (this.db.inTransaction) return false;
    return this.guard(() => (this.stmt.current.get(...args)?.blob_id ?? null) !== null);
  }

  private transaction<T>(durable: boolean, fn: () => T): T {
    if (!durable) return this.db.transaction(fn).immediate();
    // Not a cached statement: SQLite applies this pragma when it compiles the statement, so
    // re-running a prepared copy does nothing.
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  private meta(key: string): number {
    const v = this.stmt.getMeta.get(key);
    if (typeof v !== 'number')
      throw new InstanceError(
        'corrupt',
        `the instance database lacks its ${key} counter; restore from a backup`,
      );
    return v;
  }

  /**
   * Removes the blob files that writes inside a caller's transaction left unreferenced; call it
   * after that transaction committed (or rolled back). A checkpoint first makes the commit durable,
   * so a power loss cannot bring back a row whose file is gone; ids referenced again (a rollback)
   * are kept. Returns the number of files removed.
   */
  releaseOrphanedBlobs(): number {
    this.checkOpen();
    if (this.orphaned.size === 0 || this.db.inTransaction) return 0;
    const ids = [...this.orphaned];
    this.orphaned.clear();
    this.guard(() => this.db.pragma('wal_checkpoint(PASSIVE)'));
    let removed = 0;
    for (const id of ids) {
      if (this.guard(() => this.stmt.blobReferenced.get(id)) !== undefined) continue;
      this.removeQuietly(id);
      removed++;
    }
    return removed;
  }

  /** Best effort: a file that cannot be removed now is swept at the next open. */
  private removeQuietly(blobId: string): void {
    try {
      this.blobs.remove(blobId);
    } catch {
      // left for the sweep
    }
  }
}
