import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '@self/crypto';
import { readDocVectors } from '../../../scripts/doc-vectors.js';
import {
  AUDIT_ENTRY_DOMAIN,
  AUDIT_MERKLE_DOMAIN,
  AuditLog,
  type AuditEntryJson,
  auditAnchorBody,
  decodeEntry,
  encodeEntry,
  entryFromJson,
  entryHash,
  entryToJson,
  inclusionProof,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  verifyAuditProof,
  verifyInclusion,
} from '../src/audit/index.js';

const DOC = 'docs/protocol/audit.md';
const vectors = readDocVectors(DOC);

type Vector = Record<string, unknown>;
interface EntryVector {
  entry: AuditEntryJson;
  encoding: string;
  hash: string;
}

function vector<T>(name: string): T {
  const v = vectors.get(name);
  if (v === undefined) throw new Error(`${DOC}: no vector ${name}`);
  return v as T;
}

/** h_i of the doc: 32 bytes of value i. */
function leaf(i: number): Uint8Array {
  return new Uint8Array(32).fill(i);
}

const dir = mkdtempSync(join(tmpdir(), 'self-audit-doc-'));
const dbs: InstanceType<typeof Database>[] = [];
afterAll(() => {
  for (const db of dbs) db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh log file replaying the doc's entries with their fixed times. */
function docLog(): AuditLog {
  const db = new Database(join(dir, `log-${dbs.length}.db`));
  dbs.push(db);
  const log = new AuditLog(db);
  for (const { entry } of vector<EntryVector[]>('audit-entries')) {
    const { seq, prev, ...rest } = entry;
    const appended = log.append(rest);
    expect(appended.seq).toBe(seq);
    expect(toHex(log.get(seq)!.prev)).toBe(prev);
  }
  return log;
}

/** One checker per vector name. Adding a vector to the doc without a checker fails the suite. */
const CHECKERS: Record<string, (v: unknown) => void> = {
  'audit-domains': (v) => {
    expect(v).toEqual({ entry: AUDIT_ENTRY_DOMAIN, merkle: AUDIT_MERKLE_DOMAIN });
  },
  'audit-merkle': (raw) => {
    const v = raw as Vector;
    expect(toHex(merkleLeafHash(leaf(0)))).toBe(v.leaf_h0);
    expect(toHex(merkleNodeHash(leaf(0), leaf(1)))).toBe(v.node_h0_h1);
    const roots = v.roots as Record<string, string>;
    for (const [n, root] of Object.entries(roots)) {
      const leaves = Array.from({ length: Number(n) }, (_, i) => leaf(i));
      expect(toHex(merkleRoot(leaves)), `n=${n}`).toBe(root);
    }
    const p = v.proof_7_6 as { index: number; size: number; path: string[] };
    const seven = Array.from({ length: 7 }, (_, i) => leaf(i));
    const proof = inclusionProof(seven, p.index);
    expect({ index: proof.index, size: proof.size, path: proof.path.map(toHex) }).toEqual(p);
    expect(p.path[1]).toBe(roots['4']);
    expect(p.path[0]).toBe(toHex(merkleNodeHash(merkleLeafHash(leaf(4)), merkleLeafHash(leaf(5)))));
    expect(
      verifyInclusion(leaf(6), { ...p, path: p.path.map((h) => fromHex(h)) }, fromHex(roots['7']!)),
    ).toBe(true);
  },
  'audit-entries': (raw) => {
    const list = raw as EntryVector[];
    expect(list.map((v) => v.entry.seq)).toEqual([1, 2, 3]);
    let prev = '00'.repeat(32);
    for (const v of list) {
      const entry = entryFromJson(v.entry);
      expect(v.entry.prev).toBe(prev);
      expect(toHex(encodeEntry(entry)), `entry ${entry.seq}`).toBe(v.encoding);
      expect(toHex(entryHash(entry)), `entry ${entry.seq}`).toBe(v.hash);
      expect(entryToJson(decodeEntry(fromHex(v.encoding)))).toEqual(v.entry);
      prev = v.hash;
    }
    // The log, appending the same entries with the same times, reproduces them byte for byte.
    const log = docLog();
    for (const v of list) expect(toHex(encodeEntry(log.get(v.entry.seq)!))).toBe(v.encoding);
    expect(log.verify()).toMatchObject({ ok: true, entries: 3, head: fromHex(list[2]!.hash) });
  },
  'audit-segment': (raw) => {
    const v = raw as Vector & { anchor: Vector };
    const hashes = vector<EntryVector[]>('audit-entries').map((e) => fromHex(e.hash));
    expect(toHex(merkleRoot(hashes))).toBe(v.root);
    const log = docLog();
    const segment = log.closeSegment()!;
    expect({
      id: segment.id,
      first_seq: segment.firstSeq,
      last_seq: segment.lastSeq,
      root: toHex(segment.root),
    }).toEqual({
      id: v.id,
      first_seq: v.first_seq,
      last_seq: v.last_seq,
      root: v.root,
    });
    const body = auditAnchorBody(v.anchor.did as string, segment);
    expect({ ...body, root: toHex(body.root) }).toEqual(v.anchor);
  },
  'audit-proof': (v) => {
    expect(verifyAuditProof(v)).toBe(true);
    const log = docLog();
    log.closeSegment();
    const p = v as { segment: { anchor_tx: string; anchor_height: number }; entry: { seq: number } };
    log.markAnchored(1, p.segment.anchor_tx, p.segment.anchor_height);
    expect(log.proof(p.entry.seq)).toEqual(v);
  },
};

describe(`vectors pinned in ${DOC}`, () => {
  it('every vector in the doc has a checker, and every checker a vector', () => {
    expect([...vectors.keys()].sort()).toEqual(Object.keys(CHECKERS).sort());
  });

  for (const [name, v] of vectors) {
    it(name, () => {
      const check = CHECKERS[name];
      if (!check) throw new Error(`no checker for vector ${name}`);
      check(v);
    });
  }
});
