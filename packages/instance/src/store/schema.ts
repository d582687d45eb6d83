import type Database from 'better-sqlite3-multiple-ciphers';

/**
 * The instance database's schema, as a list of migration steps: MIGRATIONS[i] takes a database at
 * version i to version i + 1 (version 0 is an empty file). openInstanceDatabase runs the missing
 * steps in one IMMEDIATE transaction, so a database is always at exactly one version. Never edit a
 * step that has shipped: append a new one.
 */

/** Meta keys the store owns. */
export const META = {
  schemaVersion: 'schema_version',
  /** Sum of the sizes of all stored values, in bytes: what the quota counts. */
  usedBytes: 'used_bytes',
  objectCount: 'object_count',
} as const;

// `objects` keeps its rowid: inline values reach 64 KiB, and SQLite advises WITHOUT ROWID only for
// small rows. `value` is the last column so listing (which never reads it) stops before its
// overflow pages. `key` is a BLOB (the key's UTF-8 bytes) so ORDER BY and range bounds compare
// bytes. Exactly one of `value` (inline) and `blob_id` (a file under blobs/) is set.
const V1_SQL = `CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE objects (
  ns           TEXT NOT NULL,
  collection   TEXT NOT NULL,
  key          BLOB NOT NULL,
  size         INTEGER NOT NULL,
  etag         BLOB NOT NULL,
  version      INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  updated_at   INTEGER NOT NULL,
  blob_id      TEXT,
  value        BLOB,
  PRIMARY KEY (ns, collection, key),
  CHECK ((value IS NULL) <> (blob_id IS NULL))
) STRICT;

CREATE UNIQUE INDEX objects_blob_id ON objects (blob_id) WHERE blob_id IS NOT NULL;`;

export type Migration = (db: Database.Database) => void;

export const MIGRATIONS: readonly Migration[] = [
  (db) => {
    db.exec(V1_SQL);
    const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    put.run(META.usedBytes, 0);
    put.run(META.objectCount, 0);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
