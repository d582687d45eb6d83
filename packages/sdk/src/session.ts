import { SELFAI } from './ai.js';
import { SELFError, isSELFError } from './errors.js';
import { readJson } from './http.js';
import { InstanceClient } from './instance.js';
import { isJsonObject, stringField, type JsonObject } from './json.js';
import type { OAuthClient } from './oauth.js';
import { SELFStorage } from './storage.js';
import type { StoredSession, TokenStore } from './token-store.js';
import { TokenManager } from './tokens.js';

/** The person's profile as the app may see it (`profile:read`). */
export interface SELFProfile {
  /** The person's DID. */
  did: string;
  /** Their name, when they set one. */
  name?: string;
  /** Every field the instance answered (snake_case, as sent). */
  raw: JsonObject;
}

/** The grant behind a session, as the person's instance holds it. */
export interface SELFGrant {
  /** The grant id (`gr_…`). */
  id: string;
  /** The app. */
  appId: string;
  /** The scopes the person approved. */
  scopes: string[];
  /** `active`, `revoked` or `expired`. */
  state: string;
  /** When it expires, milliseconds since the epoch. */
  expiresAt: number | undefined;
  /** Every field the instance answered (snake_case, as sent). */
  raw: JsonObject;
}

/**
 * A person signed in to the app: what the app may do in their instance, with the scopes they
 * approved. Tokens refresh by themselves (before expiry, and once on a 401) and every new one is
 * saved in the token store.
 */
export class SELFSession {
  /** The person's private AI (`ai:chat`). */
  readonly ai: SELFAI;
  /** The app's storage in the person's instance (`storage:read`, `storage:write`, `storage:<collection>:…`). */
  readonly storage: SELFStorage;
  private readonly tokens: TokenManager;
  private readonly conn: InstanceClient;

  /** @internal Made by {@link SELFClient}: `handleRedirect`, `exchangeCode`, `restoreSession`. */
  constructor(
    initial: StoredSession,
    private readonly oauth: OAuthClient,
    private readonly store: TokenStore,
  ) {
    this.tokens = new TokenManager(initial, oauth, store);
    this.conn = new InstanceClient(this.tokens, oauth);
    this.ai = new SELFAI(this.conn);
    this.storage = new SELFStorage(this.conn);
  }

  /** The person's DID (`did:self:self1…`). */
  get did(): string {
    return this.tokens.current.did;
  }

  /** The scopes the session's tokens carry. */
  get scopes(): readonly string[] {
    return this.tokens.current.scopes;
  }

  /** The person's instance endpoint (`<cloud>/v1/i/<did>`). */
  get instanceUrl(): string {
    return this.tokens.current.instanceUrl;
  }

  /** The id of the grant the person signed for this app. */
  get grantId(): string {
    return this.tokens.current.grantId;
  }

  /** True when the session's scopes include `scope`. */
  hasScope(scope: string): boolean {
    return this.tokens.current.scopes.includes(scope);
  }

  /**
   * A current access token and where it is good, for calling the instance with another client
   * (the official `openai` package: `baseURL: instanceUrl`, `apiKey: accessToken`). It lives 15
   * minutes; ask again rather than keep it.
   */
  async accessToken(): Promise<{ accessToken: string; instanceUrl: string }> {
    const accessToken = await this.tokens.accessToken();
    return { accessToken, instanceUrl: this.tokens.current.instanceUrl };
  }

  /** The person's profile (`profile:read`). */
  async profile(opts: { signal?: AbortSignal } = {}): Promise<SELFProfile> {
    const res = await this.conn.request({
      method: 'GET',
      path: '/profile',
      headers: { accept: 'application/json' },
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    const body = await readJson(res);
    if (!isJsonObject(body)) throw new SELFError('SERVER_ERROR', 'the profile is not an object');
    const name = stringField(body, 'name');
    return { did: stringField(body, 'did') ?? this.did, ...(name !== undefined ? { name } : {}), raw: body };
  }

  /** The grant behind this session, as the person's instance holds it. */
  async grant(opts: { signal?: AbortSignal } = {}): Promise<SELFGrant> {
    const res = await this.conn.request({
      method: 'GET',
      path: '/grant',
      headers: { accept: 'application/json' },
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    return grantOf(await readJson(res));
  }

  /**
   * Disconnects the app: revokes the grant at the person's instance (`DELETE /grant`), revokes the
   * refresh token's whole family at the cloud (RFC 7009), and clears the token store. The store is
   * cleared even when a step fails; a grant that was already gone is not an error. Afterwards
   * every call of this session is UNAUTHENTICATED.
   */
  async revoke(): Promise<void> {
    let failure: unknown = null;
    try {
      await this.conn
        .request({ method: 'DELETE', path: '/grant' }, { allow404: true })
        .then((r) => r.body?.cancel());
    } catch (err) {
      // Already revoked (by the person, or an earlier call): nothing left to do at the instance.
      if (!isSELFError(err, 'UNAUTHENTICATED')) failure = err;
    }
    try {
      await this.oauth.revoke(this.tokens.current.refreshToken, 'refresh_token');
    } catch (err) {
      failure ??= err;
    }
    await this.store.clear();
    if (failure !== null) throw failure;
  }
}

/** A grant as the instance answers it (`{grant}` or the grant itself). */
function grantOf(body: unknown): SELFGrant {
  const g = isJsonObject(body) && isJsonObject(body['grant']) ? body['grant'] : body;
  if (!isJsonObject(g)) throw new SELFError('SERVER_ERROR', 'the grant is not an object');
  const scopes = g['scopes'];
  const expires = g['expires_at'];
  return {
    id: stringField(g, 'id') ?? '',
    appId: stringField(g, 'app_id') ?? '',
    scopes: Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [],
    state: stringField(g, 'state') ?? '',
    expiresAt: typeof expires === 'number' ? expires : undefined,
    raw: g,
  };
}
