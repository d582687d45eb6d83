import type { Statement } from 'better-sqlite3-multiple-ciphers';
import type { ControlDatabase } from '../db/database.js';
import { isSessionTokenShape, newSessionToken, sameHash, tokenHash } from './tokens.js';

export interface Session {
  did: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

interface CachedSession extends Session {
  hash: Buffer;
}

export interface SessionManagerOptions {
  ttlMs: number;
  /** Verified sessions kept in memory (default 100,000). */
  cacheLimit?: number;
  now?: () => number;
}

/** How often expired rows are swept from the table, at most. */
const SWEEP_EVERY_MS = 60_000;

/**
 * Sessions: a random bearer token handed to the person once, stored only as its SHA-256.
 *
 * Looking a session up by the hash of the presented token leaks, through timing, at most which
 * hashes exist — nothing about any token, since finding a token with a chosen hash prefix is
 * infeasible. The stored and presented hashes are still compared in constant time before a
 * session is trusted. Verified sessions stay in an in-memory LRU so the forwarding path does no
 * SQLite read per request; expiry is checked on every use and logout removes the entry, so the
 * cache never outlives what the table says. (One gateway process owns the table; a second process
 * would need its own invalidation.)
 */
export class SessionManager {
  private readonly cache = new Map<string, CachedSession>();
  private readonly cacheLimit: number;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly select: Statement<[Buffer], { token_hash: Buffer; did: string; expires_at: number }>;
  private lastSweep = 0;

  constructor(
    private readonly db: ControlDatabase,
    opts: SessionManagerOptions,
  ) {
    this.ttlMs = opts.ttlMs;
    this.cacheLimit = opts.cacheLimit ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.select = db.prepare('SELECT token_hash, did, expires_at FROM sessions WHERE token_hash = ?');
  }

  /** A new session for `did`; the token is returned here and never stored. */
  create(did: string): { token: string; expiresAt: number } {
    const now = this.now();
    this.sweep(now);
    const token = newSessionToken();
    const hash = tokenHash(token);
    const expiresAt = now + this.ttlMs;
    this.db
      .prepare('INSERT INTO sessions (token_hash, did, created_at, expires_at) VALUES (?, ?, ?, ?)')
      .run(hash, did, now, expiresAt);
    this.remember(hash.toString('hex'), { did, expiresAt, hash });
    return { token, expiresAt };
  }

  /** The live session of a token, or null for a malformed, unknown, expired or logged-out one. */
  resolve(token: string): Session | null {
    if (!isSessionTokenShape(token)) return null;
    const hash = tokenHash(token);
    const key = hash.toString('hex');
    const now = this.now();
    let session = this.cache.get(key);
    if (session) {
      // Refresh its place in the LRU order.
      this.cache.delete(key);
      this.cache.set(key, session);
    } else {
      const row = this.select.get(hash);
      if (!row || !sameHash(row.token_hash, hash)) return null;
      session = { did: row.did, expiresAt: row.expires_at, hash: row.token_hash };
      this.remember(key, session);
    }
    if (!sameHash(session.hash, hash)) return null;
    if (session.expiresAt <= now) {
      this.cache.delete(key);
      this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(hash);
      return null;
    }
    return { did: session.did, expiresAt: session.expiresAt };
  }

  /** Logs a token out; true when it was a live session. */
  revoke(token: string): boolean {
    if (!isSessionTokenShape(token)) return false;
    const hash = tokenHash(token);
    this.cache.delete(hash.toString('hex'));
    return this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(hash).changes > 0;
  }

  /** Ends every session of a DID (its DID was deactivated). */
  revokeAll(did: string): number {
    for (const [key, s] of this.cache) if (s.did === did) this.cache.delete(key);
    return this.db.prepare('DELETE FROM sessions WHERE did = ?').run(did).changes;
  }

  private remember(key: string, session: CachedSession): void {
    if (this.cache.size >= this.cacheLimit) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, session);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now);
  }
}
