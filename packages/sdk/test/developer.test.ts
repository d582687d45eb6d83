import { describe, expect, it } from 'vitest';
import { SELFClient, SELFDeveloper } from '../src/index.js';
import { APP_ID, DID, FakeCloud, ISSUER, REDIRECT } from './fake-cloud.js';

function setup() {
  const cloud = new FakeCloud();
  const dev = new SELFDeveloper({
    apiKey: 'self_dk_test',
    environment: { baseUrl: ISSUER },
    fetch: cloud.fetch,
  });
  const client = new SELFClient({
    appId: APP_ID,
    environment: { baseUrl: ISSUER },
    redirectUri: REDIRECT,
    fetch: cloud.fetch,
  });
  return { cloud, dev, client };
}

describe('SELFDeveloper', () => {
  it('makes a test user who approves an authorization URL; the app finishes the sign-in', async () => {
    const { cloud, dev, client } = setup();
    const user = await dev.createTestUser({ tier: 'pro' });
    expect(user).toMatchObject({ did: DID, tier: 'pro', sessionToken: 'sess_1', sessionExpiresAt: 1234 });
    const create = cloud.calls.at(-1);
    expect(create?.headers.get('authorization')).toBe('Bearer self_dk_test');
    expect(JSON.parse(create?.body ?? '')).toEqual({ tier: 'pro' });

    const a = await client.authorizationUrl({ permissions: ['ai:chat'] });
    const decision = await user.approve(a.url, { expiresIn: 3600 });
    const open = cloud.calls.find((c) => c.url.pathname === '/oauth/authorize');
    expect(open?.headers.get('accept')).toBe('application/json');
    const consent = cloud.calls.at(-1);
    expect(consent?.url.pathname).toBe(`/v1/developers/test-users/${encodeURIComponent(DID)}/consent`);
    expect(JSON.parse(consent?.body ?? '')).toEqual({ request: 'req_1', approve: true, expires_in: 3600 });
    expect(decision).toMatchObject({ state: a.state, iss: ISSUER, error: undefined });
    expect(decision.code).toMatch(/^self_ac_/);
    const session = await client.handleRedirect(decision.redirectTo, { pending: a });
    expect(session.did).toBe(DID);
  });

  it('deny answers access_denied, which the app sees as PERMISSION_DENIED', async () => {
    const { dev, client } = setup();
    const user = await dev.createTestUser();
    expect(user.tier).toBe('free');
    const a = await client.authorizationUrl({ permissions: ['ai:chat'] });
    const decision = await user.deny(a.url);
    expect(decision).toMatchObject({ error: 'access_denied', code: undefined, state: a.state });
    await expect(client.handleRedirect(decision.redirectTo, { pending: a })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
  });

  it('an authorization the server redirects with an error is that error; other hosts are refused', async () => {
    const { dev, client } = setup();
    const user = await dev.createTestUser();
    const a = await client.authorizationUrl({ permissions: ['bogus'] });
    await expect(user.approve(a.url)).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      reason: 'invalid_scope',
    });
    await expect(user.approve('http://elsewhere.test/oauth/authorize?x=1')).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
  });

  it('lists apps; a wrong key is UNAUTHENTICATED', async () => {
    const { cloud, dev } = setup();
    expect(await dev.listApps()).toEqual([
      {
        appId: APP_ID,
        name: 'Notes',
        clientType: 'public',
        redirectUris: [REDIRECT],
        scopes: ['ai:chat'],
        active: true,
        raw: expect.any(Object),
      },
    ]);
    const bad = new SELFDeveloper({
      apiKey: 'self_dk_wrong',
      environment: { baseUrl: ISSUER },
      fetch: cloud.fetch,
    });
    await expect(bad.createTestUser()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
