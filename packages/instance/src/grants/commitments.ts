import type Database from 'better-sqlite3-multiple-ciphers';
import { merkleRoot } from '../audit/merkle.js';

/** The two kinds of grant commitment, as the chain's `anchor` kinds name them. */
export type GrantAnchorKind = 'consent' | 'revocation';
export const GRANT_ANCHOR_KINDS: readonly GrantAnchorKind[] = ['consent', 'revocation'];

/** A closed run of leaves of one kind; `seq` is the `anchor` transaction's seq for that kind. */
export interface GrantSegment {
  kind: GrantAnchorKind;
  seq: number;
  count: number;
  /** The Merkle root of the leaves (docs/protocol/audit.md §4: the audit log's tree). */
  root: Uint8Array;
  anchorTx: string | null;
  anchorHeight: number | null;
}

/** The body of the `anchor` transaction that commits a grant segment (structurally TxBodies['anchor']). */
export interface GrantAnchorBody {
  did: string;
  kind: GrantAnchorKind;
  seq: number;
  root: Uint8Array;
  count: number;
}

export function grantAnchorBody(did: string, s: GrantSegment): GrantAnchorBody {
  return { did, kind: s.kind, seq: s.seq, root: s.root, count: s.count };
}

/** A segment holds at most this many leaves, so closing one reads a bounded number of rows. */
const MAX_SEGMENT_LEAVES = 10_000;

interface SegmentRow {
  kind: GrantAnchorKind;
  seq: number;
  count: number;
  root: Buffer;
  anchor_tx: string | null;
  anchor_height: number | null;
}

const toSegment = (r: SegmentRow): GrantSegment => ({
  kind: r.kind,
  seq: r.seq,
  count: r.count,
  root: new Uint8Array(r.root),
  anchorTx: r.anchor_tx,
  anchorHeight: r.anchor_height,
});

/**
 * Consent and revocation leaves waiting to be anchored, and their segments (docs/protocol/consent.md,
 * "Commitments anchored on chain"). Like audit segments: a segment is closed only when the anchorer
 * can commit it, segments of a kind are anchored strictly in seq order, and the chain refuses a seq
 * whose predecessor it lacks, so seq 1, 2, 3… per kind here is seq 1, 2, 3… on chain.
 */
export class GrantCommitments {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    const segCols = 'kind, seq, count, root, anchor_tx, anchor_height';
    this.stmts = {
      add: db.prepare<[GrantAnchorKind, Uint8Array]>('INSERT INTO grant_leaves (kind, leaf) VALUES (?, ?)'),
      last: db.prepare<[GrantAnchorKind], { seq: number; last_leaf: number }>(
        'SELECT seq, last_leaf FROM grant_segments WHERE kind = ? ORDER BY seq DESC LIMIT 1',
      ),
      leaves: db.prepare<[GrantAnchorKind, number, number], { id: number; leaf: Buffer }>(
        'SELECT id, leaf FROM grant_leaves WHERE kind = ? AND id > ? ORDER BY id LIMIT ?',
      ),
      countAfter: db
        .prepare<[GrantAnchorKind, number], number>(
          'SELECT count(*) FROM grant_leaves WHERE kind = ? AND id > ?',
        )
        .pluck(),
      insertSegment: db.prepare(
        'INSERT INTO grant_segments (kind, seq, last_leaf, count, root) VALUES (?, ?, ?, ?, ?)',
      ),
      unanchored: db.prepare<[GrantAnchorKind], SegmentRow>(
        `SELECT ${segCols} FROM grant_segments WHERE kind = ? AND anchor_tx IS NULL ORDER BY seq`,
      ),
      segments: db.prepare<[GrantAnchorKind], SegmentRow>(
        `SELECT ${segCols} FROM grant_segments WHERE kind = ? ORDER BY seq`,
      ),
      anchor: db.prepare<[string, number, GrantAnchorKind, number]>(
        'UPDATE grant_segments SET anchor_tx = ?, anchor_height = ? WHERE kind = ? AND seq = ? AND anchor_tx IS NULL',
      ),
    };
  }

  /** Records a leaf; the caller's transaction makes it one write with what it commits to. */
  add(kind: GrantAnchorKind, leaf: Uint8Array): void {
    this.stmts.add.run(kind, leaf);
  }

  /** Leaves of `kind` not in a segment yet. */
  unsegmented(kind: GrantAnchorKind): number {
    return this.stmts.countAfter.get(kind, this.stmts.last.get(kind)?.last_leaf ?? 0) ?? 0;
  }

  /** Closes the unsegmented leaves of `kind` (up to MAX_SEGMENT_LEAVES) into the next segment; null if none. */
  closeSegment(kind: GrantAnchorKind): GrantSegment | null {
    return this.db
      .transaction(() => {
        const last = this.stmts.last.get(kind);
        const rows = this.stmts.leaves.all(kind, last?.last_leaf ?? 0, MAX_SEGMENT_LEAVES);
        if (rows.length === 0) return null;
        const seq = (last?.seq ?? 0) + 1;
        const root = merkleRoot(rows.map((r) => new Uint8Array(r.leaf)));
        this.stmts.insertSegment.run(kind, seq, rows.at(-1)!.id, rows.length, root);
        return { kind, seq, count: rows.length, root, anchorTx: null, anchorHeight: null };
      })
      .immediate();
  }

  /** Closed segments of `kind` not yet marked anchored, in seq order. */
  unanchored(kind: GrantAnchorKind): GrantSegment[] {
    return this.stmts.unanchored.all(kind).map(toSegment);
  }

  /** Every closed segment of `kind`, in seq order. */
  segments(kind: GrantAnchorKind): GrantSegment[] {
    return this.stmts.segments.all(kind).map(toSegment);
  }

  /** Records the committed anchor of a segment; a segment already marked keeps its first record. */
  markAnchored(kind: GrantAnchorKind, seq: number, txHash: string, height: number): void {
    this.stmts.anchor.run(txHash, height, kind, seq);
  }
}
