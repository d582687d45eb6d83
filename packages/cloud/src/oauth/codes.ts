import { randomBytes } from 'node:crypto';
import { sameHash, tokenHash } from '../auth/tokens.js';
import type { ControlDatabase } from '../db/database.js';

/** Authorization codes: `self_ac_` + base64url of 32 random bytes. */
export const CODE_PREFIX = 'self_ac_';
const CODE_RE = /^self_ac_[A-Za-z0-9_-]{43}$/;
/** A code must be redeemed within 60 seconds. */
export const CODE_TTL_MS = 60_000;
/** Used and expired codes are kept this long, so a late second use still revokes the first one's tokens. */
const KEEP_MS = 24 * 3600 * 1000;

export interface CodeRecord {
  requestId: string;
  clientId: string;
  did: string;
  grantId: string;
  scopes: string[];
  redirectUri: string;
  codeChallenge: string;
  /** When the grant the person signed ends: no token of this code outlives it. */
  grantExpiresAt: number;
  familyId: string | null;
  expiresAt: number;
}

interface CodeRow {
  code_hash: Buffer;
  request_id: string;
  client_id: string;
  did: string;
  grant_id: string;
  scopes: string;
  redirect_uri: string;
  code_challenge: string;
  grant_expires_at: number;
  family_id: string | null;
  expires_at: number;
  used_at: number | null;
}

export type Redemption =
  | { kind: 'unknown' }
  /** A second use: the caller revokes the family the first use made. */
  | { kind: 'reused'; code: CodeRecord }
  /** First use (now spent, whatever the caller decides next). */
  | { kind: 'fresh'; code: CodeRecord; expired: boolean };

const toRecord = (r: CodeRow): CodeRecord => ({
  requestId: r.request_id,
  clientId: r.client_id,
  did: r.did,
  grantId: r.grant_id,
  scopes: r.scopes.split(' '),
  redirectUri: r.redirect_uri,
  codeChallenge: r.code_challenge,
  grantExpiresAt: r.grant_expires_at,
  familyId: r.family_id,
  expiresAt: r.expires_at,
});

/**
 * Single-use authorization codes, stored as SHA-256. A code is spent by its first redemption
 * attempt, even one that then fails (a wrong verifier, another redirect URI): a stolen code gets
 * one guess, and the legitimate client's later use shows up as a reuse.
 */
export class CodeStore {
  constructor(
    private readonly db: ControlDatabase,
    private readonly now: () => number,
  ) {}

  issue(input: Omit<CodeRecord, 'familyId' | 'expiresAt'>): string {
    const now = this.now();
    this.db.prepare('DELETE FROM oauth_codes WHERE expires_at < ?').run(now - KEEP_MS);
    const code = CODE_PREFIX + randomBytes(32).toString('base64url');
    this.db
      .prepare(
        `INSERT INTO oauth_codes (code_hash, request_id, client_id, did, grant_id, scopes, redirect_uri,
           code_challenge, grant_expires_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        tokenHash(code),
        input.requestId,
        input.clientId,
        input.did,
        input.grantId,
        input.scopes.join(' '),
        input.redirectUri,
        input.codeChallenge,
        input.grantExpiresAt,
        now + CODE_TTL_MS,
      );
    return code;
  }

  redeem(code: string): Redemption {
    if (!CODE_RE.test(code)) return { kind: 'unknown' };
    const hash = tokenHash(code);
    return this.db.transaction((): Redemption => {
      const row = this.db.prepare('SELECT * FROM oauth_codes WHERE code_hash = ?').get(hash) as
        CodeRow | undefined;
      if (!row || !sameHash(row.code_hash, hash)) return { kind: 'unknown' };
      if (row.used_at !== null) return { kind: 'reused', code: toRecord(row) };
      const now = this.now();
      this.db.prepare('UPDATE oauth_codes SET used_at = ? WHERE code_hash = ?').run(now, hash);
      return { kind: 'fresh', code: toRecord(row), expired: now >= row.expires_at };
    })();
  }

  /** Records the family the code's redemption made, so a second use can revoke it. */
  attachFamily(code: string, familyId: string): void {
    this.db
      .prepare('UPDATE oauth_codes SET family_id = ? WHERE code_hash = ?')
      .run(familyId, tokenHash(code));
  }
}
