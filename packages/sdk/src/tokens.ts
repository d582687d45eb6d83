import { isSELFError } from './errors.js';
import type { OAuthClient } from './oauth.js';
import type { StoredSession, TokenStore } from './token-store.js';

/** Refresh this long before the access token expires, so a request never leaves with a dying one. */
export const REFRESH_MARGIN_MS = 30_000;

/**
 * One refresh at a time per token store in this JavaScript realm: refresh tokens rotate, and a
 * rotated one presented again ends the whole session (reuse detection), so two concurrent
 * refreshes with the same token would sign the person out.
 */
const inflight = new WeakMap<TokenStore, Promise<StoredSession>>();

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** Runs `work` under a Web Lock where the platform has them (browsers: across tabs), else directly. */
function withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks === undefined ? work() : locks.request(name, work);
}

function sameSession(a: StoredSession, b: StoredSession): boolean {
  return a.issuer === b.issuer && a.clientId === b.clientId && a.did === b.did && a.grantId === b.grantId;
}

/** Keeps a session's access token fresh: refreshes before expiry and on demand, one at a time. */
export class TokenManager {
  constructor(
    private state: StoredSession,
    private readonly oauth: OAuthClient,
    private readonly store: TokenStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** The session as last seen. */
  get current(): StoredSession {
    return this.state;
  }

  private fresh(s: StoredSession): boolean {
    return s.accessTokenExpiresAt - this.now() > REFRESH_MARGIN_MS;
  }

  /** An access token good for a while, refreshing first when the current one is about to expire. */
  async accessToken(): Promise<string> {
    if (!this.fresh(this.state)) await this.refresh(this.state.accessToken);
    return this.state.accessToken;
  }

  /**
   * Refreshes, unless `staleToken` (the token a refused request carried) was already replaced. Calls
   * made while a refresh is running share it.
   */
  async refresh(staleToken: string): Promise<StoredSession> {
    if (staleToken !== this.state.accessToken) return this.state;
    let running = inflight.get(this.store);
    if (running === undefined) {
      running = this.run().finally(() => inflight.delete(this.store));
      inflight.set(this.store, running);
    }
    const next = await running;
    if (sameSession(next, this.state)) this.state = next;
    return this.state;
  }

  private run(): Promise<StoredSession> {
    return withLock(`self-sdk-refresh:${this.state.issuer}:${this.state.clientId}`, async () => {
      // Another tab, process or session object may have refreshed already: adopt its tokens
      // rather than present a refresh token that has rotated away.
      const stored = await this.store.load();
      if (
        stored !== null &&
        sameSession(stored, this.state) &&
        stored.refreshToken !== this.state.refreshToken
      ) {
        this.state = stored;
        if (this.fresh(stored)) return stored;
      }
      let next: StoredSession;
      try {
        next = await this.oauth.refresh(this.state);
      } catch (err) {
        // The session is over (revoked grant, expired or reused refresh token): forget it.
        if (isSELFError(err, 'UNAUTHENTICATED')) await this.store.clear();
        throw err;
      }
      this.state = next;
      await this.store.save(next);
      return next;
    });
  }
}
