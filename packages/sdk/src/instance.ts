import { errorFromResponse } from './errors.js';
import { send } from './http.js';
import type { OAuthClient } from './oauth.js';
import type { TokenManager } from './tokens.js';

/** One call to the person's instance: a path under the instance URL and fetch's init. */
export interface InstanceRequest {
  /** The HTTP method. */
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** The path under `<cloud>/v1/i/<did>`, starting with `/`, query included. */
  path: string;
  /** Request headers (the bearer token is added). */
  headers?: Record<string, string>;
  /** A string body (replayable, so a call refused for a stale token can be sent again). */
  body?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/**
 * Sends the app's calls to the person's instance with a fresh access token. A 401 (an access token
 * that expired early, was revoked or came from before a key rotation) refreshes once and retries
 * once; a second 401, or a failed refresh, is the caller's UNAUTHENTICATED.
 */
export class InstanceClient {
  constructor(
    readonly tokens: TokenManager,
    readonly oauth: OAuthClient,
  ) {}

  /** The response when it is 2xx, or 404 when `allow404`; otherwise its SELFError. */
  async request(req: InstanceRequest, opts: { allow404?: boolean } = {}): Promise<Response> {
    let token = await this.tokens.accessToken();
    let res = await this.send(req, token);
    if (res.status === 401) {
      await res.body?.cancel();
      await this.tokens.refresh(token);
      token = this.tokens.current.accessToken;
      res = await this.send(req, token);
    }
    if (res.ok || (res.status === 404 && opts.allow404 === true)) return res;
    throw await errorFromResponse(res);
  }

  private send(req: InstanceRequest, token: string): Promise<Response> {
    const url = `${this.tokens.current.instanceUrl}${req.path}`;
    return send(this.oauth.fetchFn, url, {
      method: req.method,
      headers: { ...req.headers, authorization: `Bearer ${token}` },
      ...(req.body !== undefined ? { body: req.body } : {}),
      ...(req.signal !== undefined ? { signal: req.signal } : {}),
    });
  }
}
