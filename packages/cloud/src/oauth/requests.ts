import { randomBytes, randomInt } from 'node:crypto';
import { newGrantId } from '@self/crypto';
import { sameHash, tokenHash } from '../auth/tokens.js';
import type { ControlDatabase } from '../db/database.js';

/** A person has 10 minutes to decide. */
export const REQUEST_TTL_MS = 10 * 60 * 1000;
/** Decided and expired requests are kept a day, so a late look answers "expired", not "unknown". */
const KEEP_MS = 24 * 3600 * 1000;
/** RFC 8628 §6.1's user-code alphabet: no vowels (no words), no look-alike digits. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_RE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-?[BCDFGHJKLMNPQRSTVWXZ]{4}$/;
const REQUEST_ID_RE = /^req_[A-Za-z0-9_-]{22}$/;

export type RequestStatus = 'pending' | 'approved' | 'denied';

export interface AuthRequest {
  id: string;
  userCode: string;
  clientId: string;
  redirectUri: string;
  /** Sorted, deduplicated. */
  scopes: string[];
  state: string | null;
  codeChallenge: string;
  did: string | null;
  grantId: string;
  status: RequestStatus;
  redirectTo: string | null;
  createdAt: number;
  expiresAt: number;
}

interface RequestRow {
  id: string;
  user_code: string;
  poll_hash: Buffer;
  client_id: string;
  redirect_uri: string;
  scopes: string;
  state: string | null;
  code_challenge: string;
  did: string | null;
  grant_id: string;
  status: RequestStatus;
  redirect_to: string | null;
  created_at: number;
  expires_at: number;
}

const toRequest = (r: RequestRow): AuthRequest => ({
  id: r.id,
  userCode: r.user_code,
  clientId: r.client_id,
  redirectUri: r.redirect_uri,
  scopes: r.scopes.split(' '),
  state: r.state,
  codeChallenge: r.code_challenge,
  did: r.did,
  grantId: r.grant_id,
  status: r.status,
  redirectTo: r.redirect_to,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

function newUserCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * Pending authorization requests: what an app asked for, waiting for the person's decision. The
 * person finds one by its id or by the short user code the authorization page shows; the page
 * learns the outcome with a poll secret only it holds (stored as SHA-256).
 */
export class RequestStore {
  constructor(
    private readonly db: ControlDatabase,
    private readonly now: () => number,
  ) {}

  create(input: {
    clientId: string;
    redirectUri: string;
    scopes: readonly string[];
    state: string | null;
    codeChallenge: string;
    did: string | null;
  }): { request: AuthRequest; poll: string } {
    const now = this.now();
    this.db.prepare('DELETE FROM oauth_requests WHERE expires_at < ?').run(now - KEEP_MS);
    const poll = randomBytes(32).toString('base64url');
    const id = `req_${randomBytes(16).toString('base64url')}`;
    const insert = this.db.prepare(
      `INSERT INTO oauth_requests (id, user_code, poll_hash, client_id, redirect_uri, scopes, state,
         code_challenge, did, grant_id, status, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
    );
    // 20^8 codes: a collision with a live one is rare, and then another is drawn.
    for (let attempt = 0; ; attempt++) {
      const userCode = newUserCode();
      try {
        insert.run(
          id,
          userCode,
          tokenHash(poll),
          input.clientId,
          input.redirectUri,
          input.scopes.join(' '),
          input.state,
          input.codeChallenge,
          input.did,
          newGrantId(),
          now,
          now + REQUEST_TTL_MS,
        );
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt >= 5 || code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
      }
    }
    return { request: this.byId(id)!, poll };
  }

  byId(id: string): AuthRequest | undefined {
    if (!REQUEST_ID_RE.test(id)) return undefined;
    const row = this.db.prepare('SELECT * FROM oauth_requests WHERE id = ?').get(id) as
      RequestRow | undefined;
    return row ? toRequest(row) : undefined;
  }

  /** By id (`req_…`) or user code (any case, with or without its dash). */
  find(ref: string): AuthRequest | undefined {
    if (ref.startsWith('req_')) return this.byId(ref);
    const upper = ref.trim().toUpperCase();
    if (!USER_CODE_RE.test(upper)) return undefined;
    const code = upper.includes('-') ? upper : `${upper.slice(0, 4)}-${upper.slice(4)}`;
    const row = this.db.prepare('SELECT * FROM oauth_requests WHERE user_code = ?').get(code) as
      RequestRow | undefined;
    return row ? toRequest(row) : undefined;
  }

  /** The request, if `poll` is its poll secret. */
  polled(id: string, poll: string): AuthRequest | undefined {
    if (!REQUEST_ID_RE.test(id)) return undefined;
    const row = this.db.prepare('SELECT * FROM oauth_requests WHERE id = ?').get(id) as
      RequestRow | undefined;
    if (!row || !sameHash(row.poll_hash, tokenHash(poll))) return undefined;
    return toRequest(row);
  }

  /** Pending, unexpired requests bound to `did`, newest first. */
  pendingFor(did: string): AuthRequest[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM oauth_requests WHERE did = ? AND status = 'pending' AND expires_at > ?
         ORDER BY created_at DESC LIMIT 100`,
      )
      .all(did, this.now()) as RequestRow[];
    return rows.map(toRequest);
  }

  /** Binds an unbound request to `did`; answers the request as it now is. */
  claim(id: string, did: string): AuthRequest {
    this.db.prepare('UPDATE oauth_requests SET did = ? WHERE id = ? AND did IS NULL').run(did, id);
    return this.byId(id)!;
  }

  /** Records the decision once: false when the request was no longer pending. */
  decide(id: string, status: 'approved' | 'denied', redirectTo: string): boolean {
    const res = this.db
      .prepare(`UPDATE oauth_requests SET status = ?, redirect_to = ? WHERE id = ? AND status = 'pending'`)
      .run(status, redirectTo, id);
    return res.changes === 1;
  }
}
