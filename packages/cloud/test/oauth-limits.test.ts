import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newGrantId, type DeviceIdentity } from '@self/crypto';
import { CodeStore } from '../src/oauth/codes.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { call } from './support/cloud.js';
import { didCreate, people } from './support/people.js';
import {
  form,
  insertApp,
  insertDeveloper,
  pkce,
  startOAuthCloud,
  type OAuthCloud,
  type TestApp,
} from './oauth-fixtures.js';

/**
 * Rate limits of apps and of the OAuth endpoints: an app request takes a token from the app's
 * bucket and from the person's own; a refusal names the bucket; OAuth endpoints and bad tokens are
 * counted per IP address. Buckets are tiny here (partner 3, anonymous 4) and callers are told
 * apart by X-Forwarded-For (trustProxy).
 */
describe('oauth rate limits', () => {
  let chain: TestChain;
  let gw: OAuthCloud;
  let alice: DeviceIdentity;
  let carol: DeviceIdentity;
  let carolSession: string;
  let tightApp: TestApp;
  let roomyApp: TestApp;
  let ipCounter = 0;
  /** A fresh client address per call unless one is given: each has a full anonymous bucket. */
  const from = (ip?: string): Record<string, string> => ({
    'x-forwarded-for': ip ?? `10.1.0.${++ipCounter}`,
  });

  beforeAll(async () => {
    [alice, carol] = people('oauth-rl-alice', 'oauth-rl-carol');
    chain = await startTestChain('self-cloud-oauth-limits');
    gw = await startOAuthCloud(chain, {
      trustProxy: true,
      rateLimit: {
        classes: { partner: { perMinute: 1, burst: 3 }, anonymous: { perMinute: 1, burst: 4 } },
      },
    });
    const signup = async (p: DeviceIdentity, tier: string): Promise<string> => {
      const res = await call(gw.url, 'POST', '/v1/signup', {
        json: { tier, transaction: didCreate(p, { chainId: chain.chainId }) },
        headers: from(),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return (res.body.session as { token: string }).token;
    };
    await signup(alice, 'free');
    // Pro is in the partner class: carol's own bucket is the tiny one.
    carolSession = await signup(carol, 'pro');
    const dev = insertDeveloper(gw.db, alice.did);
    tightApp = insertApp(gw.db, dev, { rateClass: 'partner' });
    roomyApp = insertApp(gw.db, dev, { rateClass: 'authenticated' });
  }, 120_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  async function accessToken(app: TestApp, p: DeviceIdentity): Promise<string> {
    const pair = pkce();
    const code = new CodeStore(gw.db, Date.now).issue({
      requestId: 'req_test',
      clientId: app.appId,
      did: p.did,
      grantId: newGrantId(),
      scopes: ['profile:read'],
      redirectUri: app.redirectUri,
      codeChallenge: pair.challenge,
      grantExpiresAt: Date.now() + 86_400_000,
    });
    const res = await form(
      gw.url,
      '/oauth/token',
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: app.redirectUri,
        code_verifier: pair.verifier,
        client_id: app.appId,
      },
      from(),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.access_token as string;
  }

  it('the app’s bucket refuses with limit_scope app, and every answer carries the headers', async () => {
    const token = await accessToken(tightApp, alice);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(gw.url, 'GET', `/v1/i/${alice.did}/profile`, { token, headers: from() });
      expect(res.status).not.toBe(429);
      expect(res.headers.get('x-ratelimit-limit')).toBe('3');
      remaining.push(res.headers.get('x-ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await call(gw.url, 'GET', `/v1/i/${alice.did}/profile`, { token, headers: from() });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({
      error: 'rate_limit_exceeded',
      details: { limit_scope: 'app', limit: 3 },
    });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('the person’s own bucket is shared with their apps: limit_scope person', async () => {
    const token = await accessToken(roomyApp, carol);
    for (let i = 0; i < 2; i++)
      expect((await call(gw.url, 'GET', '/v1/me', { token: carolSession, headers: from() })).status).toBe(
        200,
      );
    const last = await call(gw.url, 'GET', `/v1/i/${carol.did}/profile`, { token, headers: from() });
    expect(last.status).not.toBe(429);
    // The tighter bucket is carol's: 0 left of 3.
    expect(last.headers.get('x-ratelimit-limit')).toBe('3');
    expect(last.headers.get('x-ratelimit-remaining')).toBe('0');
    const refused = await call(gw.url, 'GET', `/v1/i/${carol.did}/profile`, { token, headers: from() });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ details: { limit_scope: 'person' } });
    const own = await call(gw.url, 'GET', '/v1/me', { token: carolSession, headers: from() });
    expect(own.status).toBe(429);
    expect(own.body).toMatchObject({ details: { limit_scope: 'person' } });
  });

  it('OAuth endpoints and bad tokens are counted per IP address', async () => {
    const ip = '10.9.9.9';
    for (let i = 0; i < 4; i++)
      expect((await form(gw.url, '/oauth/token', { grant_type: 'password' }, from(ip))).status).toBe(400);
    const token = await form(gw.url, '/oauth/token', { grant_type: 'password' }, from(ip));
    expect(token.status).toBe(429);
    expect(token.body).toMatchObject({ error: 'rate_limit_exceeded', details: { limit_scope: 'ip' } });
    expect(token.headers.get('retry-after')).not.toBeNull();
    for (const path of ['/oauth/revoke', '/oauth/introspect'])
      expect((await form(gw.url, path, { token: 'x' }, from(ip))).status).toBe(429);
    expect((await fetch(`${gw.url}/oauth/authorize?client_id=x`, { headers: from(ip) })).status).toBe(429);

    const other = '10.9.9.10';
    const forged = `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.e30.${'A'.repeat(86)}`;
    for (let i = 0; i < 4; i++) {
      const res = await call(gw.url, 'GET', `/v1/i/${alice.did}/profile`, {
        token: forged,
        headers: from(other),
      });
      expect(res.status).toBe(401);
    }
    const spam = await call(gw.url, 'GET', `/v1/i/${alice.did}/profile`, {
      token: forged,
      headers: from(other),
    });
    expect(spam.status).toBe(429);
    expect(spam.body).toMatchObject({ details: { limit_scope: 'ip' } });
  });
});
