import { join } from 'node:path';
import { SESSION_FILE, ensureHome, readTextIfExists, removeIfExists, writeFileAtomic } from './home.js';

/**
 * `session.json` (0600): the bearer token of the person's current session with a SELF cloud.
 *
 *   {"server":"http://127.0.0.1:8080","did":"did:self:…","token":"self_s_…","expires_at":<ms>}
 *
 * Not encrypted: it is what lets commands run without the passphrase until it expires, like a
 * browser cookie. Losing it costs a sign-in, nothing more.
 */
export interface SessionFile {
  server: string;
  did: string;
  token: string;
  expires_at: number;
}

/** A session this close to its end is renewed first, so it does not expire mid-command. */
export const SESSION_RENEW_MARGIN_MS = 30_000;

export function sessionPath(home: string): string {
  return join(home, SESSION_FILE);
}

/** The stored session, or null when there is none or it is unreadable (a sign-in replaces it). */
export function readSession(home: string): SessionFile | null {
  const text = readTextIfExists(sessionPath(home));
  if (text === null) return null;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (
      typeof o.server === 'string' &&
      typeof o.did === 'string' &&
      typeof o.token === 'string' &&
      typeof o.expires_at === 'number'
    ) {
      return { server: o.server, did: o.did, token: o.token, expires_at: o.expires_at };
    }
  } catch {
    // Damaged: treated as absent.
  }
  return null;
}

export function writeSession(home: string, session: SessionFile): string {
  ensureHome(home);
  const path = sessionPath(home);
  const body = {
    server: session.server,
    did: session.did,
    token: session.token,
    expires_at: session.expires_at,
  };
  writeFileAtomic(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}

export function clearSession(home: string): void {
  removeIfExists(sessionPath(home));
}

/** Whether `session` can be used for `did` at `server` now (and a little longer). */
export function sessionUsable(
  session: SessionFile | null,
  server: string,
  did: string,
  now = Date.now(),
): session is SessionFile {
  return (
    session !== null &&
    session.server === server &&
    session.did === did &&
    session.expires_at > now + SESSION_RENEW_MARGIN_MS
  );
}
