import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { sha256, toHex } from '@self/crypto';
import {
  memoryJson,
  messageJson,
  threadJson,
  type MemoryItemJson,
  type MessageJson,
  type ThreadJson,
} from './ai/json.js';
import { THREAD_ID_RE, type MessageMeta } from './ai/threads.js';
import { AUDIT_RANGE_MAX, entryFromJson, entryHash, entryToJson, type AuditEntry } from './audit/index.js';
import {
  grantExportJson,
  grantRecordProblem,
  grantSignatureHolds,
  type GrantExportJson,
} from './grants/export-record.js';
import type { ExportView, Instance } from './instance.js';
import { InstanceError } from './store/errors.js';
import { checkCollection, encodeKey, isNamespace, type Namespace } from './store/names.js';
import { LIST_MAX_LIMIT } from './store/store.js';

/**
 * The person's export: everything an instance holds, in an open format any tool can read
 * (design §5: "the person can export all of their data in an open format at any time").
 *
 * Format `self-export` version 3: one UTF-8 file of JSON Lines (one JSON object per line, each line
 * ending in "\n", no blank lines), in this order:
 *
 *   1. header, once:
 *        {"format":"self-export","v":3,"did":"did:self:…","instance_id":"…","exported_at":<ms>}
 *   2. one line per object, person's namespace first, then apps' namespaces by name; collections by
 *      name; keys in UTF-8 byte order:
 *        {"ns":"person"|"app:<appId>","collection":"notes","key":"…","content_type":"text/plain",
 *         "version":<n ≥ 1>,"updated_at":<ms>,"etag":"<hex SHA-256 of the value>",
 *         "value_b64":"<the value, standard base64 (RFC 4648 §4) with padding>"}
 *   3. one line per audit entry, seq 1, 2, 3…:
 *        {"audit":<the entry as JSON: docs/protocol/audit.md, prev as hex>,"hash":"<hex entryHash>"}
 *   4. the private assistant's state (ai/), each record the AI API's wire shape (ai/json.ts):
 *      a. one line per thread, by id, each followed by its messages, oldest (lowest id) first:
 *           {"ai.thread":{"id":"th_…","title":"…"|null,"created_at":<ms>,"updated_at":<ms>,
 *             "message_count":<n>,"token_count":<n>,"summary":null|{"text":"…",
 *             "upto_message_id":<id>,"summarized_messages":<n>}}}
 *           {"ai.message":{"id":<n ≥ 1>,"thread_id":"th_…","role":"user"|"assistant","content":"…",
 *             "tokens":<n>,"status":"complete"|"incomplete","created_at":<ms>,"meta":{…}}}
 *         (meta: {model?, usage?, citations?, context?, error?, memory_ids?}, as stored)
 *      b. one line per memory item, by id:
 *           {"ai.memory":{"id":<n ≥ 1>,"content":"…","source":null|{"thread_id":"th_…",
 *             "message_id":<id>|null},"created_at":<ms>,"updated_at":<ms>}}
 *      c. one line per UTC month that saw any use, oldest first:
 *           {"ai.usage":{"month":"YYYY-MM","prompt_tokens":<n>,"completion_tokens":<n>,"requests":<n>}}
 *   5. one line per grant the person signed for an app, revoked ones included, in the order stored
 *      (grants/export-record.ts; bytes base64url without padding):
 *        {"grant":{"id":"gr_…","app_id":"app_…","scopes":["…"],"origin":"https://…",
 *          "issued_at":<ms>,"expires_at":<ms>,"created_at":<ms>,"revoked_at":<ms>|null,
 *          "revoked_by":"person"|"app"|null,"last_used_at":<ms>|null,"uses":<n>,
 *          "public_key":"…","signature":"…"}}
 *      Each grant's signature is the person's over its consent statement (docs/protocol/consent.md)
 *      and is checked on reading.
 *   6. the end line, once, last:
 *        {"end":true,"objects":<count>,"audit_entries":<count>,"ai_threads":<count>,
 *         "ai_messages":<count>,"ai_memory":<count>,"ai_usage":<count>,"grants":<count>,
 *         "sha256":"<hex>"}
 *      where sha256 is the SHA-256 of every byte of the file before the end line (all earlier lines
 *      with their "\n").
 *
 * Version 2 is the same without section 5 and the end line's `grants` count; version 1 also
 * without section 4 and the end line's four `ai_` counts ({"end":true,"objects":…,
 * "audit_entries":…,"sha256":…}). readExportRecords reads all three.
 * Everything in the archive is read in one read transaction, so the objects, the audit log and the
 * assistant's state are one consistent snapshot. The retrieval index (ai_docs, ai_vectors) is not
 * exported: it is derived from the objects and rebuilt from them.
 *
 * Times are milliseconds since the Unix epoch. The sha256 detects truncation and damage; it is not
 * a signature (whoever can edit the file can recompute it). Values are in the clear: the archive is
 * written with mode 0600 and is the person's to protect. Audit entries carry their own integrity:
 * each entry's hash and link to the previous one are checked on reading, and entries inside
 * anchored segments can be proven against SELF Chain with the instance's proofs.
 */
export const EXPORT_FORMAT = 'self-export';
/** The version exportInstance writes. */
export const EXPORT_VERSION = 3;
/** The versions readExportRecords reads. */
export const EXPORT_VERSIONS_READ = [1, 2, 3] as const;

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  v: (typeof EXPORT_VERSIONS_READ)[number];
  did: string;
  instance_id: string;
  exported_at: number;
}

/** An `ai.usage` record: one UTC month's metered tokens and requests. */
export interface AiUsageJson {
  /** 'YYYY-MM', UTC. */
  month: string;
  prompt_tokens: number;
  completion_tokens: number;
  requests: number;
}

/** How many of the assistant's records an archive holds (all 0 in a version 1 archive). */
export interface ExportAiCounts {
  aiThreads: number;
  aiMessages: number;
  aiMemory: number;
  aiUsage: number;
}

export interface ExportResult extends ExportAiCounts {
  /** Absolute path of the archive. */
  path: string;
  objects: number;
  auditEntries: number;
  /** Grants (0 in a version 1 or 2 archive). */
  grants: number;
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
    // The assistant's state, one row in memory at a time: a long thread's messages are never
    // gathered into an array.
    const ai: ExportAiCounts = { aiThreads: 0, aiMessages: 0, aiMemory: 0, aiUsage: 0 };
    for (const thread of view.aiThreads()) {
      w.line({ 'ai.thread': threadJson(thread) });
      ai.aiThreads++;
      for (const message of view.aiMessages(thread.id)) {
        w.line({ 'ai.message': messageJson(message) });
        ai.aiMessages++;
      }
    }
    for (const item of view.aiMemory()) {
      w.line({ 'ai.memory': memoryJson(item) });
      ai.aiMemory++;
    }
    for (const month of view.aiUsage()) {
      const usage: AiUsageJson = {
        month: month.month,
        prompt_tokens: month.prompt_tokens,
        completion_tokens: month.completion_tokens,
        requests: month.requests,
      };
      w.line({ 'ai.usage': usage });
      ai.aiUsage++;
    }
    let grants = 0;
    for (const grant of view.grants()) {
      w.line({ grant: grantExportJson(grant) });
      grants++;
    }
    const digest = w.digest();
    w.line(
      {
        end: true,
        objects,
        audit_entries: auditEntries,
        ai_threads: ai.aiThreads,
        ai_messages: ai.aiMessages,
        ai_memory: ai.aiMemory,
        ai_usage: ai.aiUsage,
        grants,
        sha256: digest,
      },
      false,
    );
    w.finish();
    return { objects, auditEntries, grants, ...ai, sha256: digest, bytes: w.bytes };
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
 * Writes everything the instance holds (all namespaces, all objects, the whole audit log, the
 * assistant's threads, messages, memory and usage) to `outPath` in the `self-export` format above,
 * from one consistent snapshot. The archive is written to a temporary file in the same directory,
 * fsynced and renamed over `outPath`, so `outPath` is either the complete archive or untouched.
 * Values, messages and the other records are read and written one at a time.
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
  /**
   * A line is not what the format says (not JSON, a wrong shape, out of order, missing end line, a
   * record its version does not have…).
   */
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
  | { type: 'object'; object: ExportedObject }
  | { type: 'audit'; entry: AuditEntry; hash: string }
  | { type: 'ai.thread'; thread: ThreadJson }
  | { type: 'ai.message'; message: MessageJson }
  | { type: 'ai.memory'; item: MemoryItemJson }
  | { type: 'ai.usage'; usage: AiUsageJson }
  | { type: 'grant'; grant: GrantExportJson };

export interface ExportSummary extends ExportAiCounts {
  header: ExportHeader;
  objects: number;
  auditEntries: number;
  /** Grants (0 in a version 1 or 2 archive). */
  grants: number;
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
const END_KEYS_V1 = ['end', 'objects', 'audit_entries', 'sha256'] as const;
const END_KEYS_V2 = [
  'end',
  'objects',
  'audit_entries',
  'ai_threads',
  'ai_messages',
  'ai_memory',
  'ai_usage',
  'sha256',
] as const;
const END_KEYS = [
  'end',
  'objects',
  'audit_entries',
  'ai_threads',
  'ai_messages',
  'ai_memory',
  'ai_usage',
  'grants',
  'sha256',
] as const;
const THREAD_KEYS = [
  'id',
  'title',
  'created_at',
  'updated_at',
  'message_count',
  'token_count',
  'summary',
] as const;
const SUMMARY_KEYS = ['text', 'upto_message_id', 'summarized_messages'] as const;
const MESSAGE_KEYS = [
  'id',
  'thread_id',
  'role',
  'content',
  'tokens',
  'status',
  'created_at',
  'meta',
] as const;
const MEMORY_KEYS = ['id', 'content', 'source', 'created_at', 'updated_at'] as const;
const SOURCE_KEYS = ['thread_id', 'message_id'] as const;
const USAGE_KEYS = ['month', 'prompt_tokens', 'completion_tokens', 'requests'] as const;
const AI_TYPES = ['ai.thread', 'ai.message', 'ai.memory', 'ai.usage'] as const;
type AiType = (typeof AI_TYPES)[number];
const MONTH_RE = /^\d{4}-(0[1-9]|1[0-2])$/;

/** The archive's sections, in the order they come. */
const Section = { Objects: 1, Audit: 2, Threads: 3, Memory: 4, Usage: 5, Grants: 6 } as const;
type Section = (typeof Section)[keyof typeof Section];
const SECTION_NAMES: Record<Section, string> = {
  [Section.Objects]: 'the objects',
  [Section.Audit]: 'the audit entries',
  [Section.Threads]: "the assistant's threads",
  [Section.Memory]: 'the memory items',
  [Section.Usage]: 'the usage months',
  [Section.Grants]: 'the grants',
};

/** Says what is wrong with a record; the caller throws it. */
type Bad = (what: string) => ExportError;

function parseThread(v: unknown, bad: Bad): ThreadJson {
  if (!isRecord(v) || !hasExactKeys(v, THREAD_KEYS)) throw bad(`not {${THREAD_KEYS.join(', ')}}`);
  const { id, title, created_at, updated_at, message_count, token_count, summary } = v;
  if (typeof id !== 'string' || !THREAD_ID_RE.test(id))
    throw bad('id is not a thread id (th_ and 24 hex digits)');
  if (title !== null && typeof title !== 'string') throw bad('title is neither a string nor null');
  if (!isUint(created_at) || !isUint(updated_at)) throw bad('created_at and updated_at are not times');
  if (!isUint(message_count) || !isUint(token_count))
    throw bad('message_count and token_count are not counts');
  if (summary === null) return { id, title, created_at, updated_at, message_count, token_count, summary };
  if (
    !isRecord(summary) ||
    !hasExactKeys(summary, SUMMARY_KEYS) ||
    typeof summary.text !== 'string' ||
    !isUint(summary.upto_message_id) ||
    !isUint(summary.summarized_messages)
  ) {
    throw bad(`summary is neither null nor {${SUMMARY_KEYS.join(', ')}}`);
  }
  return {
    id,
    title,
    created_at,
    updated_at,
    message_count,
    token_count,
    summary: {
      text: summary.text,
      upto_message_id: summary.upto_message_id,
      summarized_messages: summary.summarized_messages,
    },
  };
}

/** The known fields of a message's meta have their types; others are kept as they are. */
function metaProblem(meta: Record<string, unknown>): string | null {
  for (const field of ['model', 'error'] as const) {
    if (meta[field] !== undefined && typeof meta[field] !== 'string') return `meta.${field} is not a string`;
  }
  for (const field of ['usage', 'context'] as const) {
    if (meta[field] !== undefined && !isRecord(meta[field])) return `meta.${field} is not an object`;
  }
  const { citations, memory_ids } = meta;
  if (citations !== undefined && !(Array.isArray(citations) && citations.every(isRecord))) {
    return 'meta.citations is not a list of objects';
  }
  if (memory_ids !== undefined && !(Array.isArray(memory_ids) && memory_ids.every((id) => isUint(id, 1)))) {
    return 'meta.memory_ids is not a list of memory item ids';
  }
  return null;
}

function parseMessage(v: unknown, bad: Bad): MessageJson {
  if (!isRecord(v) || !hasExactKeys(v, MESSAGE_KEYS)) throw bad(`not {${MESSAGE_KEYS.join(', ')}}`);
  const { id, thread_id, role, content, tokens, status, created_at, meta } = v;
  if (!isUint(id, 1)) throw bad('id is not a message id');
  if (typeof thread_id !== 'string' || !THREAD_ID_RE.test(thread_id))
    throw bad('thread_id is not a thread id');
  if (role !== 'user' && role !== 'assistant') throw bad('role is neither "user" nor "assistant"');
  if (typeof content !== 'string') throw bad('content is not a string');
  if (!isUint(tokens)) throw bad('tokens is not a count');
  if (status !== 'complete' && status !== 'incomplete')
    throw bad('status is neither "complete" nor "incomplete"');
  if (!isUint(created_at)) throw bad('created_at is not a time');
  if (!isRecord(meta)) throw bad('meta is not an object');
  const problem = metaProblem(meta);
  if (problem !== null) throw bad(problem);
  return { id, thread_id, role, content, tokens, status, created_at, meta: meta as MessageMeta };
}

function parseMemory(v: unknown, bad: Bad): MemoryItemJson {
  if (!isRecord(v) || !hasExactKeys(v, MEMORY_KEYS)) throw bad(`not {${MEMORY_KEYS.join(', ')}}`);
  const { id, content, source, created_at, updated_at } = v;
  if (!isUint(id, 1)) throw bad('id is not a memory item id');
  if (typeof content !== 'string') throw bad('content is not a string');
  if (!isUint(created_at) || !isUint(updated_at)) throw bad('created_at and updated_at are not times');
  if (source === null) return { id, content, source, created_at, updated_at };
  if (
    !isRecord(source) ||
    !hasExactKeys(source, SOURCE_KEYS) ||
    typeof source.thread_id !== 'string' ||
    (source.message_id !== null && !isUint(source.message_id, 1))
  ) {
    throw bad('source is neither null nor {thread_id, message_id}');
  }
  return {
    id,
    content,
    source: { thread_id: source.thread_id, message_id: source.message_id },
    created_at,
    updated_at,
  };
}

function parseUsage(v: unknown, bad: Bad): AiUsageJson {
  if (!isRecord(v) || !hasExactKeys(v, USAGE_KEYS)) throw bad(`not {${USAGE_KEYS.join(', ')}}`);
  const { month, prompt_tokens, completion_tokens, requests } = v;
  if (typeof month !== 'string' || !MONTH_RE.test(month)) throw bad('month is not a UTC month (YYYY-MM)');
  if (!isUint(prompt_tokens) || !isUint(completion_tokens) || !isUint(requests)) {
    throw bad('prompt_tokens, completion_tokens and requests are not counts');
  }
  return { month, prompt_tokens, completion_tokens, requests };
}

/**
 * Reads an archive (version 1, 2 or 3) line by line and checks it: the header, the shape and order
 * of every line, each object's etag against its value, each audit entry's hash and link to the one
 * before, the assistant's records (their shapes; threads, memory items and months in order, each
 * message after its thread's line and in id order), each grant's shape and the person's signature
 * over it (each id once), the end line's counts and its sha256 over
 * everything before it, and that nothing follows the end line. Yields the records as it goes and
 * returns the summary once the end line checked out; throws ExportError at the first problem.
 * Records yielded before the return are not yet covered by the final sha256: trust them only once
 * the iteration completes.
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
  const ai: ExportAiCounts = { aiThreads: 0, aiMessages: 0, aiMemory: 0, aiUsage: 0 };
  let prevHash: string | null = null;
  let bytes = 0;
  let section: Section = Section.Objects;
  /** The last thread line's id, and the last message id seen after it (0: none yet). */
  let thread: string | null = null;
  let lastMessageId = 0;
  let lastMemoryId = 0;
  let lastMonth = '';
  const grantIds = new Set<string>();

  for (const { raw, line } of fileLines(path, maxLineBytes)) {
    const malformed = (reason: string, message: string): ExportError =>
      new ExportError('malformed_archive', `line ${line}: ${message}`, { line, reason });
    const mismatch = (reason: string, message: string): ExportError =>
      new ExportError('checksum_mismatch', `line ${line}: ${message}`, { line, reason });
    /** Moves on to `next`: sections come in their order, each at most once. */
    const enter = (next: Section, what: string): void => {
      if (section > next) throw malformed('order', `${what} after ${SECTION_NAMES[section]}`);
      section = next;
    };
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
        !EXPORT_VERSIONS_READ.includes(value.v as ExportHeader['v']) ||
        typeof value.did !== 'string' ||
        typeof value.instance_id !== 'string' ||
        !isUint(value.exported_at)
      ) {
        throw malformed(
          'header',
          `the first line is not a ${EXPORT_FORMAT} header of version ${EXPORT_VERSIONS_READ.join(' or ')}`,
        );
      }
      header = value as unknown as ExportHeader;
      hash.update(raw);
      continue;
    }

    if (Object.hasOwn(value, 'end')) {
      const v1 = header.v === 1;
      const endKeys = v1 ? END_KEYS_V1 : header.v === 2 ? END_KEYS_V2 : END_KEYS;
      if (
        !hasExactKeys(value, endKeys) ||
        (header.v === 3 && !isUint(value.grants)) ||
        value.end !== true ||
        !isUint(value.objects) ||
        !isUint(value.audit_entries) ||
        (!v1 &&
          (!isUint(value.ai_threads) ||
            !isUint(value.ai_messages) ||
            !isUint(value.ai_memory) ||
            !isUint(value.ai_usage))) ||
        typeof value.sha256 !== 'string' ||
        !HEX64_RE.test(value.sha256)
      ) {
        throw malformed('end', `a malformed end line for version ${header.v}`);
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
      if (
        !v1 &&
        (value.ai_threads !== ai.aiThreads ||
          value.ai_messages !== ai.aiMessages ||
          value.ai_memory !== ai.aiMemory ||
          value.ai_usage !== ai.aiUsage)
      ) {
        throw malformed(
          'counts',
          `the end line counts ${value.ai_threads} threads, ${value.ai_messages} messages, ${value.ai_memory} memory items and ${value.ai_usage} usage months; the archive holds ${ai.aiThreads}, ${ai.aiMessages}, ${ai.aiMemory} and ${ai.aiUsage}`,
        );
      }
      if (header.v === 3 && value.grants !== grantIds.size) {
        throw malformed(
          'counts',
          `the end line counts ${value.grants} grants; the archive holds ${grantIds.size}`,
        );
      }
      summary = { header, objects, auditEntries, grants: grantIds.size, ...ai, sha256: digest, bytes: 0 };
      continue;
    }

    hash.update(raw);
    if (Object.hasOwn(value, 'audit')) {
      if (!hasExactKeys(value, AUDIT_KEYS) || typeof value.hash !== 'string' || !HEX64_RE.test(value.hash)) {
        throw malformed('audit', 'a malformed audit line');
      }
      enter(Section.Audit, 'an audit line');
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

    if (Object.hasOwn(value, 'grant')) {
      if (header.v < 3) throw malformed('version', `a grant line in a version ${header.v} archive`);
      if (!hasExactKeys(value, ['grant']))
        throw malformed('grant', 'a grant line holds fields besides "grant"');
      enter(Section.Grants, 'a grant line');
      const body = value.grant;
      const problem = isRecord(body) ? grantRecordProblem(body) : 'not an object';
      if (problem !== null) throw malformed('grant', `a malformed grant record: ${problem}`);
      const grant = body as unknown as GrantExportJson;
      if (grantIds.has(grant.id)) throw malformed('order', `grant ${grant.id} appears twice`);
      if (!grantSignatureHolds(header.did, grant)) {
        throw mismatch('grant_signature', `grant ${grant.id} is not signed by ${header.did}`);
      }
      grantIds.add(grant.id);
      yield { type: 'grant', grant };
      continue;
    }

    const aiType: AiType | undefined = AI_TYPES.find((t) => Object.hasOwn(value, t));
    if (aiType !== undefined) {
      const reason = aiType.replace('.', '_');
      if (header.v === 1) throw malformed('version', `an ${aiType} line in a version 1 archive`);
      if (!hasExactKeys(value, [aiType])) {
        throw malformed(reason, `an ${aiType} line holds fields besides "${aiType}"`);
      }
      const bad: Bad = (what) => malformed(reason, `a malformed ${aiType} record: ${what}`);
      const body = value[aiType];
      switch (aiType) {
        case 'ai.thread': {
          enter(Section.Threads, 'an ai.thread line');
          const t = parseThread(body, bad);
          if (thread !== null && t.id <= thread) {
            throw malformed(
              'order',
              `thread ${t.id} after thread ${thread}: threads come in id order, once each`,
            );
          }
          thread = t.id;
          lastMessageId = 0;
          ai.aiThreads++;
          yield { type: 'ai.thread', thread: t };
          break;
        }
        case 'ai.message': {
          enter(Section.Threads, 'an ai.message line');
          const m = parseMessage(body, bad);
          if (m.thread_id !== thread) {
            throw malformed(
              'order',
              `message ${m.id} of thread ${m.thread_id} does not follow its thread's line`,
            );
          }
          if (m.id <= lastMessageId) {
            throw malformed(
              'order',
              `message ${m.id} after message ${lastMessageId}: a thread's messages come in id order`,
            );
          }
          lastMessageId = m.id;
          ai.aiMessages++;
          yield { type: 'ai.message', message: m };
          break;
        }
        case 'ai.memory': {
          enter(Section.Memory, 'an ai.memory line');
          const item = parseMemory(body, bad);
          if (item.id <= lastMemoryId) {
            throw malformed(
              'order',
              `memory item ${item.id} after item ${lastMemoryId}: items come in id order, once each`,
            );
          }
          lastMemoryId = item.id;
          ai.aiMemory++;
          yield { type: 'ai.memory', item };
          break;
        }
        case 'ai.usage': {
          enter(Section.Usage, 'an ai.usage line');
          const usage = parseUsage(body, bad);
          if (usage.month <= lastMonth) {
            throw malformed(
              'order',
              `usage month ${usage.month} after ${lastMonth}: months come in order, once each`,
            );
          }
          lastMonth = usage.month;
          ai.aiUsage++;
          yield { type: 'ai.usage', usage };
          break;
        }
      }
      continue;
    }

    if (!hasExactKeys(value, OBJECT_KEYS)) {
      throw malformed(
        'object',
        header.v === 1
          ? 'not a header, object, audit or end line'
          : `not a header, object, audit, ${AI_TYPES.join(', ')}${header.v === 3 ? ', grant' : ''} or end line`,
      );
    }
    enter(Section.Objects, 'an object line');
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
 * Reads and checks a whole archive (readExportRecords), calling the callback for each kind of
 * record, and returns the summary. Throws ExportError at the first problem; what the callbacks saw
 * before a throw must be discarded.
 */
export function readExport(
  path: string,
  opts: ReadExportOptions & {
    onObject?: (object: ExportedObject) => void;
    onAuditEntry?: (entry: AuditEntry, hash: string) => void;
    /** A thread; its messages follow it (onAiMessage). */
    onAiThread?: (thread: ThreadJson) => void;
    onAiMessage?: (message: MessageJson) => void;
    onAiMemory?: (item: MemoryItemJson) => void;
    onAiUsage?: (usage: AiUsageJson) => void;
    onGrant?: (grant: GrantExportJson) => void;
  } = {},
): ExportSummary {
  const records = readExportRecords(path, opts);
  for (;;) {
    const next = records.next();
    if (next.done === true) return next.value;
    const record = next.value;
    switch (record.type) {
      case 'object':
        opts.onObject?.(record.object);
        break;
      case 'audit':
        opts.onAuditEntry?.(record.entry, record.hash);
        break;
      case 'ai.thread':
        opts.onAiThread?.(record.thread);
        break;
      case 'ai.message':
        opts.onAiMessage?.(record.message);
        break;
      case 'ai.memory':
        opts.onAiMemory?.(record.item);
        break;
      case 'ai.usage':
        opts.onAiUsage?.(record.usage);
        break;
      case 'grant':
        opts.onGrant?.(record.grant);
        break;
    }
  }
}
