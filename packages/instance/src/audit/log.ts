import type { Database, Statement } from 'better-sqlite3';
import { equalBytes, toHex } from '@self/crypto';
import {
  AUDIT_GENESIS_PREV,
  AUDIT_HASH_BYTES,
  decodeEntry,
  encodeEntry,
  hashEncodedEntry,
  type AuditEntry,
} from './entry.js';
import { AuditError } from './errors.js';
import { inclusionProof, merkleRoot } from './merkle.js';
import { buildAuditProof, type AuditProof } from './proof.js';

/** What a caller records; the log fills in seq, prev and (unless given) time. */
export type AuditAppend = Omit<AuditEntry, 'seq' | 'prev' | 'time'> & { time?: number };

/** A closed segment: the entries firstSeq..lastSeq, committed by `root`. */
export interface AuditSegment {
  /** 1, 2, 3…; the `seq` of the `anchor` transaction that commits this segment. */
  id: number;
  firstSeq: number;
  lastSeq: number;
  root: Uint8Array;
  /** Hex hash of the committed `anchor` transaction, once markAnchored recorded it. */
  anchorTx: string | null;
  anchorHeight: number | null;
}

/** Why verify() failed; stable codes, see docs/protocol/audit.md §8. */
export type AuditVerifyReason =
  | 'missing_entry'
  | 'seq_mismatch'
  | 'malformed_entry'
  | 'hash_mismatch'
  | 'broken_link'
  | 'segment_invalid'
  | 'segment_root_mismatch';

export type AuditVerifyResult =
  | { ok: true; entries: number; segments: number; head: Uint8Array }
  | { ok: false; seq: number; reason: AuditVerifyReason; message: string; segment?: number };

export interface AuditLogOptions {
  /** Clock for entries appended without a time (ms since the epoch). Default Date.now. */
  now?: () => number;
}

/** Most rows range() returns at once. */
export const AUDIT_RANGE_MAX = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_entries (
  seq INTEGER PRIMARY KEY,
  entry BLOB NOT NULL,
  hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_segments (
  id INTEGER PRIMARY KEY,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  root BLOB NOT NULL,
  anchor_tx TEXT NULL,
  anchor_height INTEGER NULL
);
`;

interface EntryRow {
  seq: number;
  entry: unknown;
  hash: unknown;
}

interface SegmentRow {
  id: number;
  first_seq: number;
  last_seq: number;
  root: unknown;
  anchor_tx: string | null;
  anchor_height: number | null;
}

const TX_HASH_RE = /^[0-9a-f]{64}$/;

/** SQLite hands out Buffers; callers get plain Uint8Array copies. */
function blob(v: unknown): Uint8Array | null {
  return v instanceof Uint8Array ? new Uint8Array(v) : null;
}

function toSegment(row: SegmentRow): AuditSegment {
  const root = blob(row.root);
  if (root === null || root.length !== AUDIT_HASH_BYTES) {
    throw new AuditError(
      'corrupt_log',
      `audit segment ${row.id}: stored root is not ${AUDIT_HASH_BYTES} bytes`,
      {
        segment: row.id,
      },
    );
  }
  return {
    id: row.id,
    firstSeq: row.first_seq,
    lastSeq: row.last_seq,
    root,
    anchorTx: row.anchor_tx,
    anchorHeight: row.anchor_height,
  };
}

function checkSeq(seq: number, name = 'seq'): void {
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new AuditError('invalid_argument', `${name} must be a safe integer ≥ 1, got ${String(seq)}`);
  }
}

type Failure = Extract<AuditVerifyResult, { ok: false }>;

/**
 * The instance's append-only, hash-chained audit log (docs/protocol/audit.md), in two tables of
 * the instance database. Entries link by `prev`; runs of entries are closed into segments whose
 * Merkle roots the instance anchors on chain.
 *
 * Every write runs in a better-sqlite3 transaction function, which becomes a savepoint when the
 * caller already holds a transaction: an audit entry can commit or roll back together with the
 * write it records. The log keeps no state in memory, so a rolled-back caller leaves nothing stale.
 */
export class AuditLog {
  private readonly now: () => number;
  private readonly stmt: {
    head: Statement<[], { seq: number; hash: unknown }>;
    insert: Statement<[number, Uint8Array, Uint8Array]>;
    get: Statement<[number], EntryRow>;
    range: Statement<[number, number], EntryRow>;
    hashAt: Statement<[number], { hash: unknown }>;
    allEntries: Statement<[], EntryRow>;
    hashesBetween: Statement<[number, number], { seq: number; hash: unknown }>;
    entriesBetween: Statement<[number, number], EntryRow>;
    lastSegment: Statement<[], SegmentRow>;
    segment: Statement<[number], SegmentRow>;
    segmentOf: Statement<[number, number], SegmentRow>;
    segments: Statement<[], SegmentRow>;
    unanchored: Statement<[], SegmentRow>;
    insertSegment: Statement<[number, number, number, Uint8Array]>;
    anchor: Statement<[string, number, number]>;
  };
  private readonly appendTx: (input: AuditAppend) => { seq: number; hash: Uint8Array };
  private readonly closeTx: () => AuditSegment | null;
  private readonly anchorTx: (id: number, txHash: string, height: number) => void;
  private readonly verifyTx: () => AuditVerifyResult;
  private readonly proofTx: (seq: number) => AuditProof;

  constructor(db: Database, opts: AuditLogOptions = {}) {
    this.now = opts.now ?? Date.now;
    db.exec(SCHEMA);
    const segmentCols = 'id, first_seq, last_seq, root, anchor_tx, anchor_height';
    this.stmt = {
      head: db.prepare('SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1'),
      insert: db.prepare('INSERT INTO audit_entries (seq, entry, hash) VALUES (?, ?, ?)'),
      get: db.prepare('SELECT seq, entry, hash FROM audit_entries WHERE seq = ?'),
      range: db.prepare('SELECT seq, entry, hash FROM audit_entries WHERE seq >= ? ORDER BY seq LIMIT ?'),
      hashAt: db.prepare('SELECT hash FROM audit_entries WHERE seq = ?'),
      allEntries: db.prepare('SELECT seq, entry, hash FROM audit_entries ORDER BY seq'),
      hashesBetween: db.prepare(
        'SELECT seq, hash FROM audit_entries WHERE seq >= ? AND seq <= ? ORDER BY seq',
      ),
      entriesBetween: db.prepare(
        'SELECT seq, entry, hash FROM audit_entries WHERE seq >= ? AND seq <= ? ORDER BY seq',
      ),
      lastSegment: db.prepare(`SELECT ${segmentCols} FROM audit_segments ORDER BY id DESC LIMIT 1`),
      segment: db.prepare(`SELECT ${segmentCols} FROM audit_segments WHERE id = ?`),
      segmentOf: db.prepare(
        `SELECT ${segmentCols} FROM audit_segments WHERE first_seq <= ? AND last_seq >= ? ORDER BY id LIMIT 1`,
      ),
      segments: db.prepare(`SELECT ${segmentCols} FROM audit_segments ORDER BY id`),
      unanchored: db.prepare(`SELECT ${segmentCols} FROM audit_segments WHERE anchor_tx IS NULL ORDER BY id`),
      insertSegment: db.prepare(
        'INSERT INTO audit_segments (id, first_seq, last_seq, root, anchor_tx, anchor_height) VALUES (?, ?, ?, ?, NULL, NULL)',
      ),
      anchor: db.prepare('UPDATE audit_segments SET anchor_tx = ?, anchor_height = ? WHERE id = ?'),
    };
    // IMMEDIATE takes the write lock before reading the head, so two connections cannot both
    // append "seq n"; nested inside a caller's transaction these run as savepoints instead.
    this.appendTx = db.transaction((input: AuditAppend) => this.appendInner(input)).immediate;
    this.closeTx = db.transaction(() => this.closeInner()).immediate;
    this.anchorTx = db.transaction((id: number, txHash: string, height: number) =>
      this.markAnchoredInner(id, txHash, height),
    ).immediate;
    // Reads in one transaction see one snapshot of both tables.
    this.verifyTx = db.transaction(() => this.verifyInner());
    this.proofTx = db.transaction((seq: number) => this.proofInner(seq));
  }

  /** Appends one entry after the current head; returns its seq and entryHash. */
  append(input: AuditAppend): { seq: number; hash: Uint8Array } {
    return this.appendTx(input);
  }

  /** The last entry's seq and hash, or null for an empty log. */
  head(): { seq: number; hash: Uint8Array } | null {
    const row = this.stmt.head.get();
    if (row === undefined) return null;
    return { seq: row.seq, hash: this.storedHash(row.seq, row.hash) };
  }

  /** The entry with this seq, or null. Throws AuditError('corrupt_log') if its bytes do not decode. */
  get(seq: number): AuditEntry | null {
    checkSeq(seq);
    const row = this.stmt.get.get(seq);
    return row === undefined ? null : this.decodeRow(row);
  }

  /** Up to `limit` (1..1000) entries with seq ≥ fromSeq, in order. */
  range(fromSeq: number, limit: number): AuditEntry[] {
    checkSeq(fromSeq, 'fromSeq');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > AUDIT_RANGE_MAX) {
      throw new AuditError('invalid_argument', `limit must be 1..${AUDIT_RANGE_MAX}, got ${String(limit)}`);
    }
    return this.stmt.range.all(fromSeq, limit).map((row) => this.decodeRow(row));
  }

  /**
   * Re-reads the whole log: every entry decodes canonically, seqs run 1, 2, 3… without gaps, each
   * stored hash is the entry's hash, each `prev` is the previous hash; then the segments are
   * contiguous from entry 1, lie within the log and their roots match the entries. Reports the first
   * failure (entries first, then segments in id order).
   */
  verify(): AuditVerifyResult {
    return this.verifyTx();
  }

  /**
   * Closes the entries appended since the last segment into a new segment and returns it, or null
   * when there are none. Refuses (AuditError 'corrupt_log') to commit a range whose chain does not
   * verify, so a broken log is never anchored.
   */
  closeSegment(): AuditSegment | null {
    return this.closeTx();
  }

  /**
   * Records that segment `id` was committed by the `anchor` transaction `txHash` (64 hex digits) in
   * block `height`. Repeating the same call is a no-op; a different transaction for an anchored
   * segment is AuditError('already_anchored').
   */
  markAnchored(id: number, txHash: string, height: number): void {
    this.anchorTx(id, txHash, height);
  }

  segment(id: number): AuditSegment | null {
    checkSeq(id, 'segment id');
    const row = this.stmt.segment.get(id);
    return row === undefined ? null : toSegment(row);
  }

  /** All segments, in id order. */
  segments(): AuditSegment[] {
    return this.stmt.segments.all().map(toSegment);
  }

  /** Segments closed but not yet marked anchored, in id order: the anchoring job's queue. */
  unanchoredSegments(): AuditSegment[] {
    return this.stmt.unanchored.all().map(toSegment);
  }

  /** The segment holding entry `seq`, or null while it is still open. */
  segmentOf(seq: number): AuditSegment | null {
    checkSeq(seq);
    const row = this.stmt.segmentOf.get(seq, seq);
    return row === undefined ? null : toSegment(row);
  }

  /**
   * An exportable proof that entry `seq` is inside its closed segment. AuditError 'not_found' for an
   * unknown entry, 'not_segmented' while the entry's segment is still open.
   */
  proof(seq: number): AuditProof {
    checkSeq(seq);
    return this.proofTx(seq);
  }

  // ---- internals --------------------------------------------------------------------------------

  private storedHash(seq: number, v: unknown): Uint8Array {
    const h = blob(v);
    if (h === null || h.length !== AUDIT_HASH_BYTES) {
      throw new AuditError(
        'corrupt_log',
        `audit entry ${seq}: stored hash is not ${AUDIT_HASH_BYTES} bytes`,
        {
          seq,
          reason: 'hash_mismatch',
        },
      );
    }
    return h;
  }

  private decodeRow(row: EntryRow): AuditEntry {
    const bytes = blob(row.entry);
    try {
      if (bytes === null) throw new Error('stored entry is not a blob');
      const entry = decodeEntry(bytes);
      if (entry.seq !== row.seq) throw new Error(`row ${row.seq} holds entry ${entry.seq}`);
      return entry;
    } catch (err) {
      throw new AuditError('corrupt_log', `audit entry ${row.seq}: ${(err as Error).message}`, {
        seq: row.seq,
        reason: 'malformed_entry',
      });
    }
  }

  private appendInner(input: AuditAppend): { seq: number; hash: Uint8Array } {
    if (typeof input !== 'object' || input === null) {
      throw new AuditError('invalid_entry', 'audit entry: must be an object', { field: 'entry' });
    }
    const head = this.stmt.head.get();
    const seq = head === undefined ? 1 : head.seq + 1;
    const prev = head === undefined ? AUDIT_GENESIS_PREV : this.storedHash(head.seq, head.hash);
    const entry: AuditEntry = {
      seq,
      time: input.time ?? this.now(),
      actor: input.actor,
      app: input.app,
      scope: input.scope,
      action: input.action,
      object: input.object,
      outcome: input.outcome,
      prev,
    };
    const bytes = encodeEntry(entry);
    const hash = hashEncodedEntry(bytes);
    this.stmt.insert.run(seq, bytes, hash);
    return { seq, hash };
  }

  /**
   * Walks stored rows expected to start at seq `from` and link to `prev`, checking seq, encoding,
   * stored hash and link; calls onEntry with each verified hash. Returns the first failure, or the
   * next expected seq and the last hash.
   */
  private walk(
    rows: Iterable<EntryRow>,
    from: number,
    prev: Uint8Array,
    onEntry: (hash: Uint8Array) => void,
  ): Failure | { next: number; head: Uint8Array } {
    const fail = (seq: number, reason: AuditVerifyReason, message: string): Failure => ({
      ok: false,
      seq,
      reason,
      message: `audit entry ${seq}: ${message}`,
    });
    let expected = from;
    for (const row of rows) {
      if (row.seq > expected)
        return fail(expected, 'missing_entry', `missing (next stored entry is ${row.seq})`);
      if (row.seq < expected) return fail(row.seq, 'seq_mismatch', `unexpected row number ${row.seq}`);
      const bytes = blob(row.entry);
      let entry: AuditEntry;
      try {
        if (bytes === null) throw new Error('stored entry is not a blob');
        entry = decodeEntry(bytes);
      } catch (err) {
        return fail(row.seq, 'malformed_entry', (err as Error).message);
      }
      if (entry.seq !== row.seq)
        return fail(row.seq, 'seq_mismatch', `row ${row.seq} holds entry ${entry.seq}`);
      const hash = hashEncodedEntry(bytes!);
      const stored = blob(row.hash);
      if (stored === null || !equalBytes(stored, hash)) {
        return fail(row.seq, 'hash_mismatch', 'stored hash differs from the entry hash');
      }
      if (!equalBytes(entry.prev, prev)) {
        return fail(
          row.seq,
          'broken_link',
          `prev ${toHex(entry.prev)} is not the hash of entry ${row.seq - 1}`,
        );
      }
      onEntry(hash);
      prev = hash;
      expected++;
    }
    return { next: expected, head: prev };
  }

  private verifyInner(): AuditVerifyResult {
    // Segments are loaded first: better-sqlite3 runs no other statement while an iterator is open.
    const segments = this.stmt.segments.all();
    const walked = this.walk(this.stmt.allEntries.iterate(), 1, AUDIT_GENESIS_PREV, () => undefined);
    if ('ok' in walked) return walked;
    const entries = walked.next - 1;

    let expectedFirst = 1;
    for (const [i, row] of segments.entries()) {
      const fail = (reason: AuditVerifyReason, message: string): Failure => ({
        ok: false,
        seq: row.first_seq,
        reason,
        message: `audit segment ${row.id}: ${message}`,
        segment: row.id,
      });
      if (row.id !== i + 1) return fail('segment_invalid', `expected segment id ${i + 1}`);
      if (row.first_seq !== expectedFirst) {
        return fail('segment_invalid', `starts at ${row.first_seq}, expected ${expectedFirst}`);
      }
      if (!Number.isSafeInteger(row.last_seq) || row.last_seq < row.first_seq) {
        return fail('segment_invalid', `ends at ${row.last_seq}, before it starts`);
      }
      if (row.last_seq > entries) {
        return fail('segment_invalid', `ends at ${row.last_seq} but the log ends at ${entries}`);
      }
      const root = blob(row.root);
      if (root === null || root.length !== AUDIT_HASH_BYTES) {
        return fail('segment_invalid', `stored root is not ${AUDIT_HASH_BYTES} bytes`);
      }
      const hashes = this.stmt.hashesBetween.all(row.first_seq, row.last_seq).map((r) => blob(r.hash)!);
      if (!equalBytes(merkleRoot(hashes), root)) {
        return fail('segment_root_mismatch', 'stored root differs from the root of its entries');
      }
      expectedFirst = row.last_seq + 1;
    }
    return { ok: true, entries, segments: segments.length, head: walked.head };
  }

  private closeInner(): AuditSegment | null {
    const last = this.stmt.lastSegment.get();
    const firstSeq = last === undefined ? 1 : last.last_seq + 1;
    const head = this.stmt.head.get();
    if (head === undefined || head.seq < firstSeq) return null;
    let prev = AUDIT_GENESIS_PREV;
    if (firstSeq > 1) {
      const row = this.stmt.hashAt.get(firstSeq - 1);
      if (row === undefined) {
        throw new AuditError('corrupt_log', `audit entry ${firstSeq - 1} is missing`, {
          seq: firstSeq - 1,
          reason: 'missing_entry',
        });
      }
      prev = this.storedHash(firstSeq - 1, row.hash);
    }
    const hashes: Uint8Array[] = [];
    const walked = this.walk(this.stmt.entriesBetween.iterate(firstSeq, head.seq), firstSeq, prev, (h) =>
      hashes.push(h),
    );
    if ('ok' in walked) {
      throw new AuditError('corrupt_log', `cannot close a segment: ${walked.message}`, {
        seq: walked.seq,
        reason: walked.reason,
      });
    }
    const id = last === undefined ? 1 : last.id + 1;
    const root = merkleRoot(hashes);
    this.stmt.insertSegment.run(id, firstSeq, head.seq, root);
    return { id, firstSeq, lastSeq: head.seq, root, anchorTx: null, anchorHeight: null };
  }

  private markAnchoredInner(id: number, txHash: string, height: number): void {
    checkSeq(id, 'segment id');
    if (typeof txHash !== 'string' || !TX_HASH_RE.test(txHash)) {
      throw new AuditError('invalid_argument', 'txHash must be 64 lowercase hex digits');
    }
    if (!Number.isSafeInteger(height) || height < 0) {
      throw new AuditError('invalid_argument', `height must be a safe integer ≥ 0, got ${String(height)}`);
    }
    const row = this.stmt.segment.get(id);
    if (row === undefined) throw new AuditError('not_found', `no audit segment ${id}`, { segment: id });
    if (row.anchor_tx !== null) {
      if (row.anchor_tx === txHash && row.anchor_height === height) return;
      throw new AuditError(
        'already_anchored',
        `audit segment ${id} is already anchored by ${row.anchor_tx} at height ${String(row.anchor_height)}`,
        { segment: id, anchor_tx: row.anchor_tx, anchor_height: row.anchor_height },
      );
    }
    this.stmt.anchor.run(txHash, height, id);
  }

  private proofInner(seq: number): AuditProof {
    const row = this.stmt.get.get(seq);
    if (row === undefined) throw new AuditError('not_found', `no audit entry ${seq}`, { seq });
    const entry = this.decodeRow(row);
    const segRow = this.stmt.segmentOf.get(seq, seq);
    if (segRow === undefined) {
      throw new AuditError('not_segmented', `audit entry ${seq} is not in a closed segment yet`, { seq });
    }
    const segment = toSegment(segRow);
    const hashes = this.stmt.hashesBetween
      .all(segment.firstSeq, segment.lastSeq)
      .map((r) => this.storedHash(r.seq, r.hash));
    if (hashes.length !== segment.lastSeq - segment.firstSeq + 1) {
      throw new AuditError('corrupt_log', `audit segment ${segment.id} is missing entries`, {
        segment: segment.id,
        reason: 'missing_entry',
      });
    }
    return buildAuditProof(
      entry,
      {
        id: segment.id,
        first_seq: segment.firstSeq,
        last_seq: segment.lastSeq,
        root: toHex(segment.root),
        anchor_tx: segment.anchorTx,
        anchor_height: segment.anchorHeight,
      },
      inclusionProof(hashes, seq - segment.firstSeq),
    );
  }
}
