import { resolveEnvironment, type SELFEnvironment } from './environment.js';
import { SELFError, codeFor } from './errors.js';
import { platformFetch, type FetchLike } from './http.js';
import { OAuthClient } from './oauth.js';
import { codeChallengeS256, createCodeVerifier, createState } from './pkce.js';
import { SELFSession } from './session.js';
import { memoryTokenStore, type StorageLike, type TokenStore } from './token-store.js';

/** What {@link SELFClient}'s constructor takes. */
export interface SELFClientOptions {
  /** The app's id (`app_…`), which is its OAuth client id. */
  appId: string;
  /** Which SELF cloud: `'testnet'`, `'production'` or `{baseUrl}`. */
  environment: SELFEnvironment;
  /** The redirect URI used when a call names none; must be registered for the app exactly. */
  redirectUri?: string;
  /**
   * The client secret of a confidential client (`self_cs_…`). Server side only: a browser has no
   * way to keep a secret, so the constructor refuses one where `document` exists.
   */
  clientSecret?: string;
  /** Where sessions are kept (default: in memory). Browsers: {@link localStorageTokenStore}. */
  tokenStore?: TokenStore;
  /** The fetch to use (default: the platform's). */
  fetch?: FetchLike;
}

/** What {@link SELFClient.authorizationUrl} takes. */
export interface AuthorizationRequest {
  /** The scopes to ask for: `profile:read`, `storage:read`, `storage:write`, `storage:<collection>:read|write`, `ai:chat`, `ai:memory`, `chain:read`. */
  permissions: readonly string[];
  /** Where the person's browser comes back; default: the client's `redirectUri`. */
  redirectUri?: string;
  /** The person's DID, when the app knows who is signing in. */
  loginHint?: string;
  /** Your own `state` (default: 16 random bytes). It must be unguessable and checked on return. */
  state?: string;
}

/**
 * What the redirect must be checked against: keep it server side (or in `sessionStorage`) between
 * sending the person away and their return.
 */
export interface PendingAuthorization {
  /** The `state` sent. */
  state: string;
  /** The PKCE code verifier; never sent until the code exchange. */
  codeVerifier: string;
  /** The redirect URI sent (the code exchange must name the same). */
  redirectUri: string;
}

/** An authorization URL and what to keep to finish the sign-in. */
export interface AuthorizationUrl extends PendingAuthorization {
  /** Send the person's browser here. */
  url: string;
}

/** What {@link SELFClient.exchangeCode} takes. */
export interface CodeExchange {
  /** The `code` from the redirect. */
  code: string;
  /** The `state` from the redirect (checked against `expectedState` when both are given). */
  state?: string;
  /** The `state` you sent. */
  expectedState?: string;
  /** The PKCE verifier made with the authorization URL. */
  codeVerifier: string;
  /** The redirect URI the authorization URL named. */
  redirectUri: string;
  /** The `iss` from the redirect; when given it must be the cloud's issuer (RFC 9207). */
  iss?: string;
  /** Where to keep this session (default: the client's store). On a server, one store per person. */
  tokenStore?: TokenStore;
}

/** What {@link SELFClient.handleRedirect} takes besides the URL. */
export interface RedirectOptions {
  /** What the authorization URL returned; default: what `authenticate()` left in `sessionStorage`. */
  pending?: PendingAuthorization;
  /** Where to keep this session (default: the client's store). */
  tokenStore?: TokenStore;
}

interface BrowserGlobals {
  location?: { href: string; assign(url: string): void };
  sessionStorage?: StorageLike;
  history?: { replaceState(data: unknown, unused: string, url?: string): void };
  document?: unknown;
}

const browser = (): BrowserGlobals => globalThis as BrowserGlobals;

/**
 * An app's entry point to SELF: signs people in with OAuth 2.1 (authorization code + PKCE S256)
 * and hands back a {@link SELFSession} for each.
 *
 * Browser (public client): `await client.authenticate({permissions, redirectUri})` on the page that
 * starts sign-in and on the redirect page (it finishes the sign-in there). Server: `authorizationUrl`
 * → redirect the person → on your callback, `handleRedirect(callbackUrl, {pending})`.
 */
export class SELFClient {
  /** The app's id (OAuth client id). */
  readonly appId: string;
  /** The cloud's public URL, which is its OAuth issuer. */
  readonly issuer: string;
  /** The default token store. */
  readonly tokenStore: TokenStore;
  private readonly redirectUri: string | undefined;
  private readonly oauth: OAuthClient;

  /** Makes a client; nothing is fetched until the first call. */
  constructor(opts: SELFClientOptions) {
    if (typeof opts.appId !== 'string' || opts.appId === '') {
      throw new SELFError('INVALID_REQUEST', 'SELFClient needs the appId of a registered app');
    }
    if (opts.clientSecret !== undefined && browser().document !== undefined) {
      throw new SELFError(
        'INVALID_REQUEST',
        'a client secret in a browser is public: use a public client (PKCE only) in the browser, and the secret only on your server',
      );
    }
    this.appId = opts.appId;
    this.issuer = resolveEnvironment(opts.environment);
    this.redirectUri = opts.redirectUri;
    this.tokenStore = opts.tokenStore ?? memoryTokenStore();
    this.oauth = new OAuthClient(this.issuer, this.appId, opts.clientSecret, opts.fetch ?? platformFetch);
  }

  /** The URL to send the person to, with a fresh PKCE verifier and state to keep until they return. */
  async authorizationUrl(req: AuthorizationRequest): Promise<AuthorizationUrl> {
    const redirectUri = req.redirectUri ?? this.redirectUri;
    if (redirectUri === undefined) throw new SELFError('INVALID_REQUEST', 'a redirectUri is needed');
    if (req.permissions.length === 0)
      throw new SELFError('INVALID_REQUEST', 'ask for at least one permission');
    const meta = await this.oauth.metadata();
    const codeVerifier = createCodeVerifier();
    const state = req.state ?? createState();
    const url = new URL(meta.authorizationEndpoint);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: this.appId,
      redirect_uri: redirectUri,
      scope: [...new Set(req.permissions)].join(' '),
      state,
      code_challenge: await codeChallengeS256(codeVerifier),
      code_challenge_method: 'S256',
      ...(req.loginHint !== undefined ? { login_hint: req.loginHint } : {}),
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return { url: url.href, state, codeVerifier, redirectUri };
  }

  /**
   * In a browser: finishes the sign-in when this page is the redirect coming back (the URL carries
   * `code` or `error` and a `state` this tab sent), else returns the stored session when there is
   * one for `permissions`, else sends the browser to SELF to approve the app (the returned promise
   * then never settles: the page is going away).
   */
  async authenticate(req: AuthorizationRequest): Promise<SELFSession> {
    const g = browser();
    if (g.location === undefined || g.sessionStorage === undefined) {
      throw new SELFError(
        'INVALID_REQUEST',
        'authenticate() runs in a browser; on a server use authorizationUrl() and handleRedirect(url, {pending})',
      );
    }
    const here = new URL(g.location.href);
    const state = here.searchParams.get('state');
    if (state !== null && g.sessionStorage.getItem(this.pendingKey(state)) !== null) {
      return this.handleRedirect();
    }
    const existing = await this.restoreSession();
    if (existing !== null && req.permissions.every((p) => existing.hasScope(p))) return existing;
    const a = await this.authorizationUrl(req);
    const pending: PendingAuthorization = {
      state: a.state,
      codeVerifier: a.codeVerifier,
      redirectUri: a.redirectUri,
    };
    g.sessionStorage.setItem(this.pendingKey(a.state), JSON.stringify(pending));
    g.location.assign(a.url);
    return new Promise<never>(() => undefined);
  }

  private pendingKey(state: string): string {
    return `self-sdk:pending:${this.appId}:${state}`;
  }

  private takePending(state: string): PendingAuthorization {
    const ss = browser().sessionStorage;
    const text = ss?.getItem(this.pendingKey(state)) ?? null;
    if (ss === undefined || text === null) {
      throw new SELFError(
        'INVALID_REQUEST',
        'this redirect answers no sign-in started here (unknown state)',
        {
          reason: 'state_mismatch',
        },
      );
    }
    ss.removeItem(this.pendingKey(state)); // single use, like the code
    return JSON.parse(text) as PendingAuthorization;
  }

  /**
   * Finishes a sign-in from the redirect URL (default: the browser's current URL): checks `state`
   * and `iss` (RFC 9207), turns an `error` into a SELFError (`access_denied` → PERMISSION_DENIED),
   * exchanges the code and saves the session. In a browser the code is then removed from the
   * address bar.
   */
  async handleRedirect(url?: string, opts: RedirectOptions = {}): Promise<SELFSession> {
    const g = browser();
    const href = url ?? g.location?.href;
    if (href === undefined) throw new SELFError('INVALID_REQUEST', 'handleRedirect needs the redirect URL');
    const u = new URL(href);
    const p = u.searchParams;
    const state = p.get('state');
    if (state === null)
      throw new SELFError('INVALID_REQUEST', 'the redirect carries no state', { reason: 'state_mismatch' });
    const pending = opts.pending ?? this.takePending(state);
    if (state !== pending.state) {
      throw new SELFError('INVALID_REQUEST', 'the redirect answers another sign-in (state mismatch)', {
        reason: 'state_mismatch',
      });
    }
    const meta = await this.oauth.metadata();
    const iss = p.get('iss');
    // RFC 9207: checked before anything else in the response, the error included (mix-up defence).
    if ((iss === null && meta.issParameterSupported) || (iss !== null && iss !== meta.issuer)) {
      throw new SELFError(
        'INVALID_REQUEST',
        `the redirect comes from ${iss ?? 'an unnamed issuer'}, not ${meta.issuer}`,
        {
          reason: 'issuer_mismatch',
        },
      );
    }
    const error = p.get('error');
    if (error !== null) {
      throw new SELFError(codeFor(400, error), p.get('error_description') ?? `sign-in failed: ${error}`, {
        reason: error,
      });
    }
    const code = p.get('code');
    if (code === null) throw new SELFError('INVALID_REQUEST', 'the redirect carries no code');
    const session = await this.exchangeCode({
      code,
      codeVerifier: pending.codeVerifier,
      redirectUri: pending.redirectUri,
      ...(opts.tokenStore !== undefined ? { tokenStore: opts.tokenStore } : {}),
    });
    if (url === undefined && g.history !== undefined) {
      for (const k of ['code', 'state', 'iss']) u.searchParams.delete(k);
      g.history.replaceState(null, '', u.href);
    }
    return session;
  }

  /**
   * Exchanges an authorization code for a session (server side, or after your own redirect
   * handling) and saves it in the token store.
   */
  async exchangeCode(x: CodeExchange): Promise<SELFSession> {
    if (x.expectedState !== undefined && x.state !== x.expectedState) {
      throw new SELFError('INVALID_REQUEST', 'the redirect answers another sign-in (state mismatch)', {
        reason: 'state_mismatch',
      });
    }
    if (x.iss !== undefined && x.iss !== (await this.oauth.metadata()).issuer) {
      throw new SELFError('INVALID_REQUEST', `the code comes from ${x.iss}, not ${this.issuer}`, {
        reason: 'issuer_mismatch',
      });
    }
    const stored = await this.oauth.exchangeCode(x.code, x.codeVerifier, x.redirectUri);
    const store = x.tokenStore ?? this.tokenStore;
    await store.save(stored);
    return new SELFSession(stored, this.oauth, store);
  }

  /** The session kept in the token store (default: the client's), or null when there is none for this app. */
  async restoreSession(tokenStore: TokenStore = this.tokenStore): Promise<SELFSession | null> {
    const stored = await tokenStore.load();
    if (stored === null || stored.clientId !== this.appId || stored.issuer !== this.issuer) return null;
    return new SELFSession(stored, this.oauth, tokenStore);
  }
}
