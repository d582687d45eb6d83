/**
 * The block store's SQLite schema (docs/protocol/state.md pins the same text; a test keeps them
 * equal). Bump STORE_SCHEMA_VERSION with any change, and teach ChainStore.open to migrate.
 */
export const STORE_SCHEMA_VERSION = 1;

/** Meta keys the store owns; putMeta refuses them so nobody can re-label a data directory. */
export const RESERVED_META = {
  schemaVersion: 'schema_version',
  chainId: 'chain_id',
  genesisHash: 'genesis_hash',
} as const;

// `state` keeps a rowid: records carry post-quantum keys (2-3 KB), and SQLite advises WITHOUT ROWID
// only for small rows. `txs` and `meta` rows are small, so they skip the rowid indirection.
export const STORE_SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS blocks (
  height INTEGER PRIMARY KEY,
  hash   BLOB NOT NULL UNIQUE,
  header BLOB NOT NULL,
  body   BLOB NOT NULL,
  cert   BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS txs (
  hash   BLOB PRIMARY KEY,
  height INTEGER NOT NULL,
  idx    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS state (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
);`;

export type StoreErrorReason =
  | 'bad_height'
  | 'duplicate_block'
  | 'duplicate_tx'
  | 'no_genesis'
  | 'wrong_chain'
  | 'schema_version'
  | 'invalid_argument';

/** Typed store failure; a refused write leaves the database exactly as it was. */
export class StoreError extends Error {
  constructor(
    readonly reason: StoreErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
