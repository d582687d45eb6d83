import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signConsent, type DeviceIdentity } from '@self/crypto';
import { startTestChain, type TestChain } from './support/chain.js';
import { call } from './support/cloud.js';
import { people } from './support/people.js';
import {
  approve,
  authorize,
  authorizeQuery,
  insertApp,
  insertDeveloper,
  newRequest,
  pkce,
  queryOf,
  signUp,
  startOAuthCloud,
  type OAuthCloud,
  type TestApp,
} from './oauth-fixtures.js';

/**
 * The authorization endpoint and the person's consent step, up to the point where the instance
 * stores the grant: metadata, open-redirect defences, PKCE and scope checks, the consent page,
 * claiming, denying and expiry, and consents that must not verify.
 */
describe('oauth authorization', () => {
  let chain: TestChain;
  let gw: OAuthCloud;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let aliceSession: string;
  let bobSession: string;
  let app: TestApp;
  let inactive: TestApp;

  beforeAll(async () => {
    [alice, bob] = people('oauth-az-alice', 'oauth-az-bob');
    chain = await startTestChain('self-cloud-oauth-authorize');
    gw = await startOAuthCloud(chain);
    aliceSession = await signUp(gw, chain, alice);
    bobSession = await signUp(gw, chain, bob);
    const dev = insertDeveloper(gw.db, bob.did);
    app = insertApp(gw.db, dev, {
      redirectUris: ['https://notes.example/cb', 'http://127.0.0.1:8765/cb?from=self'],
      logoUri: 'https://notes.example/logo.png',
    });
    inactive = insertApp(gw.db, dev, { active: false });
  }, 120_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  it('publishes RFC 8414 metadata and the token signing key', async () => {
    const meta = await call(gw.url, 'GET', '/.well-known/oauth-authorization-server');
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({
      issuer: gw.url,
      authorization_endpoint: `${gw.url}/oauth/authorize`,
      token_endpoint: `${gw.url}/oauth/token`,
      revocation_endpoint: `${gw.url}/oauth/revoke`,
      introspection_endpoint: `${gw.url}/oauth/introspect`,
      jwks_uri: `${gw.url}/oauth/jwks`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(meta.body.scopes_supported).toEqual(
      expect.arrayContaining(['profile:read', 'storage:read', 'ai:chat']),
    );
    const jwks = await call(gw.url, 'GET', '/oauth/jwks');
    const keys = jwks.body.keys as Array<Record<string, unknown>>;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(keys[0]).not.toHaveProperty('d');
  });

  describe('never redirects where it cannot trust', () => {
    const p = pkce();

    it('refuses an unknown, inactive or missing client on the page itself', async () => {
      for (const client_id of ['app_' + '0'.repeat(32), inactive.appId, 'not-an-app', undefined]) {
        const res = await authorize(gw, authorizeQuery(app, p, { client_id }), 'text/html');
        expect(res.status, String(client_id)).toBe(400);
        expect(res.headers.get('location')).toBeNull();
        expect(res.headers.get('content-type')).toContain('text/html');
        expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
        expect(res.text).not.toContain('notes.example');
      }
      const json = await authorize(gw, authorizeQuery(app, p, { client_id: inactive.appId }));
      expect(json.status).toBe(400);
      expect(json.json).toMatchObject({ error: 'invalid_request', details: { reason: 'unknown_client' } });
      expect(json.json?.error_description).toEqual(expect.any(String));
    });

    it('accepts only a redirect URI exactly as registered', async () => {
      const attempts = [
        'https://evil.example/cb',
        'https://notes.example/cb/',
        'https://notes.example/cb?next=https://evil.example',
        'https://notes.example/cb#frag',
        'https://attacker@notes.example/cb',
        'https://notes.example@evil.example/cb',
        'https://NOTES.example/cb',
        'https://notes.example:443/cb',
        'https://notes.example/cb/../evil',
        'https://notes.example/CB',
        'http://notes.example/cb',
        'http://127.0.0.1:8765/cb',
        'http://127.0.0.1:8765/cb?from=self&x=1',
        'http://127.0.0.1:8766/cb?from=self',
        'https://notes.example/cb\n',
        '',
        undefined,
      ];
      for (const redirect_uri of attempts) {
        const res = await authorize(gw, authorizeQuery(app, p, { redirect_uri, response_type: 'token' }));
        expect(res.status, String(redirect_uri)).toBe(400);
        expect(res.headers.get('location'), String(redirect_uri)).toBeNull();
        expect(res.json).toMatchObject({ details: { reason: 'redirect_uri_not_registered' } });
      }
      // The registered one with its own query is accepted, and the query kept.
      const ok = await newRequest(gw, app, p, { redirect_uri: 'http://127.0.0.1:8765/cb?from=self' });
      expect(ok.request_id).toMatch(/^req_/);
    });

    it('answers a malformed query on the page too (a repeated or oversized parameter)', async () => {
      const twice = `${authorizeQuery(app, p)}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`;
      for (const query of [
        twice,
        `${authorizeQuery(app, p)}&client_id=${app.appId}`,
        authorizeQuery(app, p, { state: 'x'.repeat(5_000) }),
        authorizeQuery(app, p, { redirect_uri: `https://notes.example/cb?${'a'.repeat(3_000)}` }),
      ]) {
        const res = await authorize(gw, query);
        expect(res.status).toBe(400);
        expect(res.headers.get('location')).toBeNull();
        expect(res.json).toMatchObject({ error: 'invalid_request' });
      }
    });
  });

  describe('sends other errors back to the app, with state and iss (RFC 9207)', () => {
    const p = pkce();
    const cases: Array<[string, Record<string, string | undefined>, string]> = [
      ['implicit flow', { response_type: 'token' }, 'unsupported_response_type'],
      ['no response_type', { response_type: undefined }, 'unsupported_response_type'],
      ['no PKCE', { code_challenge: undefined }, 'invalid_request'],
      ['PKCE plain', { code_challenge_method: 'plain' }, 'invalid_request'],
      ['PKCE without a method (plain by default)', { code_challenge_method: undefined }, 'invalid_request'],
      ['a challenge that is no S256 hash', { code_challenge: 'short' }, 'invalid_request'],
      ['response_mode fragment', { response_mode: 'fragment' }, 'invalid_request'],
      ['a login_hint that is not a DID', { login_hint: 'alice@example.com' }, 'invalid_request'],
      ['a scope the app did not register', { scope: 'profile:read ai:chat' }, 'invalid_scope'],
      ['a collection the app did not register', { scope: 'storage:diary:read' }, 'invalid_scope'],
      ['a scope that does not exist', { scope: 'admin' }, 'invalid_scope'],
      ['no scope', { scope: undefined }, 'invalid_scope'],
    ];
    for (const [what, extra, error] of cases) {
      it(what, async () => {
        const res = await authorize(gw, authorizeQuery(app, p, extra));
        expect(res.status).toBe(302);
        const location = res.headers.get('location')!;
        expect(location.startsWith('https://notes.example/cb?')).toBe(true);
        expect(queryOf(location)).toMatchObject({ error, state: 'st-123', iss: gw.url });
        expect(queryOf(location).error_description).toEqual(expect.any(String));
        expect(queryOf(location)).not.toHaveProperty('code');
      });
    }
  });

  it('shows a consent page with no external assets, the scopes in words and the code to approve', async () => {
    const res = await authorize(gw, authorizeQuery(app, pkce()), 'text/html,application/xhtml+xml');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain('img-src https://notes.example');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.text).toContain('Test notes');
    expect(res.text).toContain(bob.did);
    expect(res.text).toContain('Read the data this app saved in your SELF');
    expect(res.text).toMatch(/self consent approve [B-Z]{4}-[B-Z]{4}/);
    // Not on chain (these tests mirror apps without registering them): the page says so.
    expect(res.text).toContain('Not verified on SELF Chain');
    expect(res.text).not.toMatch(/<(link|script) [^>]*src=/);
  });

  it('lets a scripted client read the request as JSON and poll it', async () => {
    const res = await authorize(
      gw,
      authorizeQuery(app, pkce(), { scope: 'storage:read profile:read storage:read' }),
    );
    expect(res.status).toBe(200);
    const body = res.json!;
    expect(body).toMatchObject({
      request_id: expect.stringMatching(/^req_[A-Za-z0-9_-]{22}$/),
      user_code: expect.stringMatching(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/),
      poll: expect.any(String),
      app: { app_id: app.appId, name: 'Test notes', owner_did: bob.did, verified_on_chain: false },
      scopes: [
        { scope: 'profile:read', description: expect.any(String) },
        { scope: 'storage:read', description: expect.any(String) },
      ],
    });
    const poll = await call(gw.url, 'GET', `/oauth/requests/${body.request_id}?poll=${body.poll}`);
    expect(poll.status).toBe(200);
    expect(poll.body).toMatchObject({ status: 'pending', redirect_to: null });
    const wrong = await call(gw.url, 'GET', `/oauth/requests/${body.request_id}?poll=${'A'.repeat(43)}`);
    expect(wrong.status).toBe(404);
  });

  describe('the person’s side', () => {
    it('a login_hint binds the request; another person cannot see or approve it', async () => {
      const req = await newRequest(gw, app, pkce(), { login_hint: alice.did });
      const mine = await call(gw.url, 'GET', '/v1/consent/requests', { token: aliceSession });
      expect(mine.status).toBe(200);
      expect((mine.body.requests as Array<{ id: string }>).map((r) => r.id)).toContain(req.request_id);
      const theirs = await call(gw.url, 'GET', '/v1/consent/requests', { token: bobSession });
      expect((theirs.body.requests as Array<{ id: string }>).map((r) => r.id)).not.toContain(req.request_id);
      for (const ref of [req.request_id, req.user_code]) {
        const peek = await call(gw.url, 'GET', `/v1/consent/requests/${ref}`, { token: bobSession });
        expect(peek.status).toBe(403);
        expect(peek.body.error).toBe('forbidden');
      }
      const steal = await call(gw.url, 'POST', `/v1/consent/requests/${req.request_id}/deny`, {
        token: bobSession,
        json: {},
      });
      expect(steal.status).toBe(403);
      expect((await call(gw.url, 'GET', '/v1/consent/requests')).status).toBe(401);
    });

    it('an unbound request is claimed by the first person who enters its code', async () => {
      const req = await newRequest(gw, app, pkce());
      const typed = req.user_code.toLowerCase().replace('-', '');
      const claim = await call(gw.url, 'GET', `/v1/consent/requests/${typed}`, { token: aliceSession });
      expect(claim.status).toBe(200);
      const view = claim.body.request as Record<string, unknown>;
      expect(view).toMatchObject({
        id: req.request_id,
        user_code: req.user_code,
        redirect_uri: app.redirectUri,
        grant_id: expect.stringMatching(/^gr_[A-Za-z0-9_-]{22}$/),
        origin: gw.url,
        status: 'pending',
        app: { app_id: app.appId, owner_did: bob.did, logo_uri: 'https://notes.example/logo.png' },
      });
      expect(
        (await call(gw.url, 'GET', `/v1/consent/requests/${req.user_code}`, { token: bobSession })).status,
      ).toBe(403);
      expect(
        (await call(gw.url, 'GET', '/v1/consent/requests/NOPE-NOPE', { token: bobSession })).status,
      ).toBe(404);
    });

    it('deny sends access_denied back to the app, once', async () => {
      const req = await newRequest(gw, app, pkce(), { login_hint: alice.did, state: 'deny-me' });
      const deny = await call(gw.url, 'POST', `/v1/consent/requests/${req.user_code}/deny`, {
        token: aliceSession,
      });
      expect(deny.status, JSON.stringify(deny.body)).toBe(200);
      const to = deny.body.redirect_to as string;
      expect(to.startsWith(`${app.redirectUri}?`)).toBe(true);
      expect(queryOf(to)).toMatchObject({ error: 'access_denied', state: 'deny-me', iss: gw.url });
      const poll = await call(gw.url, 'GET', `/oauth/requests/${req.request_id}?poll=${req.poll}`);
      expect(poll.body).toMatchObject({ status: 'denied', redirect_to: to });
      const again = await call(gw.url, 'POST', `/v1/consent/requests/${req.request_id}/deny`, {
        token: aliceSession,
      });
      expect(again.status).toBe(409);
      expect(again.body.error).toBe('request_decided');
      expect((await approve(gw, alice, aliceSession, req.request_id)).status).toBe(409);
    });

    it('a request lasts 10 minutes', async () => {
      const req = await newRequest(gw, app, pkce(), { login_hint: alice.did });
      gw.clock.skew = 11 * 60 * 1000;
      try {
        const late = await call(gw.url, 'GET', `/v1/consent/requests/${req.request_id}`, {
          token: aliceSession,
        });
        expect(late.status).toBe(410);
        expect(late.body.error).toBe('request_expired');
        const poll = await call(gw.url, 'GET', `/oauth/requests/${req.request_id}?poll=${req.poll}`);
        expect(poll.body).toMatchObject({ status: 'expired', redirect_to: null });
        const listed = await call(gw.url, 'GET', '/v1/consent/requests', { token: aliceSession });
        expect((listed.body.requests as Array<{ id: string }>).map((r) => r.id)).not.toContain(
          req.request_id,
        );
      } finally {
        gw.clock.skew = 0;
      }
    });

    it('refuses consents that do not verify, before the instance sees them', async () => {
      const req = await newRequest(gw, app, pkce(), { login_hint: alice.did });
      const forged: Array<[string, Parameters<typeof approve>[4], string]> = [
        [
          'more scopes than asked',
          { tamper: (f) => ({ ...f, scopes: [...f.scopes, 'storage:write'] }) },
          'bad_signature',
        ],
        ['another grant id', { tamper: (f) => ({ ...f, grant: 'gr_' + 'A'.repeat(22) }) }, 'bad_signature'],
        ['another origin', { tamper: (f) => ({ ...f, origin: 'https://evil.example' }) }, 'bad_signature'],
        ['another app', { tamper: (f) => ({ ...f, app: 'app_' + 'f'.repeat(32) }) }, 'bad_signature'],
        ['a grant of 10 minutes', { ttlMs: 10 * 60 * 1000 }, 'bad_expiry'],
        ['a grant of 401 days', { ttlMs: 401 * 24 * 3600 * 1000 }, 'bad_expiry'],
        ['issued an hour ago', { issuedAt: Date.now() - 3_600_000 }, 'bad_issued_at'],
      ];
      for (const [what, o, reason] of forged) {
        const res = await approve(gw, alice, aliceSession, req.request_id, o);
        expect(res.status, what).toBe(400);
        expect(res.body, what).toMatchObject({ error: 'invalid_consent', details: { reason } });
      }
      // Signed by someone else's key, for alice's DID.
      const view = await call(gw.url, 'GET', `/v1/consent/requests/${req.request_id}`, {
        token: aliceSession,
      });
      const r = view.body.request as { grant_id: string; origin: string };
      const issuedAt = Date.now();
      const fields = {
        origin: r.origin,
        did: alice.did,
        grant: r.grant_id,
        app: app.appId,
        scopes: ['profile:read', 'storage:read'],
        issuedAt,
        expiresAt: issuedAt + 86_400_000,
      };
      const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64url');
      for (const [publicKey, signature] of [
        [bob.accountPublicKey, signConsent(bob.account, fields)],
        [alice.accountPublicKey, signConsent(bob.account, fields)],
        [alice.accountPublicKey, new Uint8Array(64)],
      ] as const) {
        const res = await call(gw.url, 'POST', `/v1/consent/requests/${req.request_id}/approve`, {
          token: aliceSession,
          json: {
            public_key: b64(publicKey),
            signature: b64(signature),
            issued_at: issuedAt,
            expires_at: fields.expiresAt,
          },
        });
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ error: 'invalid_consent', details: { reason: 'bad_signature' } });
      }
      const malformed = await call(gw.url, 'POST', `/v1/consent/requests/${req.request_id}/approve`, {
        token: aliceSession,
        json: { public_key: 'x', signature: 'y', issued_at: 'now', expires_at: 1 },
      });
      expect(malformed.status).toBe(400);
      expect(malformed.body.error).toBe('invalid_request');
      // Nothing was decided.
      const poll = await call(gw.url, 'GET', `/oauth/requests/${req.request_id}?poll=${req.poll}`);
      expect(poll.body.status).toBe('pending');
    });
  });
});
