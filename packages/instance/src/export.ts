import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { sha256, toHex } from '@self/crypto';
import { AUDIT_RANGE_MAX, entryFromJson, entryHash, entryToJson, type AuditEntry } from './audit/index.js';
import type { ExportView, Instance } from './instance.js';
import { InstanceError } from './store/errors.js';
import { checkCollection, encodeKey, isNamespace, type Namespace } from './store/names.js';
import { LIST_MAX_LIMIT } from './store/store.js';

/**
 * The person's export: everything an instance holds, in an open format any tool can read
 * (design §5: "the person can export all of their data in an open format at any time").
 *
 * Format `self-export` version 1: one UTF-8 file of JSON Lines (one JSON object per line, each line
 * ending in "\n", no blank lines), in this order:
 *
 *   1. header, once:
 *        {"format":"self-export","v":1,"did":"did:self:…","instance_id":"…","exported_at":<ms>}
 *   2. one line per object, person's namespace first, then apps' namespaces by name; collections by
 *      name; keys in UTF-8 byte order:
 *        {"ns":"person"|"app:<appId>","collection":"notes","key":"…","content_type":"text/plain",
 *         "version":<n ≥ 1>,"updated_at":<ms>,"etag":"<hex SHA-256 of the value>",
 *         "value_b64":"<the value, standard base64 (RFC 4648 §4) with padding>"}
 *   3. one line per audit entry, seq 1, 2, 3…:
 *        {"audit":<the entry as JSON: docs/protocol/audit.md, prev as hex>,"hash":"<hex entryHash>"}
 *   4. the end line, once, last:
 *        {"end":true,"objects":<count>,"audit_entries":<count>,"sha256":"<hex>"}
 *      where sha256 is the SHA-256 of every byte of the file before the end line (all earlier lines
 *      with their "\n").
 *
 * Times are milliseconds since the Unix epoch. The sha256 detects truncation and damage; it is not
 * a signature (whoever can edit the file can recompute it). Values are in the clear: the archive is
 * written with mode 0600 and is the person's to protect. Audit entries carry their own integrity:
 * each entry's hash and link to the previous one are checked on reading, and entries inside
 * anchored segments can be proven against SELF Chain with the instance's proofs.
 */
export const EXPORT_FORMAT = 'self-export';
export const EXPORT_VERSION = 1;

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  v: typeof EXPORT_VERSION;
  did: string;
  instance_id: string;
  exported_at: number;
}

export interface ExportResult {
  /** Absolute path of the archive. */
  path: string;
  objects: number;
  auditEntries: number;
  /** The end line's sha256. */
  sha256: string;
  /** Size of the archive in bytes. */
  bytes: number;
}

export interface ExportOptions {
  /** Clock for `exported_at` (ms since the epoch); default Date.now. */
  now?: () => number;
}

/** Bytes gathered before a write(2): small objects are batched, a large one goes out at once. */
const FLUSH_BYTES = 1 << 20;
const HEX64_RE = /^[0-9a-f]{64}$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Streams JSON lines to a new file (mode 0600), hashing what it writes. */
class ArchiveWriter {
  private readonly fd: number;
  private readonly hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private open = true;
  bytes = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'wx', 0o600);
  }

  line(value: unknown, hashed = true): void {
    const buf = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
    if (hashed) this.hash.update(buf);
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.bytes += buf.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  /** Hex SHA-256 of the hashed lines so far; call once. */
  digest(): string {
    return this.hash.digest('hex');
  }

  /** Writes what is pending, fsyncs and closes. */
  finish(): void {
    this.flush();
    fsyncSync(this.fd);
    this.close();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
  }

  private flush(): void {
    for (const buf of this.pending) {
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    }
    this.pending = [];
    this.pendingBytes = 0;
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Writes the whole archive to `tmp` from one snapshot; returns the counts and checksum. */
function writeArchive(view: ExportView, tmp: string, exportedAt: number): Omit<ExportResult, 'path'> {
  const w = new ArchiveWriter(tmp);
  try {
    const header: ExportHeader = {
      format: EXPORT_FORMAT,
      v: EXPORT_VERSION,
      did: view.did,
      instance_id: view.instanceId,
      exported_at: exportedAt,
    };
    w.line(header);
    let objects = 0;
    for (const ns of view.namespaces()) {
      for (const { name: collection } of view.collections(ns)) {
        let cursor: string | undefined;
        do {
          const page = view.list(ns, collection, { limit: LIST_MAX_LIMIT, cursor });
          for (const item of page.items) {
            // One value in memory at a time.
            const obj = view.get(ns, collection, item.key);
            if (obj === null) {
              throw new InstanceError('corrupt', 'a listed object has no row; restore from a backup', {
                collection,
              });
            }
            w.line({
              ns,
              collection,
              key: item.key,
              content_type: obj.contentType,
              version: obj.version,
              updated_at: obj.updatedAt,
              etag: obj.etag,
              value_b64: base64(obj.value),
            });
            objects++;
          }
          cursor = page.cursor ?? undefined;
        } while (cursor !== undefined);
      }
    }
    let auditEntries = 0;
    for (let from = 1; ;) {
      const entries = view.auditEntries(from, AUDIT_RANGE_MAX);
      for (const entry of entries) w.line({ audit: entryToJson(entry), hash: toHex(entryHash(entry)) });
      auditEntries += entries.length;
      const last = entries.at(-1);
      if (last === undefined || entries.length < AUDIT_RANGE_MAX) break;
      from = last.seq + 1;
    }
    const digest = w.digest();
    w.line({ end: true, objects, audit_entries: auditEntries, sha256: digest }, false);
    w.finish();
    return { objects, auditEntries, sha256: digest, bytes: w.bytes };
  } catch (err) {
    w.close();
    throw err;
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes everything the instance holds (all namespaces, all objects, the whole audit log) to
 * `outPath` in the `self-export` format above, from one consistent snapshot. The archive is written
 * to a temporary file in the same directory, fsynced and renamed over `outPath`, so `outPath` is
 * either the complete archive or untouched. Values are read and written one at a time.
 *
 * Audited as the person's `instance.export` (object `sha256:<the archive's end-line sha256>`), after
 * the snapshot: the archive does not contain its own export entry. A failure is audited as
 * `instance.export.<code>` and leaves no file behind.
 *
 * Synchronous, like the store: a large export holds the instance process for its duration.
 */
export function exportInstance(instance: Instance, outPath: string, opts: ExportOptions = {}): ExportResult {
  if (typeof outPath !== 'string' || outPath.length === 0) {
    throw new InstanceError('invalid_argument', 'the export needs a file path to write to');
  }
  const path = resolve(outPath);
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const now = opts.now ?? Date.now;
  let written: Omit<ExportResult, 'path'>;
  try {
    written = instance.exportSnapshot(
      (view) => writeArchive(view, tmp, now()),
      (r) => `sha256:${r.sha256}`,
    );
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dir);
  return { path, ...written };
}

// ---- reading ------------------------------------------------------------------------------------

export type ExportErrorCode =
  /** A line is not what the format says (not JSON, a wrong shape, out of order, missing end line…). */
  | 'malformed_archive'
  /** Bytes do not match their checksum: the end line's sha256, an object's etag, an audit entry's hash or link. */
  | 'checksum_mismatch';

export class ExportError extends Error {
  override readonly name = 'ExportError';

  constructor(
    readonly code: ExportErrorCode,
    message: string,
    /** `line`: 1-based line number where it was found; `reason`: a stable short word. */
    readonly details: { line: number; reason: string },
  ) {
    super(message);
  }
}

export interface ExportedObject {
  ns: Namespace;
  collection: string;
  key: string;
  contentType: string;
  version: number;
  updatedAt: number;
  etag: string;
  value: Uint8Array;
}

export type ExportRecord =
  { type: 'object'; object: ExportedObject } | { type: 'audit'; entry: AuditEntry; hash: string };

export interface ExportSummary {
  header: ExportHeader;
  objects: number;
  auditEntries: number;
  /** The verified end-line sha256. */
  sha256: string;
  bytes: number;
}

export interface ReadExportOptions {
  /** Longest line accepted, in bytes (a value's base64 plus its fields); default 256 MiB. */
  maxLineBytes?: number;
}

const DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024;
const READ_CHUNK = 1 << 20;

/** The file's lines, each with its "\n" when it has one; reads 1 MiB at a time. */
function* fileLines(path: string, maxLineBytes: number): Generator<{ raw: Buffer; line: number }> {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    let parts: Buffer[] = [];
    let partBytes = 0;
    let line = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, READ_CHUNK, null);
      if (n === 0) break;
      const view = chunk.subarray(0, n);
      let start = 0;
      while (start < n) {
        const nl = view.indexOf(0x0a, start);
        const stop = nl === -1 ? n : nl + 1;
        // A copy: `chunk` is reused by the next read.
        parts.push(Buffer.from(view.subarray(start, stop)));
        partBytes += stop - start;
        if (partBytes > maxLineBytes + 1) {
          throw new ExportError(
            'malformed_archive',
            `line ${line + 1} is longer than ${maxLineBytes} bytes`,
            {
              line: line + 1,
              reason: 'line_too_long',
            },
          );
        }
        if (nl !== -1) {
          yield { raw: Buffer.concat(parts, partBytes), line: ++line };
          parts = [];
          partBytes = 0;
        }
        start = stop;
      }
    }
    if (partBytes > 0) yield { raw: Buffer.concat(parts, partBytes), line: ++line };
  } finally {
    closeSync(fd);
  }
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasExactKeys(o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(o, k));
}

function isUint(v: unknown, min = 0): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function validName(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

const HEADER_KEYS = ['format', 'v', 'did', 'instance_id', 'exported_at'] as const;
const OBJECT_KEYS = [
  'ns',
  'collection',
  'key',
  'content_type',
  'version',
  'updated_at',
  'etag',
  'value_b64',
] as const;
const AUDIT_KEYS = ['audit', 'hash'] as const;
const END_KEYS = ['end', 'objects', 'audit_entries', 'sha256'] as const;

/**
 * Reads an archive line by line and checks it: the header, the shape and order of every line, each
 * object's etag against its value, each audit entry's hash and link to the one before, the end
 * line's counts and its sha256 over everything before it, and that nothing follows the end line.
 * Yields the objects and audit entries as it goes and returns the summary once the end line checked
 * out; throws ExportError at the first problem. Records yielded before the return are not yet
 * covered by the final sha256: trust them only once the iteration completes.
 */
export function* readExportRecords(
  path: string,
  opts: ReadExportOptions = {},
): Generator<ExportRecord, ExportSummary, undefined> {
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const hash = createHash('sha256');
  let header: ExportHeader | null = null;
  let summary: ExportSummary | null = null;
  let objects = 0;
  let auditEntries = 0;
  let prevHash: string | null = null;
  let bytes = 0;

  for (const { raw, line } of fileLines(path, maxLineBytes)) {
    const malformed = (reason: string, message: string): ExportError =>
      new ExportError('malformed_archive', `line ${line}: ${message}`, { line, reason });
    const mismatch = (reason: string, message: string): ExportError =>
      new ExportError('checksum_mismatch', `line ${line}: ${message}`, { line, reason });
    bytes += raw.length;
    if (summary !== null) throw malformed('after_end', 'the archive goes on after its end line');
    if (raw[raw.length - 1] !== 0x0a) {
      throw malformed('truncated', 'the last line has no newline: the archive is truncated');
    }
    let value: unknown;
    try {
      value = JSON.parse(utf8Decoder.decode(raw.subarray(0, raw.length - 1)));
    } catch {
      throw malformed('not_json', 'not a line of UTF-8 JSON');
    }
    if (!isRecord(value)) throw malformed('not_object', 'a line is a JSON object');

    if (header === null) {
      if (
        !hasExactKeys(value, HEADER_KEYS) ||
        value.format !== EXPORT_FORMAT ||
        value.v !== EXPORT_VERSION ||
        typeof value.did !== 'string' ||
        typeof value.instance_id !== 'string' ||
        !isUint(value.exported_at)
      ) {
        throw malformed('header', `the first line is not a ${EXPORT_FORMAT} v${EXPORT_VERSION} header`);
      }
      header = value as unknown as ExportHeader;
      hash.update(raw);
      continue;
    }

    if (Object.hasOwn(value, 'end')) {
      if (
        !hasExactKeys(value, END_KEYS) ||
        value.end !== true ||
        !isUint(value.objects) ||
        !isUint(value.audit_entries) ||
        typeof value.sha256 !== 'string' ||
        !HEX64_RE.test(value.sha256)
      ) {
        throw malformed('end', 'a malformed end line');
      }
      const digest = hash.digest('hex');
      if (value.sha256 !== digest) {
        throw mismatch('sha256', 'the archive does not match its sha256: it was altered or damaged');
      }
      if (value.objects !== objects || value.audit_entries !== auditEntries) {
        throw malformed(
          'counts',
          `the end line counts ${value.objects} objects and ${value.audit_entries} audit entries; the archive holds ${objects} and ${auditEntries}`,
        );
      }
      summary = { header, objects, auditEntries, sha256: digest, bytes: 0 };
      continue;
    }

    hash.update(raw);
    if (Object.hasOwn(value, 'audit')) {
      if (!hasExactKeys(value, AUDIT_KEYS) || typeof value.hash !== 'string' || !HEX64_RE.test(value.hash)) {
        throw malformed('audit', 'a malformed audit line');
      }
      let entry: AuditEntry;
      try {
        entry = entryFromJson(value.audit);
      } catch (err) {
        throw malformed('audit', `not a valid audit entry: ${(err as Error).message}`);
      }
      if (entry.seq !== auditEntries + 1) {
        throw malformed('audit_seq', `audit entry ${entry.seq} where ${auditEntries + 1} was expected`);
      }
      const computed = toHex(entryHash(entry));
      if (computed !== value.hash)
        throw mismatch('audit_hash', `audit entry ${entry.seq} does not match its hash`);
      if (prevHash !== null && toHex(entry.prev) !== prevHash) {
        throw mismatch('audit_link', `audit entry ${entry.seq} does not link to entry ${entry.seq - 1}`);
      }
      prevHash = computed;
      auditEntries++;
      yield { type: 'audit', entry, hash: computed };
      continue;
    }

    if (auditEntries > 0) throw malformed('order', 'an object line after the audit entries');
    if (!hasExactKeys(value, OBJECT_KEYS))
      throw malformed('object', 'not a header, object, audit or end line');
    const { ns, collection, key, content_type, version, updated_at, etag, value_b64 } = value;
    if (
      !isNamespace(ns) ||
      typeof collection !== 'string' ||
      !validName(() => checkCollection(collection)) ||
      typeof key !== 'string' ||
      !validName(() => encodeKey(key)) ||
      typeof content_type !== 'string' ||
      content_type.length === 0 ||
      !isUint(version, 1) ||
      !isUint(updated_at) ||
      typeof etag !== 'string' ||
      !HEX64_RE.test(etag) ||
      typeof value_b64 !== 'string' ||
      value_b64.length % 4 !== 0 ||
      !BASE64_RE.test(value_b64)
    ) {
      throw malformed('object', 'a malformed object line');
    }
    const bytesOfValue = Buffer.from(value_b64, 'base64');
    if (bytesOfValue.toString('base64') !== value_b64)
      throw malformed('object', 'value_b64 is not canonical base64');
    const objectValue = new Uint8Array(bytesOfValue.buffer, bytesOfValue.byteOffset, bytesOfValue.byteLength);
    if (toHex(sha256(objectValue)) !== etag) {
      throw mismatch('etag', `the value of ${ns}/${collection}/${key} does not match its etag`);
    }
    objects++;
    yield {
      type: 'object',
      object: {
        ns,
        collection,
        key,
        contentType: content_type,
        version,
        updatedAt: updated_at,
        etag,
        value: objectValue,
      },
    };
  }

  if (summary === null) {
    throw new ExportError(
      'malformed_archive',
      header === null ? 'the archive is empty' : 'the archive has no end line: it is truncated',
      { line: 0, reason: 'truncated' },
    );
  }
  summary.bytes = bytes;
  return summary;
}

/**
 * Reads and checks a whole archive (readExportRecords), calling onObject / onAuditEntry for each
 * record, and returns the summary. Throws ExportError at the first problem; what the callbacks saw
 * before a throw must be discarded.
 */
export function readExport(
  path: string,
  opts: ReadExportOptions & {
    onObject?: (object: ExportedObject) => void;
    onAuditEntry?: (entry: AuditEntry, hash: string) => void;
  } = {},
): ExportSummary {
  const records = readExportRecords(path, opts);
  for (;;) {
    const next = records.next();
    if (next.done === true) return next.value;
    const record = next.value;
    if (record.type === 'object') opts.onObject?.(record.object);
    else opts.onAuditEntry?.(record.entry, record.hash);
  }
}
