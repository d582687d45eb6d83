import { afterEach, describe, expect, it, vi } from 'vitest';
import { SELFClient, SELFError, memoryTokenStore, type StorageLike } from '../src/index.js';
import { APP_ID, DID, FakeCloud, ISSUER, REDIRECT } from './fake-cloud.js';
import { signedIn } from './helpers.js';

const client = (cloud: FakeCloud, extra: Partial<ConstructorParameters<typeof SELFClient>[0]> = {}) =>
  new SELFClient({
    appId: APP_ID,
    environment: { baseUrl: `${ISSUER}/` },
    redirectUri: REDIRECT,
    fetch: cloud.fetch,
    ...extra,
  });

describe('SELFClient: authorization URL', () => {
  it('discovers the endpoint and asks for code + PKCE S256 with every parameter', async () => {
    const cloud = new FakeCloud();
    const a = await client(cloud).authorizationUrl({
      permissions: ['ai:chat', 'storage:read', 'ai:chat'],
      loginHint: DID,
    });
    const u = new URL(a.url);
    expect(u.origin + u.pathname).toBe(`${ISSUER}/oauth/authorize`);
    expect(Object.fromEntries(u.searchParams)).toEqual({
      response_type: 'code',
      client_id: APP_ID,
      redirect_uri: REDIRECT,
      scope: 'ai:chat storage:read',
      state: a.state,
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
      login_hint: DID,
    });
    expect(a.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.redirectUri).toBe(REDIRECT);
    // Discovery is cached.
    await client(cloud).authorizationUrl({ permissions: ['ai:chat'] });
    expect(cloud.calls.filter((c) => c.url.pathname.startsWith('/.well-known')).length).toBe(2);
  });

  it('refuses a cloud whose metadata names another issuer, and a call without permissions or redirect', async () => {
    const cloud = new FakeCloud();
    cloud.metadata = { issuer: 'http://evil.test' };
    await expect(client(cloud).authorizationUrl({ permissions: ['ai:chat'] })).rejects.toMatchObject({
      reason: 'issuer_mismatch',
    });
    await expect(client(new FakeCloud()).authorizationUrl({ permissions: [] })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    const noRedirect = new SELFClient({
      appId: APP_ID,
      environment: { baseUrl: ISSUER },
      fetch: new FakeCloud().fetch,
    });
    await expect(noRedirect.authorizationUrl({ permissions: ['ai:chat'] })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
  });

  it('has no invented production host, and an unreachable cloud is NETWORK_ERROR', async () => {
    expect(() => new SELFClient({ appId: APP_ID, environment: 'production' })).toThrow(/baseUrl/);
    expect(new SELFClient({ appId: APP_ID, environment: 'testnet' }).issuer).toBe('http://127.0.0.1:8080');
    const down = new SELFClient({
      appId: APP_ID,
      environment: { baseUrl: ISSUER },
      redirectUri: REDIRECT,
      fetch: () => Promise.reject(new TypeError('fetch failed')),
    });
    await expect(down.authorizationUrl({ permissions: ['ai:chat'] })).rejects.toMatchObject({
      code: 'NETWORK_ERROR',
    });
  });
});

describe('SELFClient: the redirect and the code exchange', () => {
  it('signs in: the code is exchanged once, the session is saved and restorable', async () => {
    const { cloud, client: c, session, store } = await signedIn();
    expect(session.did).toBe(DID);
    expect(session.instanceUrl).toBe(`${ISSUER}/v1/i/${DID}`);
    expect(session.grantId).toBe('gr_AAAAAAAAAAAAAAAAAAAAAA');
    expect(session.scopes).toContain('ai:chat');
    const token = cloud.calls.find((x) => x.url.pathname === '/oauth/token');
    const form = new URLSearchParams(token?.body);
    expect(form.get('grant_type')).toBe('authorization_code');
    expect(form.get('client_id')).toBe(APP_ID); // a public client names itself
    expect(form.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(token?.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect((await store.load())?.did).toBe(DID);
    const restored = await c.restoreSession();
    expect(restored?.did).toBe(DID);
    // Another app's client does not pick up this app's session.
    const other = new SELFClient({ appId: 'app_other', environment: { baseUrl: ISSUER }, tokenStore: store });
    expect(await other.restoreSession()).toBeNull();
  });

  it('checks state and iss (RFC 9207) before anything else, and maps a refusal', async () => {
    const cloud = new FakeCloud();
    const c = client(cloud);
    const a = await c.authorizationUrl({ permissions: ['ai:chat'] });
    const back = (q: Record<string, string>) => `${REDIRECT}?${new URLSearchParams(q).toString()}`;
    await expect(
      c.handleRedirect(back({ code: 'x', state: 'other', iss: ISSUER }), { pending: a }),
    ).rejects.toMatchObject({
      reason: 'state_mismatch',
    });
    await expect(c.handleRedirect(back({ code: 'x', state: a.state }), { pending: a })).rejects.toMatchObject(
      {
        reason: 'issuer_mismatch',
      },
    );
    await expect(
      c.handleRedirect(back({ code: 'x', state: a.state, iss: 'http://evil.test' }), { pending: a }),
    ).rejects.toMatchObject({ reason: 'issuer_mismatch' });
    await expect(
      c.handleRedirect(back({ error: 'access_denied', state: a.state, iss: ISSUER }), { pending: a }),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED', reason: 'access_denied' });
    await expect(
      c.handleRedirect(
        back({ error: 'invalid_scope', error_description: 'no', state: a.state, iss: ISSUER }),
        {
          pending: a,
        },
      ),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST', reason: 'invalid_scope', message: 'no' });
    expect(cloud.calls.some((x) => x.url.pathname === '/oauth/token')).toBe(false);
  });

  it('exchangeCode checks expectedState and iss; a used code is UNAUTHENTICATED invalid_grant', async () => {
    const cloud = new FakeCloud();
    const c = client(cloud);
    const a = await c.authorizationUrl({ permissions: ['ai:chat'] });
    const res = await cloud.fetch(a.url, { headers: { accept: 'application/json' } });
    const { request_id } = (await res.json()) as { request_id: string };
    const code = new URL(cloud.approve(request_id)).searchParams.get('code') ?? '';
    const base = { code, codeVerifier: a.codeVerifier, redirectUri: a.redirectUri };
    await expect(c.exchangeCode({ ...base, state: 'x', expectedState: a.state })).rejects.toMatchObject({
      reason: 'state_mismatch',
    });
    await expect(c.exchangeCode({ ...base, iss: 'http://evil.test' })).rejects.toMatchObject({
      reason: 'issuer_mismatch',
    });
    const store = memoryTokenStore();
    const s = await c.exchangeCode({
      ...base,
      state: a.state,
      expectedState: a.state,
      iss: ISSUER,
      tokenStore: store,
    });
    expect(s.did).toBe(DID);
    expect((await store.load())?.did).toBe(DID);
    expect(await c.tokenStore.load()).toBeNull(); // the per-person store got it, not the default
    await expect(c.exchangeCode(base)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'invalid_grant',
    });
  });

  it('a confidential client authenticates with client_secret_basic', async () => {
    const { cloud } = await signedIn();
    const c = client(cloud, { clientSecret: 'self_cs_s3cret' });
    const a = await c.authorizationUrl({ permissions: ['ai:chat'] });
    const res = await cloud.fetch(a.url, { headers: { accept: 'application/json' } });
    const { request_id } = (await res.json()) as { request_id: string };
    await c.handleRedirect(cloud.approve(request_id), { pending: a });
    const token = cloud.calls.filter((x) => x.url.pathname === '/oauth/token').at(-1);
    expect(token?.headers.get('authorization')).toBe(`Basic ${btoa(`${APP_ID}:self_cs_s3cret`)}`);
    expect(new URLSearchParams(token?.body).get('client_secret')).toBeNull();
  });
});

describe('SELFClient in a browser', () => {
  afterEach(() => vi.unstubAllGlobals());

  function browser(href: string) {
    const items = new Map<string, string>();
    const sessionStorage: StorageLike = {
      getItem: (k) => items.get(k) ?? null,
      setItem: (k, v) => void items.set(k, v),
      removeItem: (k) => void items.delete(k),
    };
    const location = { href, assign: vi.fn((to: string) => void (location.href = to)) };
    const history = {
      replaceState: vi.fn((_d: unknown, _u: string, to?: string) => void (location.href = to ?? '')),
    };
    vi.stubGlobal('location', location);
    vi.stubGlobal('sessionStorage', sessionStorage);
    vi.stubGlobal('history', history);
    vi.stubGlobal('document', {});
    return { items, location, history };
  }

  it('authenticate() navigates away, then finishes the sign-in on the redirect page and cleans the URL', async () => {
    const cloud = new FakeCloud();
    const b = browser('http://127.0.0.1:3000/');
    const c = client(cloud);
    const leaving = c.authenticate({ permissions: ['ai:chat'] });
    await vi.waitFor(() => expect(b.location.assign).toHaveBeenCalledOnce());
    let settled = false;
    void leaving.then(() => (settled = true));
    expect(b.items.size).toBe(1); // state and verifier wait in sessionStorage
    const res = await cloud.fetch(b.location.href, { headers: { accept: 'application/json' } });
    const { request_id } = (await res.json()) as { request_id: string };
    b.location.href = cloud.approve(request_id);
    const session = await c.authenticate({ permissions: ['ai:chat'] });
    expect(session.did).toBe(DID);
    expect(b.items.size).toBe(0); // the pending entry is single use
    expect(b.location.href).toBe(REDIRECT); // code, state and iss are gone from the address bar
    // Once signed in, authenticate() answers the stored session without leaving the page.
    expect((await c.authenticate({ permissions: ['ai:chat'] })).did).toBe(DID);
    expect(b.location.assign).toHaveBeenCalledOnce();
    expect(settled).toBe(false);
  });

  it('a redirect with a state this tab never sent is refused', async () => {
    const b = browser(`${REDIRECT}?code=c&state=forged&iss=${encodeURIComponent(ISSUER)}`);
    await expect(client(new FakeCloud()).handleRedirect()).rejects.toMatchObject({
      reason: 'state_mismatch',
    });
    expect(b.history.replaceState).not.toHaveBeenCalled();
  });

  it('refuses a client secret in a browser', () => {
    browser('http://127.0.0.1:3000/');
    expect(() => client(new FakeCloud(), { clientSecret: 'self_cs_x' })).toThrow(SELFError);
  });

  it('authenticate() outside a browser says what to use instead', async () => {
    await expect(client(new FakeCloud()).authenticate({ permissions: ['ai:chat'] })).rejects.toThrow(
      /authorizationUrl\(\) and handleRedirect/,
    );
  });
});
