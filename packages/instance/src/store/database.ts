import Database from 'better-sqlite3-multiple-ciphers';
import { toHex } from '@self/crypto';
import { InstanceError } from './errors.js';
import { META, MIGRATIONS, SCHEMA_VERSION } from './schema.js';

export type InstanceDatabase = Database.Database;

export const DATA_KEY_BYTES = 32;

/** SQLite result codes that mean stored bytes are damaged; under SQLCipher a page whose HMAC fails. */
export function isCorruptionError(err: unknown): boolean {
  return (
    err instanceof Database.SqliteError &&
    (err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB')
  );
}

/**
 * Opens (creating if needed) an instance's encrypted SQLite database and brings its schema up to
 * date.
 *
 * The file is standard SQLCipher 4 (`cipher = sqlcipher`, `legacy = 4`: AES-256-CBC pages with an
 * HMAC-SHA512 per page), keyed with the raw 32-byte data key (`x'…'`, so no passphrase KDF runs): the
 * format SQLCipher 4 tools read, given the data key. The key never appears in a log or an error.
 * A wrong key is detected at once: SQLCipher reports it as "file is not a database" on the first
 * read, which becomes InstanceError('bad_key').
 */
export function openInstanceDatabase(path: string, dataKey: Uint8Array): InstanceDatabase {
  if (!(dataKey instanceof Uint8Array) || dataKey.length !== DATA_KEY_BYTES) {
    throw new InstanceError(
      'bad_key',
      `the data key must be ${DATA_KEY_BYTES} bytes; unlock the instance's key file again`,
    );
  }
  const db = new Database(path);
  try {
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    try {
      db.pragma(`key = "x'${toHex(dataKey)}'"`);
    } catch {
      // Whatever went wrong, the statement held the key: never pass it on, not even as a cause.
      throw new InstanceError(
        'bad_key',
        'the database refused the data key; check that the key file belongs to this instance',
      );
    }
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').pluck().get();
    } catch (err) {
      if (err instanceof Database.SqliteError && err.code === 'SQLITE_NOTADB') {
        throw new InstanceError(
          'bad_key',
          'the data key does not open this database (a wrong key, or a file that is not an instance database); unlock the instance with its own key file',
          { path },
        );
      }
      throw err;
    }

    db.pragma('journal_mode = WAL');
    // Durability. In WAL mode a commit appends the transaction's pages to the -wal file with
    // write(2); FULL also fsyncs the WAL at every commit, NORMAL only at checkpoints. A process
    // killed with SIGKILL cannot lose what write(2) handed to the kernel: the pages sit in the OS
    // page cache and reach the disk without the process, and the next open replays the WAL. So with
    // NORMAL every acknowledged write survives `kill -9`, and the database is always consistent.
    // What FULL would add is survival of a power loss or kernel crash, at the cost of an fsync per
    // commit: with NORMAL the last commits before such a crash may be rolled back (never torn).
    // The store syncs where NORMAL is not enough: blob files are fsynced before the commit that
    // references them, and a commit that makes a blob file unreferenced runs with FULL before the
    // file is removed (store.ts), so a lost commit can never point to a deleted blob.
    db.pragma('synchronous = NORMAL');
    // 64 MiB of page cache (negative means KiB): decrypting a page costs an AES pass and an HMAC,
    // so keeping hot pages decrypted in memory pays.
    db.pragma('cache_size = -65536');
    // Sorts and temporary indexes stay in memory, never as plaintext temp files on disk.
    db.pragma('temp_store = MEMORY');
    db.pragma('foreign_keys = ON');
    // Another connection (a backup, an export) may hold a lock briefly: wait instead of failing.
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof InstanceError) throw err;
    if (isCorruptionError(err)) {
      throw new InstanceError(
        'corrupt',
        'the instance database is damaged; restore it from a backup',
        { path },
        err,
      );
    }
    throw err;
  }
}

/** The schema version a database is at; 0 for a new, empty file. */
export function schemaVersion(db: InstanceDatabase): number {
  const hasMeta = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
    .pluck()
    .get();
  if (hasMeta === undefined) return 0;
  const v = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(META.schemaVersion);
  return typeof v === 'number' ? v : 0;
}

/** Runs the missing migration steps, all in one IMMEDIATE transaction. */
function migrate(db: InstanceDatabase): void {
  db.transaction(() => {
    const from = schemaVersion(db);
    if (from > SCHEMA_VERSION) {
      throw new InstanceError(
        'unsupported_version',
        `this instance database is at schema version ${from}, newer than this build reads (${SCHEMA_VERSION}); upgrade SELF`,
        { schemaVersion: from, supported: SCHEMA_VERSION },
      );
    }
    for (let v = from; v < SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    if (from !== SCHEMA_VERSION) {
      db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ).run(META.schemaVersion, SCHEMA_VERSION);
    }
  }).immediate();
}
