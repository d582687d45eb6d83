import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newGrantId, type DeviceIdentity } from '@self/crypto';
import { tokenHash } from '../src/auth/tokens.js';
import { CodeStore } from '../src/oauth/codes.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { call } from './support/cloud.js';
import { people } from './support/people.js';
import {
  basic,
  form,
  insertApp,
  insertDeveloper,
  pkce,
  signUp,
  startOAuthCloud,
  type OAuthCloud,
  type Pkce,
  type TestApp,
} from './oauth-fixtures.js';

/**
 * The token, revocation and introspection endpoints and the gateway's check of access tokens,
 * with codes minted straight into the control database (as an approval would, once the instance
 * stored the grant): client authentication, PKCE, code reuse and expiry, scope escalation,
 * audience binding and revocation. Nothing here needs the instance to hold a grant.
 */
describe('oauth tokens', () => {
  let chain: TestChain;
  let gw: OAuthCloud;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let aliceSession: string;
  let pub: TestApp;
  let conf: TestApp;
  let other: TestApp;
  let devKey: string;
  let strangerKey: string;

  beforeAll(async () => {
    [alice, bob] = people('oauth-tk-alice', 'oauth-tk-bob');
    chain = await startTestChain('self-cloud-oauth-token');
    gw = await startOAuthCloud(chain);
    aliceSession = await signUp(gw, chain, alice);
    await signUp(gw, chain, bob);
    const dev = insertDeveloper(gw.db, bob.did);
    pub = insertApp(gw.db, dev);
    conf = insertApp(gw.db, dev, { clientType: 'confidential', redirectUris: ['https://conf.example/cb'] });
    const stranger = insertDeveloper(gw.db, alice.did);
    other = insertApp(gw.db, stranger, {
      clientType: 'confidential',
      redirectUris: ['https://other.example/cb'],
    });
    devKey = apiKey(dev);
    strangerKey = apiKey(stranger);
  }, 120_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  function apiKey(developerId: string): string {
    const key = `self_dk_${randomBytes(32).toString('base64url')}`;
    gw.db
      .prepare('INSERT INTO api_keys (key_hash, developer_id, prefix, created_at) VALUES (?, ?, ?, ?)')
      .run(tokenHash(key), developerId, key.slice(0, 12), Date.now());
    return key;
  }

  /** A code as an approval mints it: for alice, `scopes`, this PKCE pair. */
  function mintCode(
    app: TestApp,
    p: Pkce,
    o: { scopes?: string[]; ageMs?: number; did?: string } = {},
  ): string {
    const codes = new CodeStore(gw.db, () => Date.now() - (o.ageMs ?? 0));
    return codes.issue({
      requestId: 'req_test',
      clientId: app.appId,
      did: o.did ?? alice.did,
      grantId: newGrantId(),
      scopes: o.scopes ?? ['profile:read', 'storage:read'],
      redirectUri: app.redirectUri,
      codeChallenge: p.challenge,
      grantExpiresAt: Date.now() + 86_400_000,
    });
  }

  const exchange = (app: TestApp, code: string, p: Pkce, extra: Record<string, string> = {}) =>
    form(
      gw.url,
      '/oauth/token',
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: app.redirectUri,
        code_verifier: p.verifier,
        ...(app.secret ? {} : { client_id: app.appId }),
        ...extra,
      },
      app.secret ? basic(app.appId, app.secret) : {},
    );

  const expectOAuthError = (
    res: { status: number; body: Record<string, unknown>; headers: Headers },
    status: number,
    error: string,
  ) => {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.error).toBe(error);
    expect(res.body.error_description).toEqual(expect.any(String));
    expect(res.body.message).toBe(res.body.error_description);
    expect(res.body.details).toEqual(expect.any(Object));
    expect(res.headers.get('cache-control')).toBe('no-store');
  };

  it('exchanges a code for audience-bound tokens', async () => {
    const p = pkce();
    const res = await exchange(pub, mintCode(pub, p), p);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: expect.stringMatching(/^self_rt_/),
      scope: 'profile:read storage:read',
      did: alice.did,
      instance_url: `${gw.url}/v1/i/${alice.did}`,
      grant_id: expect.stringMatching(/^gr_/),
    });
    const claims = JSON.parse(
      Buffer.from((res.body.access_token as string).split('.')[1]!, 'base64url').toString(),
    );
    expect(claims).toMatchObject({
      iss: gw.url,
      sub: alice.did,
      aud: `${gw.url}/v1/i/${alice.did}`,
      client_id: pub.appId,
    });
  });

  it('a code works once; its second use revokes what the first gave', async () => {
    const p = pkce();
    const code = mintCode(pub, p);
    const first = await exchange(pub, code, p);
    expect(first.status).toBe(200);
    const second = await exchange(pub, code, p);
    expectOAuthError(second, 400, 'invalid_grant');
    // The first use's tokens are dead: refresh refused, access token refused at the gateway.
    const refreshed = await form(gw.url, '/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token as string,
      client_id: pub.appId,
    });
    expectOAuthError(refreshed, 400, 'invalid_grant');
    const use = await call(gw.url, 'GET', `/v1/i/${alice.did}/profile`, {
      token: first.body.access_token as string,
    });
    expect(use.status).toBe(401);
    expect(use.body).toMatchObject({ error: 'invalid_token', details: { reason: 'token_revoked' } });
  });

  it('needs the PKCE verifier, and the right one', async () => {
    const p = pkce();
    const code = mintCode(pub, p);
    // Missing: a malformed request, which does not spend the code.
    expectOAuthError(
      await form(gw.url, '/oauth/token', {
        grant_type: 'authorization_code',
        code,
        redirect_uri: pub.redirectUri,
        client_id: pub.appId,
      }),
      400,
      'invalid_request',
    );
    // Wrong: refused, and the code is spent (a stolen code gets one try).
    expectOAuthError(await exchange(pub, code, pkce()), 400, 'invalid_grant');
    expectOAuthError(await exchange(pub, code, p), 400, 'invalid_grant');
    // The challenge itself as a verifier (plain) does not pass either.
    const q = pkce();
    expectOAuthError(
      await exchange(pub, mintCode(pub, q), { ...q, verifier: q.challenge }),
      400,
      'invalid_grant',
    );
  });

  it('refuses another redirect URI, another client and an expired code', async () => {
    const p = pkce();
    expectOAuthError(
      await exchange(pub, mintCode(pub, p), p, { redirect_uri: 'https://evil.example/cb' }),
      400,
      'invalid_grant',
    );
    expectOAuthError(await exchange(conf, mintCode(pub, p), p), 400, 'invalid_grant');
    expectOAuthError(await exchange(pub, mintCode(pub, p, { ageMs: 61_000 }), p), 400, 'invalid_grant');
    expectOAuthError(await exchange(pub, `self_ac_${'A'.repeat(43)}`, p), 400, 'invalid_grant');
    expectOAuthError(await exchange(pub, 'garbage', p), 400, 'invalid_grant');
  });

  it('narrows scope at the token endpoint, never widens it', async () => {
    const p = pkce();
    expectOAuthError(
      await exchange(pub, mintCode(pub, p), p, { scope: 'profile:read storage:write' }),
      400,
      'invalid_scope',
    );
    const q = pkce();
    const narrowed = await exchange(pub, mintCode(pub, q), q, { scope: 'profile:read' });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.scope).toBe('profile:read');
  });

  describe('client authentication', () => {
    it('confidential clients prove their secret, by Basic or in the body', async () => {
      const p = pkce();
      expect((await exchange(conf, mintCode(conf, p), p)).status).toBe(200);
      const q = pkce();
      const post = await form(gw.url, '/oauth/token', {
        grant_type: 'authorization_code',
        code: mintCode(conf, q),
        redirect_uri: conf.redirectUri,
        code_verifier: q.verifier,
        client_id: conf.appId,
        client_secret: conf.secret!,
      });
      expect(post.status, JSON.stringify(post.body)).toBe(200);
    });

    it('refuses missing, wrong and misplaced credentials with invalid_client', async () => {
      const p = pkce();
      const code = mintCode(conf, p);
      const base = {
        grant_type: 'authorization_code',
        code,
        redirect_uri: conf.redirectUri,
        code_verifier: p.verifier,
      };
      const wrongBasic = await form(
        gw.url,
        '/oauth/token',
        base,
        basic(conf.appId, `self_cs_${'A'.repeat(43)}`),
      );
      expectOAuthError(wrongBasic, 401, 'invalid_client');
      expect(wrongBasic.headers.get('www-authenticate')).toMatch(/^Basic /);
      // A confidential client without its secret.
      expectOAuthError(
        await form(gw.url, '/oauth/token', { ...base, client_id: conf.appId }),
        401,
        'invalid_client',
      );
      // A public client with a secret, an unknown client, no client at all.
      expectOAuthError(
        await form(gw.url, '/oauth/token', { ...base, client_id: pub.appId, client_secret: 'self_cs_x' }),
        401,
        'invalid_client',
      );
      expectOAuthError(
        await form(gw.url, '/oauth/token', { ...base, client_id: `app_${'0'.repeat(32)}` }),
        401,
        'invalid_client',
      );
      expectOAuthError(await form(gw.url, '/oauth/token', base), 401, 'invalid_client');
      // Two methods at once.
      expectOAuthError(
        await form(
          gw.url,
          '/oauth/token',
          { ...base, client_secret: conf.secret! },
          basic(conf.appId, conf.secret!),
        ),
        400,
        'invalid_request',
      );
      // None of these spent the code.
      expect((await exchange(conf, code, p)).status).toBe(200);
    });
  });

  describe('malformed requests', () => {
    it('refuses unsupported grant types', async () => {
      for (const grant_type of [
        'password',
        'client_credentials',
        'implicit',
        'urn:ietf:params:oauth:grant-type:device_code',
        'urn:ietf:params:oauth:grant-type:jwt-bearer',
      ]) {
        const res = await form(gw.url, '/oauth/token', {
          grant_type,
          client_id: pub.appId,
          username: 'a',
          password: 'b',
        });
        expectOAuthError(res, 400, 'unsupported_grant_type');
      }
    });

    it('refuses missing, repeated and oversized parameters and other media types', async () => {
      expectOAuthError(await form(gw.url, '/oauth/token', { client_id: pub.appId }), 400, 'invalid_request');
      const twice = await fetch(`${gw.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=authorization_code&code=a&code=b&client_id=${pub.appId}`,
      });
      expect(twice.status).toBe(400);
      expect(((await twice.json()) as { error: string }).error).toBe('invalid_request');
      const huge = await form(gw.url, '/oauth/token', {
        grant_type: 'refresh_token',
        refresh_token: 'x'.repeat(100_000),
      });
      expect(huge.status).toBe(413);
      expect(huge.body.error_description).toEqual(expect.any(String));
      const long = await form(gw.url, '/oauth/token', {
        grant_type: 'refresh_token',
        refresh_token: 'x'.repeat(5_000),
        client_id: pub.appId,
      });
      expectOAuthError(long, 400, 'invalid_request');
      const xml = await fetch(`${gw.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/xml' },
        body: '<grant_type>password</grant_type>',
      });
      expect(xml.status).toBe(415);
      const broken = await fetch(`${gw.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"grant_type":',
      });
      expect(broken.status).toBe(400);
      expect(((await broken.json()) as { error: string }).error).toBe('invalid_request');
      // JSON is accepted too.
      const p = pkce();
      const json = await call(gw.url, 'POST', '/oauth/token', {
        json: {
          grant_type: 'authorization_code',
          code: mintCode(pub, p),
          redirect_uri: pub.redirectUri,
          code_verifier: p.verifier,
          client_id: pub.appId,
        },
      });
      expect(json.status).toBe(200);
    });
  });

  describe('at the gateway', () => {
    it('an access token reaches only the instance it names, and never as the person', async () => {
      const p = pkce();
      const tokens = await exchange(pub, mintCode(pub, p), p);
      const token = tokens.body.access_token as string;
      const elsewhere = await call(gw.url, 'GET', `/v1/i/${bob.did}/profile`, { token });
      expect(elsewhere.status).toBe(401);
      expect(elsewhere.body).toMatchObject({ error: 'invalid_token', details: { reason: 'wrong_audience' } });
      expect(elsewhere.headers.get('www-authenticate')).toContain('invalid_token');
      // Person routes do not take it.
      expect((await call(gw.url, 'GET', '/v1/me', { token })).status).toBe(401);
      expect((await call(gw.url, 'GET', '/v1/consent/requests', { token })).status).toBe(401);
      // A tampered or foreign JWT.
      const [h, body, sig] = token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
      const swapped = Buffer.from(
        JSON.stringify({ ...claims, sub: bob.did, aud: `${gw.url}/v1/i/${bob.did}` }),
      ).toString('base64url');
      const forged = await call(gw.url, 'GET', `/v1/i/${bob.did}/profile`, {
        token: `${h}.${swapped}.${sig}`,
      });
      expect(forged.body).toMatchObject({ error: 'invalid_token', details: { reason: 'bad_token' } });
      // Expired.
      gw.clock.skew = 16 * 60 * 1000;
      try {
        const late = await call(gw.url, 'GET', `/v1/i/${alice.did}/profile`, { token });
        expect(late.body).toMatchObject({ error: 'invalid_token', details: { reason: 'expired' } });
      } finally {
        gw.clock.skew = 0;
      }
      // The person's own session still works as before.
      const own = await call(gw.url, 'PUT', `/v1/i/${alice.did}/data/notes/a`, {
        token: aliceSession,
        body: 'mine',
      });
      expect(own.status, JSON.stringify(own.body)).toBe(200);
    });
  });

  describe('revocation (RFC 7009)', () => {
    it('a refresh or access token revokes its whole family; anything else is a quiet 200', async () => {
      const p = pkce();
      const a = await exchange(pub, mintCode(pub, p), p);
      const revoke = await form(gw.url, '/oauth/revoke', {
        token: a.body.refresh_token as string,
        token_type_hint: 'refresh_token',
        client_id: pub.appId,
      });
      expect(revoke.status).toBe(200);
      const use = await call(gw.url, 'GET', `/v1/i/${alice.did}/profile`, {
        token: a.body.access_token as string,
      });
      expect(use.body).toMatchObject({ error: 'invalid_token', details: { reason: 'token_revoked' } });

      const q = pkce();
      const b = await exchange(pub, mintCode(pub, q), q);
      expect(
        (await form(gw.url, '/oauth/revoke', { token: b.body.access_token as string, client_id: pub.appId }))
          .status,
      ).toBe(200);
      expectOAuthError(
        await form(gw.url, '/oauth/token', {
          grant_type: 'refresh_token',
          refresh_token: b.body.refresh_token as string,
          client_id: pub.appId,
        }),
        400,
        'invalid_grant',
      );

      for (const token of ['nonsense', `self_rt_${'A'.repeat(43)}`, 'a.b.c'])
        expect((await form(gw.url, '/oauth/revoke', { token, client_id: pub.appId })).status).toBe(200);
      // Another client's token: 200, and it stays valid.
      const r = pkce();
      const c = await exchange(conf, mintCode(conf, r), r);
      expect(
        (await form(gw.url, '/oauth/revoke', { token: c.body.refresh_token as string, client_id: pub.appId }))
          .status,
      ).toBe(200);
      const still = await form(
        gw.url,
        '/oauth/introspect',
        { token: c.body.refresh_token as string },
        basic(conf.appId, conf.secret!),
      );
      expect(still.body.active).toBe(true);
      // Client authentication is still required.
      expectOAuthError(await form(gw.url, '/oauth/revoke', { token: 'x' }), 401, 'invalid_client');
    });
  });

  describe('introspection (RFC 7662)', () => {
    it('answers the app’s own client or its developer, and active: false to everyone else', async () => {
      const p = pkce();
      const t = await exchange(conf, mintCode(conf, p), p);
      const access = t.body.access_token as string;
      const own = await form(gw.url, '/oauth/introspect', { token: access }, basic(conf.appId, conf.secret!));
      expect(own.status).toBe(200);
      expect(own.headers.get('cache-control')).toBe('no-store');
      expect(own.body).toMatchObject({
        active: true,
        scope: 'profile:read storage:read',
        client_id: conf.appId,
        sub: alice.did,
        aud: `${gw.url}/v1/i/${alice.did}`,
        iss: gw.url,
        token_type: 'Bearer',
        grant: t.body.grant_id,
        exp: expect.any(Number),
        iat: expect.any(Number),
      });
      const refresh = await form(
        gw.url,
        '/oauth/introspect',
        { token: t.body.refresh_token as string },
        basic(conf.appId, conf.secret!),
      );
      expect(refresh.body).toMatchObject({
        active: true,
        token_type: 'refresh_token',
        client_id: conf.appId,
      });

      const byDeveloper = await form(
        gw.url,
        '/oauth/introspect',
        { token: access },
        { authorization: `Bearer ${devKey}` },
      );
      expect(byDeveloper.body).toMatchObject({ active: true, client_id: conf.appId });
      const byStranger = await form(
        gw.url,
        '/oauth/introspect',
        { token: access },
        { authorization: `Bearer ${strangerKey}` },
      );
      expect(byStranger.body).toEqual({ active: false });
      const byOther = await form(
        gw.url,
        '/oauth/introspect',
        { token: access },
        basic(other.appId, other.secret!),
      );
      expect(byOther.body).toEqual({ active: false });
      expect(
        (await form(gw.url, '/oauth/introspect', { token: 'junk' }, basic(conf.appId, conf.secret!))).body,
      ).toEqual({
        active: false,
      });

      // Public clients and bad keys cannot introspect.
      expectOAuthError(
        await form(gw.url, '/oauth/introspect', { token: access, client_id: pub.appId }),
        401,
        'invalid_client',
      );
      expectOAuthError(
        await form(
          gw.url,
          '/oauth/introspect',
          { token: access },
          { authorization: `Bearer self_dk_${'A'.repeat(43)}` },
        ),
        401,
        'invalid_client',
      );

      await form(gw.url, '/oauth/revoke', { token: access }, basic(conf.appId, conf.secret!));
      expect(
        (await form(gw.url, '/oauth/introspect', { token: access }, basic(conf.appId, conf.secret!))).body,
      ).toEqual({
        active: false,
      });
    });
  });
});
