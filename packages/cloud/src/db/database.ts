import Database from 'better-sqlite3-multiple-ciphers';
import { DEVELOPER_MIGRATION } from './developer-schema.js';
import { OAUTH_MIGRATION } from './oauth-schema.js';

export type ControlDatabase = Database.Database;

/** The control plane's database file in the cloud's data directory. */
export const CONTROL_DB_FILE = 'control.db';

/**
 * Schema of the control plane (design §7): who has an account and where their instance lives,
 * sessions and sign-in challenges. No personal content: DIDs and addresses are public on chain,
 * session tokens are stored only as SHA-256 hashes, and nothing of what a person stores is here.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE accounts (
    did                 TEXT PRIMARY KEY,
    address             TEXT NOT NULL UNIQUE,
    tier                TEXT NOT NULL CHECK (tier IN ('free', 'growth', 'pro', 'enterprise')),
    mode                TEXT NOT NULL CHECK (mode IN ('always-on', 'sovereign')),
    quota_bytes         INTEGER NOT NULL,
    -- pending: a sign-up is running; failed: it stopped half-way (a retry may resume it);
    -- active: the DID is on chain and the instance provisioned; deactivated: the DID was deactivated.
    state               TEXT NOT NULL CHECK (state IN ('pending', 'active', 'failed', 'deactivated')),
    -- SHA-256 of the DID document's encryption key the instance's data key is wrapped to: a retry
    -- may reuse the instance only for the same key.
    encryption_key_hash TEXT NOT NULL,
    placement           TEXT,
    did_tx_hash         TEXT,
    did_height          INTEGER,
    failure             TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    did        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX sessions_by_did ON sessions (did);
  CREATE INDEX sessions_by_expiry ON sessions (expires_at);

  CREATE TABLE challenges (
    challenge  TEXT PRIMARY KEY,
    did        TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX challenges_by_expiry ON challenges (expires_at);
  `,
  DEVELOPER_MIGRATION,
  OAUTH_MIGRATION,
];

/**
 * Opens (creating if needed) the control database: a plain SQLite file (no key: it holds nothing
 * secret), WAL so readers never wait for the writer, brought up to the latest schema.
 */
export function openControlDatabase(path: string): ControlDatabase {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash; only a power loss may roll back the
    // last commits, which here means a session or challenge to issue again.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `${path} has schema version ${version}, newer than this build knows (${MIGRATIONS.length}); upgrade SELF`,
      );
    }
    db.transaction(() => {
      for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
    })();
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function getMeta(db: ControlDatabase, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: ControlDatabase, key: string, value: string): void {
  db.prepare(
    'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  ).run(key, value);
}
