import type Database from 'better-sqlite3-multiple-ciphers';

/**
 * The grants' tables in the instance's encrypted database, created if missing (like the audit
 * log's and the assistant's): a database from before grants gains them at its first open.
 *
 *   grants          one row per grant the person signed: the consent statement's fields, its
 *                   public key and signature (so the grant can be re-verified, and exported), its
 *                   revocation, and how much it was used. Never deleted: a revoked grant stays.
 *   grant_leaves    the commitments to anchor, in the order they were made: a consent leaf when a
 *                   grant is stored, a revocation leaf when it is revoked (@self/crypto consent.ts)
 *   grant_segments  runs of leaves of one kind committed by one Merkle root, numbered 1, 2, 3… per
 *                   kind like the chain's anchors, with the anchor transaction once it committed
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS grants (
  id           TEXT PRIMARY KEY,
  app_id       TEXT NOT NULL,
  scopes       TEXT NOT NULL,
  origin       TEXT NOT NULL,
  issued_at    INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  public_key   BLOB NOT NULL,
  signature    BLOB NOT NULL,
  created_at   INTEGER NOT NULL,
  revoked_at   INTEGER,
  revoked_by   TEXT CHECK (revoked_by IN ('person', 'app')),
  last_used_at INTEGER,
  uses         INTEGER NOT NULL DEFAULT 0,
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
) STRICT;
CREATE INDEX IF NOT EXISTS grants_by_created ON grants (created_at);

CREATE TABLE IF NOT EXISTS grant_leaves (
  id   INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('consent', 'revocation')),
  leaf BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS grant_leaves_by_kind ON grant_leaves (kind, id);

CREATE TABLE IF NOT EXISTS grant_segments (
  kind          TEXT NOT NULL CHECK (kind IN ('consent', 'revocation')),
  seq           INTEGER NOT NULL,
  last_leaf     INTEGER NOT NULL,
  count         INTEGER NOT NULL,
  root          BLOB NOT NULL,
  anchor_tx     TEXT,
  anchor_height INTEGER,
  PRIMARY KEY (kind, seq)
) STRICT, WITHOUT ROWID;`;

export function ensureGrantSchema(db: Database.Database): void {
  db.exec(SCHEMA);
}
