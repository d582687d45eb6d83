import { resolveEnvironment, type SELFEnvironment } from './environment.js';
import { SELFError, codeFor, errorFromResponse } from './errors.js';
import { ok, platformFetch, readJson, send, type FetchLike } from './http.js';
import { isJsonObject, numberField, stringField, type JsonObject } from './json.js';

/** A tier of SELF accounts. */
export type Tier = 'free' | 'growth' | 'pro' | 'enterprise';

/** What {@link SELFDeveloper}'s constructor takes. */
export interface SELFDeveloperOptions {
  /** The developer API key (`self_dk_…`) from `self dev register`. Keep it in your CI's secrets. */
  apiKey: string;
  /** Which SELF cloud; test users exist on testnets only. */
  environment: SELFEnvironment;
  /** The fetch to use (default: the platform's). */
  fetch?: FetchLike;
}

/** An app of this developer, as the cloud lists it. */
export interface DeveloperApp {
  /** The app id, which is its OAuth client id. */
  appId: string;
  /** Its name on chain. */
  name: string;
  /** `confidential` (has a secret) or `public` (PKCE only). */
  clientType: string | undefined;
  /** The registered redirect URIs (matched exactly). */
  redirectUris: string[];
  /** The scopes it may ask for. */
  scopes: string[];
  /** Whether new sign-ins are allowed. */
  active: boolean;
  /** Every field the cloud answered (snake_case, as sent). */
  raw: JsonObject;
}

/** Where a test user's approval or refusal sends the browser. */
export interface ConsentDecision {
  /** The app's redirect URI with the answer (`code`, `state`, `iss`, or `error`). */
  redirectTo: string;
  /** The authorization code, when approved. */
  code: string | undefined;
  /** The `state` the app sent. */
  state: string | undefined;
  /** The issuer (RFC 9207). */
  iss: string | undefined;
  /** The `error` (`access_denied` after a refusal). */
  error: string | undefined;
}

/** What {@link TestUser.approve} takes besides the request. */
export interface ApproveOptions {
  /** How long the grant lasts, in seconds (default: the cloud's, 90 days). */
  expiresIn?: number;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * A testnet person made for a test harness: it approves or refuses an app's authorization
 * request the way the person's device would (the cloud signs the consent with the test user's key).
 * Test users exist on testnets only and are marked as such everywhere.
 */
export class TestUser {
  /** @internal Made by {@link SELFDeveloper.createTestUser}. */
  constructor(
    private readonly dev: SELFDeveloper,
    /** The test person's DID. */
    readonly did: string,
    /** Their tier. */
    readonly tier: Tier,
    /** A session token of the test person (a person's bearer token for the cloud's person routes). */
    readonly sessionToken: string,
    /** When that session expires, milliseconds since the epoch (when the cloud said). */
    readonly sessionExpiresAt: number | undefined,
  ) {}

  /**
   * Approves an authorization request: give the authorization URL your app made (it is opened as
   * a scripted client would, `Accept: application/json`), or the request id or user code. Answers
   * the redirect with the code; finish with `client.handleRedirect(decision.redirectTo, {pending})`.
   */
  approve(request: string, opts: ApproveOptions = {}): Promise<ConsentDecision> {
    return this.decide(request, true, opts);
  }

  /** Refuses an authorization request (the redirect carries `error=access_denied`). */
  deny(request: string): Promise<ConsentDecision> {
    return this.decide(request, false, {});
  }

  private async decide(request: string, approve: boolean, opts: ApproveOptions): Promise<ConsentDecision> {
    const id = /^https?:\/\//.test(request) ? await this.dev.openAuthorization(request) : request;
    const body = await this.dev.call(
      'POST',
      `/v1/developers/test-users/${encodeURIComponent(this.did)}/consent`,
      {
        request: id,
        approve,
        ...(opts.expiresIn !== undefined ? { expires_in: opts.expiresIn } : {}),
      },
    );
    const redirectTo = isJsonObject(body) ? stringField(body, 'redirect_to') : undefined;
    if (redirectTo === undefined)
      throw new SELFError('SERVER_ERROR', 'the consent answer has no redirect_to');
    const p = new URL(redirectTo).searchParams;
    const get = (k: string): string | undefined => p.get(k) ?? undefined;
    return { redirectTo, code: get('code'), state: get('state'), iss: get('iss'), error: get('error') };
  }
}

/**
 * Developer tools for servers and CI, authenticated with the developer API key: test users
 * (testnet) and the developer's apps. Never ship the API key to a browser.
 */
export class SELFDeveloper {
  /** The cloud's public URL. */
  readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchFn: FetchLike;

  /** Makes the helper; nothing is fetched until the first call. */
  constructor(opts: SELFDeveloperOptions) {
    if (typeof opts.apiKey !== 'string' || opts.apiKey === '') {
      throw new SELFError('INVALID_REQUEST', 'SELFDeveloper needs a developer API key (self_dk_…)');
    }
    this.baseUrl = resolveEnvironment(opts.environment);
    this.apiKey = opts.apiKey;
    this.fetchFn = opts.fetch ?? platformFetch;
  }

  /** @internal One developer API call; answers the JSON body. */
  async call(method: 'GET' | 'POST', path: string, body?: JsonObject): Promise<unknown> {
    const res = await send(this.fetchFn, `${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return readJson(await ok(res));
  }

  /**
   * @internal Opens an authorization URL as a scripted client (`Accept: application/json`), which
   * creates the pending request; answers its id. A refusal the server redirects (a bad scope, a
   * missing PKCE challenge) is a SELFError with the OAuth error as `reason`.
   */
  async openAuthorization(url: string): Promise<string> {
    if (new URL(url).origin !== new URL(this.baseUrl).origin) {
      throw new SELFError('INVALID_REQUEST', `${url} is not an authorization URL of ${this.baseUrl}`);
    }
    const res = await send(this.fetchFn, url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'manual',
    });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      await res.body?.cancel();
      const p = new URL(location, url).searchParams;
      const error = p.get('error') ?? 'invalid_request';
      throw new SELFError(codeFor(400, error), p.get('error_description') ?? error, {
        status: res.status,
        reason: error,
      });
    }
    if (!res.ok) throw await errorFromResponse(res);
    const body = await readJson(res);
    const id = isJsonObject(body) ? stringField(body, 'request_id') : undefined;
    if (id === undefined)
      throw new SELFError('SERVER_ERROR', 'the authorization request answer has no request_id');
    return id;
  }

  /** Makes a test person (testnet only; production answers PERMISSION_DENIED `not_on_production`). */
  async createTestUser(opts: { tier?: Tier } = {}): Promise<TestUser> {
    const body = await this.call('POST', '/v1/developers/test-users', { tier: opts.tier ?? 'free' });
    if (!isJsonObject(body)) throw new SELFError('SERVER_ERROR', 'the test user answer is not an object');
    const session = isJsonObject(body['session']) ? body['session'] : {};
    const did = stringField(body, 'did');
    const token = stringField(session, 'token');
    if (did === undefined || token === undefined) {
      throw new SELFError('SERVER_ERROR', 'the test user answer lacks did or session.token');
    }
    const tier = (stringField(body, 'tier') ?? opts.tier ?? 'free') as Tier;
    return new TestUser(this, did, tier, token, numberField(session, 'expires_at'));
  }

  /** The developer's apps. */
  async listApps(): Promise<DeveloperApp[]> {
    const body = await this.call('GET', '/v1/developers/apps');
    const apps = isJsonObject(body) ? body['apps'] : body;
    if (!Array.isArray(apps)) throw new SELFError('SERVER_ERROR', 'the app list has no apps');
    return apps.filter(isJsonObject).map((a) => ({
      appId: stringField(a, 'app_id') ?? stringField(a, 'id') ?? '',
      name: stringField(a, 'name') ?? '',
      clientType: stringField(a, 'client_type'),
      redirectUris: strings(a['redirect_uris']),
      scopes: strings(a['scopes']),
      active: a['active'] !== false,
      raw: a,
    }));
  }
}
