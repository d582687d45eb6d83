import type Database from 'better-sqlite3-multiple-ciphers';

/**
 * The instance's own key/value table in the encrypted database (`instance_meta`), apart from the
 * store's `meta` counters: the instance key (instance-key.ts) and the instance process's small
 * records (what it last announced on chain, the chain transaction it is waiting for). Living in
 * the encrypted database, everything here exists only while the instance is unlocked.
 */

const SCHEMA = `CREATE TABLE IF NOT EXISTS instance_meta (
  key   TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT, WITHOUT ROWID;`;

export type MetaValue = string | number | Uint8Array;

export class InstanceMeta {
  private readonly getStmt;
  private readonly setStmt;
  private readonly deleteStmt;

  constructor(readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.getStmt = db.prepare<[string], MetaValue>('SELECT value FROM instance_meta WHERE key = ?').pluck();
    this.setStmt = db.prepare<[string, MetaValue]>(
      'INSERT INTO instance_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    this.deleteStmt = db.prepare<[string]>('DELETE FROM instance_meta WHERE key = ?');
  }

  get(key: string): MetaValue | null {
    const v = this.getStmt.get(key);
    if (v === undefined || v === null) return null;
    // SQLite hands out Buffers; callers get plain Uint8Array copies.
    return v instanceof Uint8Array ? new Uint8Array(v) : v;
  }

  set(key: string, value: MetaValue): void {
    this.setStmt.run(key, value);
  }

  delete(key: string): void {
    this.deleteStmt.run(key);
  }
}
