import { SELFError } from './errors.js';
import { isJsonObject, numberField, stringField } from './json.js';

/**
 * A signed-in session as a token store keeps it. It holds a refresh token: keep it where only this
 * app can read it (on a server: per person, server side; never in a URL or a log).
 */
export interface StoredSession {
  /** The format of this record (1). */
  version: 1;
  /** The cloud that issued the tokens (its public URL). */
  issuer: string;
  /** The app (OAuth client id). */
  clientId: string;
  /** The person who approved the app. */
  did: string;
  /** The person's instance endpoint (`<cloud>/v1/i/<did>`): where the access token is sent. */
  instanceUrl: string;
  /** The grant the person signed (`gr_…`). */
  grantId: string;
  /** The scopes the tokens carry. */
  scopes: string[];
  /** The current access token (a JWT for the instance). */
  accessToken: string;
  /** When the access token expires, in milliseconds since the epoch. */
  accessTokenExpiresAt: number;
  /** The current refresh token; it rotates on every refresh. */
  refreshToken: string;
}

/**
 * Where a session's tokens live between calls and page loads. The SDK saves after sign-in and after
 * every refresh (refresh tokens rotate: an old one presented again ends the whole session), and
 * clears on revoke or when the session is over. Methods may be synchronous or return promises.
 */
export interface TokenStore {
  /** The stored session, or null. */
  load(): StoredSession | null | Promise<StoredSession | null>;
  /** Replaces the stored session. */
  save(session: StoredSession): void | Promise<void>;
  /** Forgets the stored session. */
  clear(): void | Promise<void>;
}

/** The part of the Web Storage API the SDK uses (`localStorage`, `sessionStorage`, or a stand-in). */
export interface StorageLike {
  /** The item's value, or null. */
  getItem(key: string): string | null;
  /** Stores an item. */
  setItem(key: string, value: string): void;
  /** Removes an item. */
  removeItem(key: string): void;
}

/** A store in memory: the default; the session lasts as long as this object. */
export function memoryTokenStore(initial: StoredSession | null = null): TokenStore {
  let current = initial;
  return {
    load: () => current,
    save: (s) => {
      current = s;
    },
    clear: () => {
      current = null;
    },
  };
}

/** Checks that a parsed value is a {@link StoredSession}; anything else reads as no session. */
export function parseStoredSession(v: unknown): StoredSession | null {
  if (!isJsonObject(v) || v['version'] !== 1) return null;
  const scopes = v['scopes'];
  const s = {
    issuer: stringField(v, 'issuer'),
    clientId: stringField(v, 'clientId'),
    did: stringField(v, 'did'),
    instanceUrl: stringField(v, 'instanceUrl'),
    grantId: stringField(v, 'grantId'),
    accessToken: stringField(v, 'accessToken'),
    accessTokenExpiresAt: numberField(v, 'accessTokenExpiresAt'),
    refreshToken: stringField(v, 'refreshToken'),
  };
  for (const value of Object.values(s)) if (value === undefined) return null;
  if (!Array.isArray(scopes) || !scopes.every((x) => typeof x === 'string')) return null;
  return { version: 1, ...(s as Omit<StoredSession, 'version' | 'scopes'>), scopes: scopes as string[] };
}

/** Options of {@link localStorageTokenStore}. */
export interface WebStorageTokenStoreOptions {
  /** The item's key (default `self-sdk:session`); use one per app when apps share an origin. */
  key?: string;
  /** The storage to use (default `globalThis.localStorage`). */
  storage?: StorageLike;
}

/**
 * A browser store in `localStorage`: the session survives reloads and is shared by the origin's
 * tabs (the SDK serializes refreshes across tabs with the Web Locks API where the browser has it).
 * Anything script on the origin runs can read it, like any browser storage: keep the page free of
 * untrusted scripts (a strict Content-Security-Policy).
 */
export function localStorageTokenStore(opts: WebStorageTokenStoreOptions = {}): TokenStore {
  const key = opts.key ?? 'self-sdk:session';
  const storage = (): StorageLike => {
    const s = opts.storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (s === undefined)
      throw new SELFError('INVALID_REQUEST', 'localStorageTokenStore: this environment has no localStorage');
    return s;
  };
  return {
    load: () => {
      const text = storage().getItem(key);
      if (text === null) return null;
      try {
        return parseStoredSession(JSON.parse(text));
      } catch {
        return null;
      }
    },
    save: (s) => storage().setItem(key, JSON.stringify(s)),
    clear: () => storage().removeItem(key),
  };
}
