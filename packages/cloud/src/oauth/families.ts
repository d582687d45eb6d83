import { randomBytes } from 'node:crypto';
import type { ControlDatabase } from '../db/database.js';
import { sameHash, tokenHash } from '../auth/tokens.js';

/** Refresh tokens: `self_rt_` + base64url of 32 random bytes. */
export const REFRESH_TOKEN_PREFIX = 'self_rt_';
const REFRESH_TOKEN_RE = /^self_rt_[A-Za-z0-9_-]{43}$/;
/** A refresh token lives 30 days (never past its grant); every use rotates it. */
export const REFRESH_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;

export const isRefreshTokenShape = (token: string): boolean => REFRESH_TOKEN_RE.test(token);

/** Why a family was revoked (`token_families.revoked_reason`). */
export type RevokedReason =
  'refresh_reuse' | 'code_reuse' | 'revoked_by_client' | 'grant_revoked' | 'grant_expired';

export interface Family {
  id: string;
  clientId: string;
  did: string;
  grantId: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
}

interface FamilyRow {
  id: string;
  client_id: string;
  did: string;
  grant_id: string;
  scopes: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
}

interface RefreshRow {
  token_hash: Buffer;
  family_id: string;
  scopes: string;
  created_at: number;
  expires_at: number;
  rotated_at: number | null;
}

export type RotateResult =
  | { kind: 'unknown' }
  /** Presented again after rotation: the family is now revoked. */
  | { kind: 'reused'; family: Family }
  | { kind: 'revoked'; family: Family }
  | { kind: 'expired'; family: Family }
  /** Still valid; rotation happens only through `rotate()`. */
  | { kind: 'live'; family: Family; scopes: string[]; expiresAt: number };

const splitScopes = (s: string): string[] => (s === '' ? [] : s.split(' '));

function toFamily(r: FamilyRow): Family {
  return {
    id: r.id,
    clientId: r.client_id,
    did: r.did,
    grantId: r.grant_id,
    scopes: splitScopes(r.scopes),
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    revokedReason: r.revoked_reason,
  };
}

/** How many family states the gateway keeps in memory. */
const CACHE_LIMIT = 100_000;
/** Refresh tokens and families are swept this long after they expire. */
const SWEEP_AFTER_MS = 24 * 3600 * 1000;
const SWEEP_EVERY_MS = 60_000;

/**
 * Token families: everything issued from one authorization code (its refresh chain and the access
 * tokens each refresh made). Revoking a family ends all of them at once: the gateway checks the
 * family of every access token, and refresh tokens of a revoked family are refused.
 *
 * The table is authoritative; the gateway's hot path reads a family's state from an in-memory
 * cache that every revocation here updates first. (One gateway process owns these tables, as with
 * sessions; a second one would need its own invalidation.)
 */
export class FamilyStore {
  private readonly cache = new Map<string, { revoked: boolean; expiresAt: number }>();
  private lastSweep = 0;

  constructor(
    private readonly db: ControlDatabase,
    private readonly now: () => number,
  ) {}

  create(input: {
    clientId: string;
    did: string;
    grantId: string;
    scopes: readonly string[];
    expiresAt: number;
  }): Family {
    const now = this.now();
    this.sweep(now);
    const id = `fam_${randomBytes(16).toString('base64url')}`;
    this.db
      .prepare(
        `INSERT INTO token_families (id, client_id, did, grant_id, scopes, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, input.clientId, input.did, input.grantId, input.scopes.join(' '), now, input.expiresAt);
    return this.get(id)!;
  }

  get(id: string): Family | undefined {
    const row = this.db.prepare('SELECT * FROM token_families WHERE id = ?').get(id) as FamilyRow | undefined;
    return row ? toFamily(row) : undefined;
  }

  /** The gateway's check: the family exists, is not revoked and its grant has not run out. */
  isLive(id: string): boolean {
    let state = this.cache.get(id);
    if (!state) {
      const f = this.get(id);
      if (!f) return false;
      state = { revoked: f.revokedAt !== null, expiresAt: f.expiresAt };
      this.remember(id, state);
    }
    return !state.revoked && this.now() < state.expiresAt;
  }

  /** A new refresh token of the family (it never outlives the family's grant). */
  issueRefresh(family: Family, scopes: readonly string[]): { token: string; expiresAt: number } {
    const now = this.now();
    const token = REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const expiresAt = Math.min(now + REFRESH_TOKEN_TTL_MS, family.expiresAt);
    this.db
      .prepare(
        `INSERT INTO refresh_tokens (token_hash, family_id, scopes, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)`,
      )
      .run(tokenHash(token), family.id, scopes.join(' '), now, expiresAt);
    return { token, expiresAt };
  }

  /** What a refresh token is now, without using it up. */
  inspect(token: string): RotateResult {
    if (!isRefreshTokenShape(token)) return { kind: 'unknown' };
    const hash = tokenHash(token);
    const row = this.db.prepare('SELECT * FROM refresh_tokens WHERE token_hash = ?').get(hash) as
      RefreshRow | undefined;
    if (!row || !sameHash(row.token_hash, hash)) return { kind: 'unknown' };
    const family = this.get(row.family_id);
    if (!family) return { kind: 'unknown' };
    if (family.revokedAt !== null) return { kind: 'revoked', family };
    if (row.rotated_at !== null) return { kind: 'reused', family };
    const now = this.now();
    if (now >= row.expires_at || now >= family.expiresAt) return { kind: 'expired', family };
    return { kind: 'live', family, scopes: splitScopes(row.scopes), expiresAt: row.expires_at };
  }

  /**
   * Uses a refresh token up (one transaction: two requests cannot both rotate it). Answers what
   * `inspect` does, except that a token already rotated revokes its family (`refresh_reuse`):
   * either the client or an attacker holds a copy, and we cannot tell which.
   */
  rotate(token: string): RotateResult {
    return this.db.transaction((): RotateResult => {
      const found = this.inspect(token);
      if (found.kind === 'reused') {
        this.revoke(found.family.id, 'refresh_reuse');
        return { kind: 'reused', family: this.get(found.family.id)! };
      }
      if (found.kind !== 'live') return found;
      this.db
        .prepare('UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL')
        .run(this.now(), tokenHash(token));
      return found;
    })();
  }

  /** Revokes a family (idempotent: the first reason stays). */
  revoke(id: string, reason: RevokedReason): void {
    const now = this.now();
    this.db
      .prepare(
        'UPDATE token_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL',
      )
      .run(now, reason, id);
    const cached = this.cache.get(id);
    if (cached) cached.revoked = true;
  }

  /** Revokes every family of a person's grant: what revoking the grant does to tokens already issued. */
  revokeGrant(did: string, grantId: string, reason: RevokedReason): number {
    const ids = this.db
      .prepare('SELECT id FROM token_families WHERE grant_id = ? AND did = ? AND revoked_at IS NULL')
      .all(grantId, did) as Array<{ id: string }>;
    for (const { id } of ids) this.revoke(id, reason);
    return ids.length;
  }

  private remember(id: string, state: { revoked: boolean; expiresAt: number }): void {
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(id, state);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const before = now - SWEEP_AFTER_MS;
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM refresh_tokens WHERE expires_at < ?').run(before);
      const gone = this.db
        .prepare(
          `DELETE FROM token_families WHERE expires_at < ?
           AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = token_families.id)
           RETURNING id`,
        )
        .all(before) as Array<{ id: string }>;
      for (const { id } of gone) this.cache.delete(id);
    })();
  }
}
