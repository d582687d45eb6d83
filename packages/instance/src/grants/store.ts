import type Database from 'better-sqlite3-multiple-ciphers';
import { consentLeaf, revocationLeaf, type ConsentFields } from '@self/crypto';
import { GrantCommitments } from './commitments.js';
import { ensureGrantSchema } from './schema.js';

/** Who revoked a grant: the person, or the app giving it up. */
export type RevokedBy = 'person' | 'app';

/** A stored grant: the signed consent's fields and what happened to it since. Times in ms. */
export interface GrantRecord {
  id: string;
  appId: string;
  /** Normalised: sorted, deduplicated (consentMessage's order). */
  scopes: string[];
  /** The service the person approved through (signInOrigin). */
  origin: string;
  issuedAt: number;
  expiresAt: number;
  /** The person's account public key and its signature over the consent statement. */
  publicKey: Uint8Array;
  signature: Uint8Array;
  createdAt: number;
  revokedAt: number | null;
  revokedBy: RevokedBy | null;
  lastUsedAt: number | null;
  uses: number;
}

export type GrantState = 'active' | 'revoked' | 'expired';

export function grantState(g: GrantRecord, now: number): GrantState {
  if (g.revokedAt !== null) return 'revoked';
  return g.expiresAt <= now ? 'expired' : 'active';
}

/** The consent statement a stored grant was made from (to re-verify it). */
export function consentFieldsOf(did: string, g: GrantRecord): ConsentFields {
  return {
    origin: g.origin,
    did,
    grant: g.id,
    app: g.appId,
    scopes: g.scopes,
    issuedAt: g.issuedAt,
    expiresAt: g.expiresAt,
  };
}

interface Row {
  id: string;
  app_id: string;
  scopes: string;
  origin: string;
  issued_at: number;
  expires_at: number;
  public_key: Buffer;
  signature: Buffer;
  created_at: number;
  revoked_at: number | null;
  revoked_by: RevokedBy | null;
  last_used_at: number | null;
  uses: number;
}

const COLS =
  'id, app_id, scopes, origin, issued_at, expires_at, public_key, signature, created_at, revoked_at, revoked_by, last_used_at, uses';

/** Uses are written at most this often (and when the instance closes), not once per request. */
const USE_FLUSH_MS = 10_000;

/**
 * The grants an instance holds (schema.ts). It stores what the caller already verified and never
 * checks access itself: Instance's grant actions (grants/actions.ts) audit and check, the app
 * token check (tokens.ts) reads grants on every app request. Revocation is a write of revoked_at,
 * read again by the very next request: no cache stands between a revocation and its effect.
 *
 * Uses (last_used_at, uses) are counted in memory and written in one small transaction at most
 * every USE_FLUSH_MS, so an app's requests cost no write each; reads add what is still pending.
 */
export class GrantStore {
  readonly commitments: GrantCommitments;
  private readonly stmts;
  private pending = new Map<string, { uses: number; last: number }>();
  private lastFlush: number;

  constructor(
    private readonly db: Database.Database,
    private readonly did: string,
    private readonly now: () => number,
  ) {
    ensureGrantSchema(db);
    this.commitments = new GrantCommitments(db);
    this.lastFlush = now();
    this.stmts = {
      get: db.prepare<[string], Row>(`SELECT ${COLS} FROM grants WHERE id = ?`),
      list: db.prepare<[], Row>(`SELECT ${COLS} FROM grants ORDER BY created_at DESC, rowid DESC`),
      all: db.prepare<[], Row>(`SELECT ${COLS} FROM grants ORDER BY rowid`),
      insert: db.prepare(
        `INSERT INTO grants (id, app_id, scopes, origin, issued_at, expires_at, public_key, signature, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      revoke: db.prepare<[number, RevokedBy, string]>(
        'UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL',
      ),
      use: db.prepare<[number, number, string]>(
        'UPDATE grants SET uses = uses + ?, last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?',
      ),
    };
  }

  get(id: string): GrantRecord | null {
    const row = this.stmts.get.get(id);
    return row === undefined ? null : this.withPending(row);
  }

  /** Every grant, newest first. */
  list(): GrantRecord[] {
    return this.stmts.list.all().map((r) => this.withPending(r));
  }

  /** Every grant in the order they were stored, one row at a time (the export). */
  *iterate(): Generator<GrantRecord> {
    for (const row of this.stmts.all.iterate()) yield this.withPending(row);
  }

  /**
   * Stores a verified grant and its consent leaf; the caller's transaction makes both one write
   * with the audit entry. `scopes` must already be normalised.
   */
  insert(g: Omit<GrantRecord, 'createdAt' | 'revokedAt' | 'revokedBy' | 'lastUsedAt' | 'uses'>): GrantRecord {
    const createdAt = this.now();
    this.stmts.insert.run(
      g.id,
      g.appId,
      g.scopes.join(' '),
      g.origin,
      g.issuedAt,
      g.expiresAt,
      g.publicKey,
      g.signature,
      createdAt,
    );
    const record: GrantRecord = {
      ...g,
      createdAt,
      revokedAt: null,
      revokedBy: null,
      lastUsedAt: null,
      uses: 0,
    };
    this.commitments.add('consent', consentLeaf(consentFieldsOf(this.did, record)));
    return record;
  }

  /**
   * Revokes the grant (and records its revocation leaf) unless it already is; returns the grant
   * as it is now, or null when there is none. Revoking twice keeps the first time and revoker.
   */
  revoke(id: string, by: RevokedBy): GrantRecord | null {
    const at = this.now();
    if (this.stmts.revoke.run(at, by, id).changes === 1) {
      this.commitments.add('revocation', revocationLeaf({ grant: id, revokedAt: at }));
    }
    return this.get(id);
  }

  /** Counts one use of the grant by its app; written later in a batch (see the class comment). */
  noteUse(id: string): void {
    const now = this.now();
    const p = this.pending.get(id);
    if (p === undefined) this.pending.set(id, { uses: 1, last: now });
    else {
      p.uses++;
      p.last = Math.max(p.last, now);
    }
    if (now - this.lastFlush >= USE_FLUSH_MS) this.flushUses();
  }

  /** Writes the pending uses; the instance calls it when it closes. */
  flushUses(): void {
    this.lastFlush = this.now();
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    this.db.transaction(() => {
      for (const [id, p] of pending) this.stmts.use.run(p.uses, p.last, id);
    })();
  }

  private withPending(row: Row): GrantRecord {
    const p = this.pending.get(row.id);
    const lastUsed = p === undefined ? row.last_used_at : Math.max(row.last_used_at ?? 0, p.last);
    return {
      id: row.id,
      appId: row.app_id,
      scopes: row.scopes.split(' '),
      origin: row.origin,
      issuedAt: row.issued_at,
      expiresAt: row.expires_at,
      publicKey: new Uint8Array(row.public_key),
      signature: new Uint8Array(row.signature),
      createdAt: row.created_at,
      revokedAt: row.revoked_at,
      revokedBy: row.revoked_by,
      lastUsedAt: lastUsed,
      uses: row.uses + (p?.uses ?? 0),
    };
  }
}
