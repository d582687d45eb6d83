import { discover, type AuthorizationServerMetadata } from './discovery.js';
import { SELFError, errorFromResponse } from './errors.js';
import { formBody, readJson, send, type FetchLike } from './http.js';
import { isJsonObject, numberField, stringField, type JsonObject } from './json.js';
import type { StoredSession } from './token-store.js';

/** `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1 encodes id and secret). */
function formEncode(s: string): string {
  return new URLSearchParams({ v: s }).toString().slice(2);
}

/**
 * The SDK's side of the cloud's OAuth endpoints: discovery (cached), the token endpoint and
 * revocation, with client authentication (a secret for confidential clients, else the client id).
 */
export class OAuthClient {
  private meta: Promise<AuthorizationServerMetadata> | null = null;

  constructor(
    readonly issuer: string,
    readonly clientId: string,
    private readonly clientSecret: string | undefined,
    readonly fetchFn: FetchLike,
  ) {}

  /** The server's metadata, fetched once (again after a failure). */
  metadata(): Promise<AuthorizationServerMetadata> {
    if (this.meta === null) {
      this.meta = discover(this.fetchFn, this.issuer);
      this.meta.catch(() => {
        this.meta = null;
      });
    }
    return this.meta;
  }

  /** Headers and body fields that authenticate this client. */
  private async clientAuth(): Promise<{ headers: Record<string, string>; fields: Record<string, string> }> {
    if (this.clientSecret === undefined) return { headers: {}, fields: { client_id: this.clientId } };
    const methods = (await this.metadata()).tokenEndpointAuthMethods;
    if (!methods.includes('client_secret_basic') && methods.includes('client_secret_post')) {
      return { headers: {}, fields: { client_id: this.clientId, client_secret: this.clientSecret } };
    }
    const basic = btoa(`${formEncode(this.clientId)}:${formEncode(this.clientSecret)}`);
    return { headers: { authorization: `Basic ${basic}` }, fields: {} };
  }

  /** A POST of form fields to one of the server's endpoints, authenticated as this client. */
  private async post(url: string, fields: Record<string, string | undefined>): Promise<Response> {
    const auth = await this.clientAuth();
    const res = await send(this.fetchFn, url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        ...auth.headers,
      },
      body: formBody({ ...fields, ...auth.fields }),
    });
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  private async token(fields: Record<string, string | undefined>): Promise<JsonObject> {
    const { tokenEndpoint } = await this.metadata();
    const body = await readJson(await this.post(tokenEndpoint, fields));
    if (!isJsonObject(body)) throw new SELFError('SERVER_ERROR', 'the token endpoint answered no object');
    const type = stringField(body, 'token_type');
    if (stringField(body, 'access_token') === undefined || type?.toLowerCase() !== 'bearer') {
      throw new SELFError('SERVER_ERROR', 'the token endpoint answered no bearer access token');
    }
    return body;
  }

  /** Exchanges an authorization code (with its PKCE verifier) for a session. */
  async exchangeCode(code: string, codeVerifier: string, redirectUri: string): Promise<StoredSession> {
    const t = await this.token({
      grant_type: 'authorization_code',
      code,
      code_verifier: codeVerifier,
      redirect_uri: redirectUri,
    });
    const fields = {
      did: stringField(t, 'did'),
      instanceUrl: stringField(t, 'instance_url'),
      grantId: stringField(t, 'grant_id'),
      refreshToken: stringField(t, 'refresh_token'),
    };
    for (const [name, v] of Object.entries(fields)) {
      if (v === undefined) throw new SELFError('SERVER_ERROR', `the token response lacks ${name}`);
    }
    return {
      version: 1,
      issuer: this.issuer,
      clientId: this.clientId,
      did: fields.did as string,
      instanceUrl: (fields.instanceUrl as string).replace(/\/+$/, ''),
      grantId: fields.grantId as string,
      scopes: scopesOf(t) ?? [],
      accessToken: stringField(t, 'access_token') as string,
      accessTokenExpiresAt: expiresAt(t),
      refreshToken: fields.refreshToken as string,
    };
  }

  /**
   * Trades the session's refresh token for new tokens. The refresh token rotates: the answer's new
   * one replaces it (RFC 6749 §6 lets a server keep the old one; then it stays).
   */
  async refresh(current: StoredSession): Promise<StoredSession> {
    const t = await this.token({ grant_type: 'refresh_token', refresh_token: current.refreshToken });
    return {
      ...current,
      scopes: scopesOf(t) ?? current.scopes,
      accessToken: stringField(t, 'access_token') as string,
      accessTokenExpiresAt: expiresAt(t),
      refreshToken: stringField(t, 'refresh_token') ?? current.refreshToken,
    };
  }

  /** Revokes a token (RFC 7009); the server answers 200 for tokens it does not know. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
    const { revocationEndpoint } = await this.metadata();
    if (revocationEndpoint === undefined) {
      throw new SELFError('SERVER_ERROR', 'the authorization server has no revocation endpoint');
    }
    const res = await this.post(revocationEndpoint, { token, token_type_hint: hint });
    await res.body?.cancel();
  }
}

function scopesOf(t: JsonObject): string[] | undefined {
  const scope = stringField(t, 'scope');
  return scope === undefined ? undefined : scope.split(' ').filter((s) => s.length > 0);
}

function expiresAt(t: JsonObject): number {
  // Without expires_in the token's life is unknown: assume short, so it is refreshed early.
  const seconds = numberField(t, 'expires_in') ?? 60;
  return Date.now() + seconds * 1000;
}
