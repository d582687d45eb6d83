import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { equalBytes, toHex } from '@self/crypto';
import {
  AUDIT_GENESIS_PREV,
  type AuditAppend,
  AuditError,
  AuditLog,
  auditAnchorBody,
  auditAnchorMatches,
  encodeEntry,
  entryHash,
  merkleRoot,
  verifyAuditProof,
} from '../src/audit/index.js';
import { thrown } from './fixtures/thrown.js';

type Db = InstanceType<typeof Database>;

const DID = 'did:self:self1an7vlu828np0u2pwmvzc78xl0sgfsl90ydahh5';
const APP = 'app_6282171a8f023de77c169bd15cb9e9f2';
const T0 = 1767225600000;

let dir: string;
let dbs: Db[];

function openDb(name = 'instance.db'): Db {
  const db = new Database(join(dir, name));
  db.pragma('journal_mode = WAL');
  dbs.push(db);
  return db;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'self-audit-'));
  dbs = [];
});

afterEach(() => {
  for (const db of dbs) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A log with a fixed clock that advances 1 s per append. */
function newLog(db = openDb()): { db: Db; log: AuditLog } {
  let t = T0;
  const log = new AuditLog(db, { now: () => (t += 1000) });
  return { db, log };
}

function input(i: number, over: Partial<AuditAppend> = {}): AuditAppend {
  return {
    actor: i % 3 === 0 ? 'person' : DID,
    app: i % 3 === 0 ? null : APP,
    scope: 'storage:notes:read',
    action: i % 2 === 0 ? 'data.get' : 'data.put',
    object: `notes/${i}`,
    outcome: i % 5 === 4 ? 'denied' : 'ok',
    ...over,
  };
}

function fill(log: AuditLog, n: number, from = 1): Uint8Array[] {
  const hashes: Uint8Array[] = [];
  for (let i = from; i < from + n; i++) hashes.push(log.append(input(i)).hash);
  return hashes;
}

const auditError = (fn: () => unknown): AuditError => thrown(AuditError, fn);

function rawEntry(db: Db, seq: number): Uint8Array {
  const row = db.prepare('SELECT entry FROM audit_entries WHERE seq = ?').get(seq) as { entry: Buffer };
  return new Uint8Array(row.entry);
}

function failure(log: AuditLog): { seq: number; reason: string; segment?: number } {
  const r = log.verify();
  if (r.ok) throw new Error('expected verify() to fail');
  expect(r.message).toMatch(/^audit (entry|segment) \d+: /);
  return r.segment === undefined
    ? { seq: r.seq, reason: r.reason }
    : { seq: r.seq, reason: r.reason, segment: r.segment };
}

describe('AuditLog append, get, range, verify', () => {
  it('creates its tables and verifies an empty log', () => {
    const { db, log } = newLog();
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    expect(tables).toEqual([{ name: 'audit_entries' }, { name: 'audit_segments' }]);
    expect(log.head()).toBeNull();
    expect(log.verify()).toEqual({ ok: true, entries: 0, segments: 0, head: AUDIT_GENESIS_PREV });
    expect(log.get(1)).toBeNull();
    expect(log.range(1, 10)).toEqual([]);
  });

  it('appends contiguous seqs linked by prev, with the clock or a given time', () => {
    const { log } = newLog();
    const hashes = fill(log, 10);
    const given = log.append(input(11, { time: 5 }));
    expect(given.seq).toBe(11);
    hashes.push(given.hash);

    let prev = AUDIT_GENESIS_PREV;
    for (let seq = 1; seq <= 11; seq++) {
      const e = log.get(seq)!;
      expect(e.seq).toBe(seq);
      expect(e.time).toBe(seq === 11 ? 5 : T0 + 1000 * seq);
      expect(e.actor).toBe(input(seq).actor);
      expect(e.app).toBe(input(seq).app);
      expect(e.object).toBe(`notes/${seq}`);
      expect(e.outcome).toBe(input(seq).outcome);
      expect(toHex(e.prev)).toBe(toHex(prev));
      expect(toHex(entryHash(e))).toBe(toHex(hashes[seq - 1]!));
      prev = hashes[seq - 1]!;
    }
    expect(log.head()).toEqual({ seq: 11, hash: hashes[10] });
    const v = log.verify();
    expect(v).toEqual({ ok: true, entries: 11, segments: 0, head: hashes[10] });
  });

  it('stores the canonical encoding and the entry hash', () => {
    const { db, log } = newLog();
    const { hash } = log.append(input(1));
    const row = db.prepare('SELECT entry, hash FROM audit_entries WHERE seq = 1').get() as {
      entry: Buffer;
      hash: Buffer;
    };
    expect(toHex(row.entry)).toBe(toHex(encodeEntry(log.get(1)!)));
    expect(toHex(row.hash)).toBe(toHex(hash));
  });

  it('range pages through entries in order', () => {
    const { log } = newLog();
    fill(log, 25);
    expect(log.range(1, 10).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(log.range(21, 10).map((e) => e.seq)).toEqual([21, 22, 23, 24, 25]);
    expect(log.range(26, 10)).toEqual([]);
    expect(auditError(() => log.range(0, 10)).code).toBe('invalid_argument');
    expect(auditError(() => log.range(1, 0)).code).toBe('invalid_argument');
    expect(auditError(() => log.range(1, 1001)).code).toBe('invalid_argument');
    expect(auditError(() => log.get(0)).code).toBe('invalid_argument');
  });

  it('refuses an invalid entry and writes nothing', () => {
    const { log } = newLog();
    fill(log, 2);
    const err = auditError(() => log.append(input(3, { object: 'x'.repeat(1025) })));
    expect(err.code).toBe('invalid_entry');
    expect(err.details.field).toBe('object');
    expect(auditError(() => log.append(input(3, { actor: 'mallory' }))).details.field).toBe('actor');
    expect(auditError(() => log.append(input(3, { time: -5 }))).details.field).toBe('time');
    expect(auditError(() => log.append(null as unknown as AuditAppend)).code).toBe('invalid_entry');
    expect(log.head()!.seq).toBe(2);
    expect(log.append(input(3)).seq).toBe(3);
    expect(log.verify().ok).toBe(true);
  });

  it('persists across reopening the file', () => {
    const { db, log } = newLog();
    const hashes = fill(log, 5);
    db.close();
    const again = new AuditLog(openDb());
    expect(again.head()).toEqual({ seq: 5, hash: hashes[4] });
    expect(again.append(input(6)).seq).toBe(6);
    expect(again.verify()).toMatchObject({ ok: true, entries: 6 });
  });

  it('works inside a caller transaction: commits with it and rolls back with it', () => {
    const { db, log } = newLog();
    fill(log, 1);
    const both = db.transaction(() => [log.append(input(2)).seq, log.append(input(3)).seq]);
    expect(both()).toEqual([2, 3]);

    const failing = db.transaction(() => {
      log.append(input(4));
      throw new Error('the write it records failed');
    });
    expect(() => failing()).toThrow('the write it records failed');
    expect(log.head()!.seq).toBe(3);

    // A manual BEGIN … ROLLBACK as well.
    db.exec('BEGIN');
    expect(log.append(input(4)).seq).toBe(4);
    db.exec('ROLLBACK');
    expect(log.head()!.seq).toBe(3);

    // An invalid entry inside a caller transaction undoes only its own savepoint.
    const partial = db.transaction(() => {
      log.append(input(4));
      expect(() => log.append(input(5, { scope: '' }))).toThrow(AuditError);
      log.append(input(5));
    });
    partial();
    expect(log.head()!.seq).toBe(5);
    expect(log.verify()).toMatchObject({ ok: true, entries: 5 });
  });

  it('two connections to one file append one chain', () => {
    const a = newLog(openDb()).log;
    const b = new AuditLog(openDb());
    for (let i = 1; i <= 10; i++) (i % 2 === 0 ? a : b).append(input(i));
    expect(a.verify()).toMatchObject({ ok: true, entries: 10 });
    expect(b.head()!.seq).toBe(10);
  });
});

describe('AuditLog.verify finds tampering', () => {
  function tampered(n = 6): { db: Db; log: AuditLog; hashes: Uint8Array[] } {
    const { db, log } = newLog();
    const hashes = fill(log, n);
    expect(log.verify().ok).toBe(true);
    return { db, log, hashes };
  }

  it('one changed byte inside a stored entry (still valid CBOR): hash_mismatch at that seq', () => {
    const { db, log } = tampered();
    const bytes = rawEntry(db, 4);
    const at = Buffer.from(bytes).indexOf('notes/4');
    bytes[at + 6] = '9'.charCodeAt(0); // notes/4 → notes/9
    db.prepare('UPDATE audit_entries SET entry = ? WHERE seq = 4').run(bytes);
    expect(failure(log)).toEqual({ seq: 4, reason: 'hash_mismatch' });
  });

  it('one changed structural byte: malformed_entry at that seq', () => {
    const { db, log } = tampered();
    const bytes = rawEntry(db, 3);
    bytes[0] = 0xab; // a map of eleven pairs
    db.prepare('UPDATE audit_entries SET entry = ? WHERE seq = 3').run(bytes);
    expect(failure(log)).toEqual({ seq: 3, reason: 'malformed_entry' });
    expect(auditError(() => log.get(3)).code).toBe('corrupt_log');
  });

  it('a changed stored hash: hash_mismatch at that seq', () => {
    const { db, log, hashes } = tampered();
    const h = new Uint8Array(hashes[1]!);
    h[31] = h[31]! ^ 0xff;
    db.prepare('UPDATE audit_entries SET hash = ? WHERE seq = 2').run(h);
    expect(failure(log)).toEqual({ seq: 2, reason: 'hash_mismatch' });
  });

  it('an entry rewritten together with its stored hash: broken_link at the next seq', () => {
    const { db, log } = tampered();
    const e = log.get(3)!;
    const forged = { ...e, outcome: 'ok' as const, object: 'notes/nothing-to-see' };
    db.prepare('UPDATE audit_entries SET entry = ?, hash = ? WHERE seq = 3').run(
      encodeEntry(forged),
      entryHash(forged),
    );
    expect(failure(log)).toEqual({ seq: 4, reason: 'broken_link' });
  });

  it('a deleted middle row: missing_entry at that seq', () => {
    const { db, log } = tampered();
    db.prepare('DELETE FROM audit_entries WHERE seq = 3').run();
    expect(failure(log)).toEqual({ seq: 3, reason: 'missing_entry' });
  });

  it('a deleted first row: missing_entry at 1', () => {
    const { db, log } = tampered();
    db.prepare('DELETE FROM audit_entries WHERE seq = 1').run();
    expect(failure(log)).toEqual({ seq: 1, reason: 'missing_entry' });
  });

  it('two rows swapped: seq_mismatch at the first', () => {
    const { db, log } = tampered();
    db.exec(`
      UPDATE audit_entries SET seq = -3 WHERE seq = 3;
      UPDATE audit_entries SET seq = 3 WHERE seq = 4;
      UPDATE audit_entries SET seq = 4 WHERE seq = -3;
    `);
    expect(failure(log)).toEqual({ seq: 3, reason: 'seq_mismatch' });
  });

  it('a row with an impossible number: seq_mismatch', () => {
    const { db, log } = tampered();
    db.prepare('UPDATE audit_entries SET seq = 0 WHERE seq = 1').run();
    expect(failure(log)).toEqual({ seq: 0, reason: 'seq_mismatch' });
  });

  it('a first entry whose prev is not zero: broken_link at 1', () => {
    const { db, log } = newLog();
    const forged = { ...input(1), seq: 1, time: T0, prev: new Uint8Array(32).fill(1) };
    db.prepare('INSERT INTO audit_entries (seq, entry, hash) VALUES (1, ?, ?)').run(
      encodeEntry(forged),
      entryHash(forged),
    );
    expect(failure(log)).toEqual({ seq: 1, reason: 'broken_link' });
  });

  it('reports the first bad seq when several are bad', () => {
    const { db, log } = tampered(8);
    db.prepare('DELETE FROM audit_entries WHERE seq = 7').run();
    db.prepare('UPDATE audit_entries SET hash = zeroblob(32) WHERE seq = 5').run();
    expect(failure(log)).toEqual({ seq: 5, reason: 'hash_mismatch' });
  });

  it('a changed segment root: segment_root_mismatch', () => {
    const { db, log } = tampered();
    log.closeSegment();
    fill(log, 3, 7);
    log.closeSegment();
    db.prepare('UPDATE audit_segments SET root = zeroblob(32) WHERE id = 2').run();
    expect(failure(log)).toEqual({ seq: 7, reason: 'segment_root_mismatch', segment: 2 });
  });

  it('entries rewritten consistently under a closed segment: segment_root_mismatch', () => {
    const { db, log } = tampered(3);
    log.closeSegment();
    // Re-chain entry 3 with a forged outcome: every link and hash is consistent again.
    const forged = { ...log.get(3)!, outcome: 'ok' as const, object: 'notes/forged' };
    db.prepare('UPDATE audit_entries SET entry = ?, hash = ? WHERE seq = 3').run(
      encodeEntry(forged),
      entryHash(forged),
    );
    expect(failure(log)).toEqual({ seq: 1, reason: 'segment_root_mismatch', segment: 1 });
  });

  it('segment ranges that overlap, leave gaps or pass the head: segment_invalid', () => {
    const { db, log } = tampered();
    log.closeSegment();
    db.prepare('UPDATE audit_segments SET last_seq = 9 WHERE id = 1').run();
    expect(failure(log)).toEqual({ seq: 1, reason: 'segment_invalid', segment: 1 });
    db.prepare('UPDATE audit_segments SET last_seq = 6, first_seq = 2 WHERE id = 1').run();
    expect(failure(log)).toEqual({ seq: 2, reason: 'segment_invalid', segment: 1 });
    db.prepare('UPDATE audit_segments SET first_seq = 1, id = 2 WHERE id = 1').run();
    expect(failure(log)).toEqual({ seq: 1, reason: 'segment_invalid', segment: 2 });
  });

  it('entries cut from the end of a closed segment: segment_invalid', () => {
    const { db, log } = tampered();
    log.closeSegment();
    db.prepare('DELETE FROM audit_entries WHERE seq >= 5').run();
    expect(failure(log)).toEqual({ seq: 1, reason: 'segment_invalid', segment: 1 });
  });

  it('closeSegment refuses to commit a broken range', () => {
    const { db, log } = tampered();
    db.prepare('UPDATE audit_entries SET hash = zeroblob(32) WHERE seq = 2').run();
    const err = auditError(() => log.closeSegment());
    expect(err.code).toBe('corrupt_log');
    expect(err.details).toEqual({ seq: 2, reason: 'hash_mismatch' });
    expect(log.segments()).toEqual([]);
  });
});

describe('AuditLog segments, anchors and proofs', () => {
  it('closes contiguous segments and returns null when nothing is new', () => {
    const { log } = newLog();
    expect(log.closeSegment()).toBeNull();
    const h1 = fill(log, 5);
    const s1 = log.closeSegment()!;
    expect(s1).toEqual({
      id: 1,
      firstSeq: 1,
      lastSeq: 5,
      root: merkleRoot(h1),
      anchorTx: null,
      anchorHeight: null,
    });
    expect(log.closeSegment()).toBeNull();
    expect(log.closeSegment()).toBeNull();
    const h2 = fill(log, 1, 6);
    const s2 = log.closeSegment()!;
    expect(s2).toMatchObject({ id: 2, firstSeq: 6, lastSeq: 6 });
    expect(toHex(s2.root)).toBe(toHex(merkleRoot(h2)));
    const h3 = fill(log, 9, 7);
    const s3 = log.closeSegment()!;
    expect(s3).toMatchObject({ id: 3, firstSeq: 7, lastSeq: 15 });
    expect(toHex(s3.root)).toBe(toHex(merkleRoot(h3)));
    expect(log.segments()).toEqual([s1, s2, s3]);
    expect(log.segment(2)).toEqual(s2);
    expect(log.segment(4)).toBeNull();
    expect(log.segmentOf(5)).toEqual(s1);
    expect(log.segmentOf(7)).toEqual(s3);
    fill(log, 1, 16);
    expect(log.segmentOf(16)).toBeNull();
    expect(log.verify()).toMatchObject({ ok: true, entries: 16, segments: 3 });
  });

  it('records anchors, idempotently, and refuses a conflicting one', () => {
    const { log } = newLog();
    fill(log, 3);
    log.closeSegment();
    fill(log, 2, 4);
    log.closeSegment();
    expect(log.unanchoredSegments().map((s) => s.id)).toEqual([1, 2]);
    const tx = 'cd'.repeat(32);
    log.markAnchored(1, tx, 17);
    log.markAnchored(1, tx, 17);
    expect(log.segment(1)).toMatchObject({ anchorTx: tx, anchorHeight: 17 });
    expect(log.unanchoredSegments().map((s) => s.id)).toEqual([2]);
    const conflict = auditError(() => log.markAnchored(1, 'ef'.repeat(32), 18));
    expect(conflict.code).toBe('already_anchored');
    expect(conflict.details).toEqual({ segment: 1, anchor_tx: tx, anchor_height: 17 });
    expect(auditError(() => log.markAnchored(1, tx, 18)).code).toBe('already_anchored');
    expect(auditError(() => log.markAnchored(3, tx, 17)).code).toBe('not_found');
    expect(auditError(() => log.markAnchored(2, 'CD'.repeat(32), 17)).code).toBe('invalid_argument');
    expect(auditError(() => log.markAnchored(2, tx.slice(2), 17)).code).toBe('invalid_argument');
    expect(auditError(() => log.markAnchored(2, tx, -1)).code).toBe('invalid_argument');
    expect(auditError(() => log.markAnchored(0, tx, 1)).code).toBe('invalid_argument');
    expect(log.verify().ok).toBe(true);
  });

  it('every proof verifies against its own segment root, and JSON round-trips', () => {
    const { log } = newLog();
    fill(log, 7);
    const s1 = log.closeSegment()!;
    fill(log, 5, 8);
    const s2 = log.closeSegment()!;
    log.markAnchored(1, 'ab'.repeat(32), 9);
    for (let seq = 1; seq <= 12; seq++) {
      const proof = log.proof(seq);
      const s = seq <= 7 ? s1 : s2;
      expect(proof.v).toBe(1);
      expect(proof.entry.seq).toBe(seq);
      expect(proof.hash).toBe(toHex(entryHash(log.get(seq)!)));
      expect(proof.segment).toEqual({
        id: s.id,
        first_seq: s.firstSeq,
        last_seq: s.lastSeq,
        root: toHex(s.root),
        anchor_tx: s.id === 1 ? 'ab'.repeat(32) : null,
        anchor_height: s.id === 1 ? 9 : null,
      });
      expect(proof.inclusion.index).toBe(seq - s.firstSeq);
      expect(proof.inclusion.size).toBe(s.lastSeq - s.firstSeq + 1);
      expect(verifyAuditProof(proof)).toBe(true);
      const json = JSON.parse(JSON.stringify(proof)) as unknown;
      expect(json).toEqual(proof);
      expect(verifyAuditProof(json)).toBe(true);
    }
  });

  it('a proof for an entry in segment 2 does not verify against segment 1', () => {
    const { log } = newLog();
    fill(log, 4);
    const s1 = log.closeSegment()!;
    fill(log, 4, 5);
    log.closeSegment();
    const proof = log.proof(6);
    expect(verifyAuditProof(proof)).toBe(true);
    const s1Json = {
      id: 1,
      first_seq: 1,
      last_seq: 4,
      root: toHex(s1.root),
      anchor_tx: null,
      anchor_height: null,
    };
    expect(verifyAuditProof({ ...proof, segment: { ...proof.segment, root: toHex(s1.root) } })).toBe(false);
    expect(verifyAuditProof({ ...proof, segment: s1Json })).toBe(false);
    // Even with the position rewritten to fit segment 1.
    expect(
      verifyAuditProof({ ...proof, segment: s1Json, inclusion: { ...proof.inclusion, index: 1, size: 4 } }),
    ).toBe(false);
  });

  it('a tampered proof fails', () => {
    const { log } = newLog();
    fill(log, 9);
    log.closeSegment();
    const proof = log.proof(5);
    const variants: unknown[] = [
      { ...proof, entry: { ...proof.entry, outcome: 'ok' === proof.entry.outcome ? 'denied' : 'ok' } },
      { ...proof, entry: { ...proof.entry, time: proof.entry.time + 1 } },
      { ...proof, entry: { ...proof.entry, seq: 6 } },
      { ...proof, entry: { ...proof.entry, actor: 'not a did' } },
      { ...proof, hash: proof.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) },
      { ...proof, inclusion: { ...proof.inclusion, index: 3 } },
      { ...proof, inclusion: { ...proof.inclusion, size: 10 } },
      { ...proof, segment: { ...proof.segment, last_seq: 10 } },
      { ...proof, segment: { ...proof.segment, first_seq: 6 } },
      { ...proof, segment: { ...proof.segment, anchor_tx: 'ab'.repeat(32) } },
      { ...proof, inclusion: { ...proof.inclusion, path: proof.inclusion.path.slice(1) } },
      {
        ...proof,
        inclusion: {
          ...proof.inclusion,
          path: proof.inclusion.path.map((h, i) =>
            i === 0 ? h.replace(/.$/, (c) => (c === '0' ? '1' : '0')) : h,
          ),
        },
      },
      { ...proof, v: 2 },
      { ...proof, segment: null },
      { ...proof, inclusion: { ...proof.inclusion, path: proof.inclusion.path.map((h) => h.toUpperCase()) } },
      null,
      'proof',
      {},
    ];
    for (const v of variants) expect(verifyAuditProof(v)).toBe(false);
    expect(verifyAuditProof(proof)).toBe(true);
  });

  it('the segment size is authenticated by the anchor count, not by the root alone', () => {
    const { log } = newLog();
    fill(log, 9);
    const s1 = log.closeSegment()!;
    const proof = log.proof(5);
    // Entry 5 of 9 takes the same turns as entry 5 of 10, so a proof that claims a tenth entry
    // passes the offline check…
    const stretched = {
      ...proof,
      segment: { ...proof.segment, last_seq: 10 },
      inclusion: { ...proof.inclusion, size: 10 },
    };
    expect(verifyAuditProof(stretched)).toBe(true);
    // …and fails against the chain, whose anchor records count 9.
    const record = { ...auditAnchorBody(DID, s1), height: 3, tx_hash: new Uint8Array(32) };
    expect(auditAnchorMatches(proof, DID, record)).toBe(true);
    expect(auditAnchorMatches(stretched, DID, record)).toBe(false);
  });

  it('proof() refuses unknown and still-open entries', () => {
    const { log } = newLog();
    fill(log, 3);
    log.closeSegment();
    fill(log, 1, 4);
    expect(auditError(() => log.proof(9)).code).toBe('not_found');
    const open = auditError(() => log.proof(4));
    expect(open.code).toBe('not_segmented');
    expect(open.details).toEqual({ seq: 4 });
    expect(auditError(() => log.proof(0)).code).toBe('invalid_argument');
  });

  it('anchor body and chain record check', () => {
    const { log } = newLog();
    fill(log, 4);
    const s1 = log.closeSegment()!;
    const body = auditAnchorBody(DID, s1);
    expect(body).toEqual({ did: DID, kind: 'audit', seq: 1, root: s1.root, count: 4 });

    const txHash = new Uint8Array(32).fill(0xcd);
    const record = { ...body, signer: 'self1…', height: 21, tx_hash: txHash };
    const before = log.proof(2);
    expect(auditAnchorMatches(before, DID, record)).toBe(true);
    log.markAnchored(1, toHex(txHash), 21);
    const proof = log.proof(2);
    expect(verifyAuditProof(proof)).toBe(true);
    expect(auditAnchorMatches(proof, DID, record)).toBe(true);
    expect(auditAnchorMatches(proof, 'did:self:someone-else', record)).toBe(false);
    expect(auditAnchorMatches(proof, DID, { ...record, kind: 'consent' })).toBe(false);
    expect(auditAnchorMatches(proof, DID, { ...record, seq: 2 })).toBe(false);
    expect(auditAnchorMatches(proof, DID, { ...record, count: 5 })).toBe(false);
    expect(auditAnchorMatches(proof, DID, { ...record, root: new Uint8Array(32) })).toBe(false);
    expect(auditAnchorMatches(proof, DID, { ...record, height: 22 })).toBe(false);
    expect(auditAnchorMatches(proof, DID, { ...record, tx_hash: new Uint8Array(32) })).toBe(false);
  });

  it('segment roots commit to exactly the stored entry hashes', () => {
    const { db, log } = newLog();
    fill(log, 6);
    const s = log.closeSegment()!;
    const rows = db.prepare('SELECT hash FROM audit_entries ORDER BY seq').all() as Array<{ hash: Buffer }>;
    expect(equalBytes(merkleRoot(rows.map((r) => new Uint8Array(r.hash))), s.root)).toBe(true);
  });
});
