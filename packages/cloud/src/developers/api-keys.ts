import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3-multiple-ciphers';
import { sameHash, tokenHash } from '../auth/tokens.js';
import type { ControlDatabase } from '../db/database.js';

/** Developer API keys: `self_dk_` + base64url of 32 random bytes (43 characters). */
export const API_KEY_PREFIX = 'self_dk_';
const API_KEY_RE = /^self_dk_[A-Za-z0-9_-]{43}$/;
/** What lists show of a key: enough to tell keys apart, far too little to guess the rest. */
const SHOWN_CHARS = API_KEY_PREFIX.length + 8;

export const isApiKeyShape = (text: string): boolean => API_KEY_RE.test(text);
export const newApiKey = (): string => API_KEY_PREFIX + randomBytes(32).toString('base64url');
export const apiKeyPrefix = (key: string): string => key.slice(0, SHOWN_CHARS);

export interface ApiKeyInfo {
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
}

interface KeyRow {
  prefix: string;
  created_at: number;
  revoked_at: number | null;
}

interface AuthRow {
  key_hash: Buffer;
  developer_id: string;
  did: string;
}

const info = (r: KeyRow): ApiKeyInfo => ({
  prefix: r.prefix,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

/** A developer's API keys, stored only as SHA-256: a stolen database holds no usable key. */
export class ApiKeyStore {
  constructor(
    private readonly db: ControlDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new key for the developer; the key itself is returned here and never again. */
  create(developerId: string): { key: string; info: ApiKeyInfo } {
    const key = newApiKey();
    const createdAt = this.now();
    this.db
      .prepare('INSERT INTO api_keys (key_hash, developer_id, prefix, created_at) VALUES (?, ?, ?, ?)')
      .run(tokenHash(key), developerId, apiKeyPrefix(key), createdAt);
    return { key, info: { prefix: apiKeyPrefix(key), createdAt, revokedAt: null } };
  }

  /** The developer's live keys, newest first. */
  list(developerId: string): ApiKeyInfo[] {
    const rows = this.db
      .prepare(
        `SELECT prefix, created_at, revoked_at FROM api_keys
          WHERE developer_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, prefix`,
      )
      .all(developerId) as KeyRow[];
    return rows.map(info);
  }

  /** Revokes the developer's live keys with this prefix; null when there is none. */
  revoke(developerId: string, prefix: string): ApiKeyInfo | null {
    const revokedAt = this.now();
    const rows = this.db
      .prepare(
        `UPDATE api_keys SET revoked_at = ?
          WHERE developer_id = ? AND prefix = ? AND revoked_at IS NULL
          RETURNING prefix, created_at, revoked_at`,
      )
      .all(revokedAt, developerId, prefix) as KeyRow[];
    return rows[0] ? info(rows[0]) : null;
  }
}

const lookups = new WeakMap<ControlDatabase, Statement<[Buffer], AuthRow>>();

/**
 * The developer an API key (the bearer token of a request) belongs to, or null for anything that
 * is not a live key. The row is found by the key's hash, then the hashes are compared in constant
 * time before the key is trusted, as sessions are (auth/sessions.ts).
 */
export function authenticateDeveloper(
  db: ControlDatabase,
  bearer: string | null | undefined,
): { developerId: string; did: string } | null {
  if (typeof bearer !== 'string' || !isApiKeyShape(bearer)) return null;
  let lookup = lookups.get(db);
  if (!lookup) {
    lookup = db.prepare(
      `SELECT k.key_hash, k.developer_id, d.did FROM api_keys k JOIN developers d ON d.id = k.developer_id
        WHERE k.key_hash = ? AND k.revoked_at IS NULL`,
    );
    lookups.set(db, lookup);
  }
  const hash = tokenHash(bearer);
  const row = lookup.get(hash);
  if (!row || !sameHash(row.key_hash, hash)) return null;
  return { developerId: row.developer_id, did: row.did };
}
