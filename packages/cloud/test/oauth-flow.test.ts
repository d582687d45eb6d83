import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceIdentity } from '@self/crypto';
import { deriveAppId } from '@self/chain';
import { startTestChain, type TestChain } from './support/chain.js';
import { call, startTestCloud } from './support/cloud.js';
import { people, signedTx } from './support/people.js';
import {
  approve,
  form,
  newRequest,
  pkce,
  queryOf,
  signUp,
  startOAuthCloud,
  type OAuthCloud,
  type Pkce,
  type TestApp,
} from './oauth-fixtures.js';

interface Tokens {
  access_token: string;
  refresh_token: string;
  scope: string;
  grant_id: string;
}

/**
 * The whole flow with real instances: an app registered on chain by its developer, a person who
 * approves with a consent signed by their own key, the instance storing the grant, tokens that
 * reach the instance through the gateway, refresh with rotation and reuse detection, and every
 * way a grant is revoked taking effect at once. Test users approve through the cloud.
 */
describe('oauth flow', () => {
  let chain: TestChain;
  let gw: OAuthCloud;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let dev: DeviceIdentity;
  let aliceSession: string;
  let bobSession: string;
  let apiKey: string;
  let app: TestApp;

  beforeAll(async () => {
    [alice, bob, dev] = people('oauth-fl-alice', 'oauth-fl-bob', 'oauth-fl-dev');
    chain = await startTestChain('self-cloud-oauth-flow');
    gw = await startOAuthCloud(chain);
    aliceSession = await signUp(gw, chain, alice);
    bobSession = await signUp(gw, chain, bob);
    const devSession = await signUp(gw, chain, dev);
    const reg = await call(gw.url, 'POST', '/v1/developers/register', {
      token: devSession,
      json: { email: 'dev@example.com', project: 'Notes' },
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    apiKey = reg.body.api_key as string;
    // The developer's device signs app.register; the cloud relays it and mirrors the client.
    const nonce = (await chain.client.account(dev.address)).nonce + 1;
    const body = {
      app_id: deriveAppId(dev.address, nonce),
      name: 'Notes on chain',
      logo_uri: 'https://notes.example/logo.png',
      redirect_uris: ['https://notes.example/cb'],
      scopes: ['profile:read', 'storage:read', 'storage:write', 'chain:read'],
    };
    const created = await call(gw.url, 'POST', '/v1/developers/apps', {
      token: apiKey,
      json: {
        transaction: signedTx(dev.account, 'app.register', body, { chainId: chain.chainId, nonce }),
        client_type: 'public',
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    app = { appId: body.app_id, secret: null, redirectUri: body.redirect_uris[0]! };
  }, 180_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  const exchange = (code: string, p: Pkce) =>
    form(gw.url, '/oauth/token', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: app.redirectUri,
      code_verifier: p.verifier,
      client_id: app.appId,
    });

  const refresh = (token: string, scope?: string) =>
    form(gw.url, '/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: token,
      client_id: app.appId,
      ...(scope ? { scope } : {}),
    });

  /** authorize → approve (signed by `p`) → code → tokens. */
  async function signIn(
    p: DeviceIdentity,
    session: string,
    scope = 'profile:read storage:read',
  ): Promise<Tokens> {
    const pair = pkce();
    const req = await newRequest(gw, app, pair, { login_hint: p.did, scope });
    const approved = await approve(gw, p, session, req.user_code);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const code = queryOf(approved.body.redirect_to as string).code!;
    const res = await exchange(code, pair);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as unknown as Tokens;
  }

  const profile = (p: DeviceIdentity, token: string) =>
    call(gw.url, 'GET', `/v1/i/${p.did}/profile`, { token });

  it('shows the app as verified on chain', async () => {
    const req = await newRequest(gw, app, pkce(), { login_hint: alice.did });
    const view = await call(gw.url, 'GET', `/v1/consent/requests/${req.request_id}`, { token: aliceSession });
    expect(view.body.request).toMatchObject({
      app: {
        app_id: app.appId,
        name: 'Notes on chain',
        owner_did: dev.did,
        logo_uri: 'https://notes.example/logo.png',
        verified_on_chain: true,
        height: expect.any(Number),
      },
    });
    expect((view.body.request as { app: { height: number } }).app.height).toBeGreaterThan(0);
    const page = await fetch(
      `${gw.url}/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: app.appId,
        redirect_uri: app.redirectUri,
        scope: 'profile:read',
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
      })}`,
    );
    expect(await page.text()).toContain('Verified on SELF Chain');
  });

  it('runs authorize → signed consent → grant at the instance → code → tokens → instance', async () => {
    const pair = pkce();
    const req = await newRequest(gw, app, pair, { login_hint: alice.did, state: 'xyz' });
    const approved = await approve(gw, alice, aliceSession, req.request_id);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const grant = approved.body.grant as Record<string, unknown>;
    expect(grant).toMatchObject({
      app_id: app.appId,
      scopes: ['profile:read', 'storage:read'],
      state: 'active',
    });
    const to = approved.body.redirect_to as string;
    expect(to.startsWith(`${app.redirectUri}?`)).toBe(true);
    const q = queryOf(to);
    expect(q).toMatchObject({ state: 'xyz', iss: gw.url, code: expect.stringMatching(/^self_ac_/) });
    // The page's poll learns the same redirect.
    const poll = await call(gw.url, 'GET', `/oauth/requests/${req.request_id}?poll=${req.poll}`);
    expect(poll.body).toMatchObject({ status: 'approved', redirect_to: to });
    // Approving again: already decided.
    expect((await approve(gw, alice, aliceSession, req.request_id)).status).toBe(409);

    const tokens = await exchange(q.code!, pair);
    expect(tokens.status, JSON.stringify(tokens.body)).toBe(200);
    expect(tokens.body.grant_id).toBe(grant.id);
    const me = await profile(alice, tokens.body.access_token as string);
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body.did).toBe(alice.did);
    // Outside the token's scope (storage:write not granted): the instance refuses.
    const write = await call(gw.url, 'PUT', `/v1/i/${alice.did}/data/notes/a`, {
      token: tokens.body.access_token as string,
      body: 'x',
    });
    expect(write.status, JSON.stringify(write.body)).toBe(403);
    // The instance audited the app's access.
    const audit = await call(gw.url, 'GET', `/v1/i/${alice.did}/audit?limit=100`, { token: aliceSession });
    expect(JSON.stringify(audit.body)).toContain(app.appId);
  });

  it('a token for one person never opens another’s instance', async () => {
    const a = await signIn(alice, aliceSession);
    const res = await profile(bob, a.access_token);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'invalid_token', details: { reason: 'wrong_audience' } });
  });

  it('refresh rotates; a replayed refresh token revokes the whole family', async () => {
    const t = await signIn(alice, aliceSession);
    const next = await refresh(t.refresh_token);
    expect(next.status, JSON.stringify(next.body)).toBe(200);
    expect(next.body.refresh_token).not.toBe(t.refresh_token);
    expect(next.body.grant_id).toBe(t.grant_id);
    expect((await profile(alice, next.body.access_token as string)).status).toBe(200);

    const replay = await refresh(t.refresh_token);
    expect(replay.status).toBe(400);
    expect(replay.body).toMatchObject({ error: 'invalid_grant', details: { reason: 'refresh_reuse' } });
    // Everything of the family is gone: the newest refresh token and both access tokens.
    expect((await refresh(next.body.refresh_token as string)).body.error).toBe('invalid_grant');
    for (const token of [t.access_token, next.body.access_token as string]) {
      const res = await profile(alice, token);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ details: { reason: 'token_revoked' } });
    }
  });

  it('refresh may narrow the scope, never widen it', async () => {
    const t = await signIn(alice, aliceSession);
    const wider = await refresh(t.refresh_token, 'profile:read storage:write');
    expect(wider.status).toBe(400);
    expect(wider.body.error).toBe('invalid_scope');
    const narrower = await refresh(t.refresh_token, 'profile:read');
    expect(narrower.status, JSON.stringify(narrower.body)).toBe(200);
    expect(narrower.body.scope).toBe('profile:read');
    // The refresh token keeps the family's scopes (RFC 6749 §6).
    const back = await refresh(narrower.body.refresh_token as string);
    expect(back.body.scope).toBe('profile:read storage:read');
  });

  it('revoking in SELF ends access and refresh at once, and shows in my apps', async () => {
    const t = await signIn(alice, aliceSession);
    const list = await call(gw.url, 'GET', '/v1/me/apps', { token: aliceSession });
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    const mine = (
      list.body.apps as Array<{ grant: { id: string; state: string }; app: { name: string } }>
    ).find((a) => a.grant.id === t.grant_id);
    expect(mine).toMatchObject({
      grant: { state: 'active' },
      app: { name: 'Notes on chain', app_id: app.appId },
    });
    // Bob cannot revoke alice's grant.
    expect(
      (await call(gw.url, 'POST', `/v1/me/apps/${t.grant_id}/revoke`, { token: bobSession })).status,
    ).toBe(404);
    expect((await profile(alice, t.access_token)).status).toBe(200);

    const revoked = await call(gw.url, 'POST', `/v1/me/apps/${t.grant_id}/revoke`, { token: aliceSession });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body.grant).toMatchObject({ id: t.grant_id, state: 'revoked' });
    expect((await profile(alice, t.access_token)).body).toMatchObject({
      details: { reason: 'token_revoked' },
    });
    expect((await refresh(t.refresh_token)).body.error).toBe('invalid_grant');
    const after = await call(gw.url, 'GET', '/v1/me/apps', { token: aliceSession });
    expect(JSON.stringify(after.body)).toContain('"revoked"');
  });

  it('a grant revoked at the instance (by the person or the app) ends its tokens too', async () => {
    const byPerson = await signIn(alice, aliceSession);
    const del = await call(gw.url, 'DELETE', `/v1/i/${alice.did}/grants/${byPerson.grant_id}`, {
      token: aliceSession,
    });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect((await profile(alice, byPerson.access_token)).body).toMatchObject({
      details: { reason: 'token_revoked' },
    });

    const byApp = await signIn(alice, aliceSession);
    const giveUp = await call(gw.url, 'DELETE', `/v1/i/${alice.did}/grant`, { token: byApp.access_token });
    expect(giveUp.status, JSON.stringify(giveUp.body)).toBe(200);
    expect((await refresh(byApp.refresh_token)).body.error).toBe('invalid_grant');

    // Revoked behind the gateway's back (straight at the instance): the next refresh asks the
    // instance, learns it, and revokes the family.
    const hidden = await signIn(alice, aliceSession);
    const direct = await gw.provisioner.forward(alice.did, {
      method: 'DELETE',
      path: `/v1/grants/${hidden.grant_id}`,
      headers: { 'x-self-actor': 'person', 'x-self-did': alice.did },
    });
    expect(direct.status).toBe(200);
    // The instance refuses the still-unexpired access token itself.
    const refused = await profile(alice, hidden.access_token);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: 'invalid_token', details: { reason: 'grant_revoked' } });
    const r = await refresh(hidden.refresh_token);
    expect(r.body).toMatchObject({ error: 'invalid_grant', details: { reason: 'grant_revoked' } });
    expect((await profile(alice, hidden.access_token)).body).toMatchObject({
      details: { reason: 'token_revoked' },
    });
  });

  describe('test users', () => {
    it('the developer approves or denies as their test user, signed with its key', async () => {
      const made = await call(gw.url, 'POST', '/v1/developers/test-users', {
        token: apiKey,
        json: { tier: 'free' },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      const did = made.body.did as string;
      const session = (made.body.session as { token: string }).token;

      const pair = pkce();
      const req = await newRequest(gw, app, pair, { login_hint: did });
      const consent = (json: unknown, token = apiKey) =>
        call(gw.url, 'POST', `/v1/developers/test-users/${did}/consent`, { token, json });
      // Someone else's key, or no key: refused.
      expect((await consent({ request: req.user_code, approve: true }, bobSession)).status).toBe(401);
      const ok = await consent({ request: req.user_code, approve: true, expires_in: 3_600 });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect(ok.body.grant).toMatchObject({ app_id: app.appId, state: 'active' });
      const code = queryOf(ok.body.redirect_to as string).code!;
      const tokens = await exchange(code, pair);
      expect(tokens.status).toBe(200);
      const me = await call(gw.url, 'GET', `/v1/i/${did}/profile`, {
        token: tokens.body.access_token as string,
      });
      expect(me.status).toBe(200);
      // The grant is in the test user's own list, for an hour.
      const apps = await call(gw.url, 'GET', '/v1/me/apps', { token: session });
      const g = (apps.body.apps as Array<{ grant: { issued_at: number; expires_at: number } }>)[0]!.grant;
      expect(g.expires_at - g.issued_at).toBe(3_600_000);

      const denied = await newRequest(gw, app, pkce(), { login_hint: did });
      const no = await consent({ request: denied.request_id, approve: false });
      expect(no.status).toBe(200);
      expect(queryOf(no.body.redirect_to as string).error).toBe('access_denied');
      // A request bound to a real person is not the test user's to decide.
      const alices = await newRequest(gw, app, pkce(), { login_hint: alice.did });
      expect((await consent({ request: alices.request_id, approve: true })).status).toBe(403);
      // Not a test user of this developer.
      const notMine = await call(gw.url, 'POST', `/v1/developers/test-users/${alice.did}/consent`, {
        token: apiKey,
        json: { request: alices.request_id, approve: true },
      });
      expect(notMine.status).toBe(404);
    });

    it('is refused on a production cloud', async () => {
      const production = await startTestCloud(chain, { environment: 'production' });
      try {
        const res = await call(production.url, 'POST', `/v1/developers/test-users/${alice.did}/consent`, {
          token: apiKey,
          json: { request: 'BCDF-GHJK', approve: true },
        });
        expect(res.status).toBe(403);
        expect(res.body.error).toBe('not_on_production');
      } finally {
        await production.close();
      }
    });
  });
});
