import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { memoryTokenStore, type PendingAuthorization, type SELFSession, type TokenStore } from '@self/sdk';

/**
 * One browser's state, kept server side (the browser holds only a random cookie): the SELF tokens
 * never reach the browser. In memory: restarting the app signs everyone out (a real app would keep
 * each visitor's TokenStore in its database, encrypted).
 */
export interface Visitor {
  id: string;
  /** Sent with every form and checked on every POST. */
  csrf: string;
  /** This visitor's SELF tokens. */
  tokens: TokenStore;
  /** The sign-in in progress: state and PKCE verifier, until the callback. */
  pending: PendingAuthorization | undefined;
  /** The signed-in session, once there is one. */
  session: SELFSession | undefined;
}

const COOKIE = 'notes_sid';
const visitors = new Map<string, Visitor>();

const token = (): string => randomBytes(32).toString('base64url');

function cookieOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE) return value.join('=');
  }
  return undefined;
}

/** The visitor of this request, made (with its cookie) on first sight. */
export function visitorOf(req: IncomingMessage, res: ServerResponse): Visitor {
  const id = cookieOf(req);
  const known = id === undefined ? undefined : visitors.get(id);
  if (known !== undefined) return known;
  const v: Visitor = {
    id: token(),
    csrf: token(),
    tokens: memoryTokenStore(),
    pending: undefined,
    session: undefined,
  };
  visitors.set(v.id, v);
  // SameSite=Lax: the cookie comes along on the redirect back from SELF (a top-level GET).
  res.setHeader('set-cookie', `${COOKIE}=${v.id}; HttpOnly; SameSite=Lax; Path=/`);
  return v;
}

/** Forgets a visitor (after disconnecting). */
export function forget(v: Visitor): void {
  visitors.delete(v.id);
}
