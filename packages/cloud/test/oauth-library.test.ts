import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signConsent, type DeviceIdentity } from '@self/crypto';
import { startTestChain, type TestChain } from './support/chain.js';
import { call } from './support/cloud.js';
import { b64url, people } from './support/people.js';
import {
  insertApp,
  insertDeveloper,
  signUp,
  startOAuthCloud,
  type OAuthCloud,
  type TestApp,
} from './oauth-fixtures.js';

/**
 * A standard OAuth client library, used exactly as its documentation says (plain http allowed
 * because the test gateway listens on 127.0.0.1), completes the whole flow: discovery, PKCE, the
 * authorization URL, the response with `iss` checked, code exchange, refresh, revocation and
 * introspection; and validates our access token as an RFC 9068 resource server would.
 */
describe('oauth with oauth4webapi', () => {
  let chain: TestChain;
  let gw: OAuthCloud;
  let alice: DeviceIdentity;
  let aliceSession: string;
  let app: TestApp;

  beforeAll(async () => {
    [alice] = people('oauth-lib-alice');
    chain = await startTestChain('self-cloud-oauth-library');
    gw = await startOAuthCloud(chain);
    aliceSession = await signUp(gw, chain, alice);
    const dev = insertDeveloper(gw.db, alice.did);
    app = insertApp(gw.db, dev, {
      clientType: 'confidential',
      redirectUris: ['https://notes.example/callback'],
    });
  }, 120_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  /** The person's device: finds the request by its code, signs the consent, approves. */
  async function approveOnDevice(userCode: string): Promise<string> {
    const view = await call(gw.url, 'GET', `/v1/consent/requests/${userCode}`, { token: aliceSession });
    expect(view.status).toBe(200);
    const r = view.body.request as {
      id: string;
      origin: string;
      grant_id: string;
      app: { app_id: string };
      scopes: Array<{ scope: string }>;
    };
    const issuedAt = Date.now();
    const expiresAt = issuedAt + 30 * 24 * 3600 * 1000;
    const signature = signConsent(alice.account, {
      origin: r.origin,
      did: alice.did,
      grant: r.grant_id,
      app: r.app.app_id,
      scopes: r.scopes.map((s) => s.scope),
      issuedAt,
      expiresAt,
    });
    const res = await call(gw.url, 'POST', `/v1/consent/requests/${r.id}/approve`, {
      token: aliceSession,
      json: {
        public_key: b64url(alice.accountPublicKey),
        signature: b64url(signature),
        issued_at: issuedAt,
        expires_at: expiresAt,
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.redirect_to as string;
  }

  it('completes discovery → authorize → token → refresh → revoke → introspect', async () => {
    const insecure = { [oauth.allowInsecureRequests]: true };
    const issuer = new URL(gw.url);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
    );
    expect(as.issuer).toBe(gw.url);
    const client: oauth.Client = { client_id: app.appId };
    const clientAuth = oauth.ClientSecretBasic(app.secret!);

    const verifier = oauth.generateRandomCodeVerifier();
    const challenge = await oauth.calculatePKCECodeChallenge(verifier);
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.searchParams.set('client_id', client.client_id);
    url.searchParams.set('redirect_uri', app.redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', 'profile:read storage:read');
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', 'S256');
    url.searchParams.set('state', state);

    // A browser opens the page; a scripted one reads the same request as JSON.
    const page = await fetch(url, { headers: { accept: 'application/json' } });
    expect(page.status).toBe(200);
    const { user_code: userCode } = (await page.json()) as { user_code: string };
    const redirectTo = await approveOnDevice(userCode);

    const params = oauth.validateAuthResponse(as, client, new URL(redirectTo), state);
    const codeResponse = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      clientAuth,
      params,
      app.redirectUri,
      verifier,
      insecure,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, codeResponse);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('profile:read storage:read');
    expect(tokens.expires_in).toBe(900);

    // A resource server validates the access token per RFC 9068 with the published keys.
    const instanceUrl = tokens.instance_url as string;
    const claims = await oauth.validateJwtAccessToken(
      as,
      new Request(`${instanceUrl}/profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } }),
      instanceUrl,
      insecure,
    );
    expect(claims).toMatchObject({ sub: alice.did, client_id: app.appId, iss: gw.url });

    const profile = await oauth.protectedResourceRequest(
      tokens.access_token,
      'GET',
      new URL(`${instanceUrl}/profile`),
      undefined,
      undefined,
      insecure,
    );
    expect(profile.status).toBe(200);
    expect(((await profile.json()) as { did: string }).did).toBe(alice.did);

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token!, insecure),
    );
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

    const active = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, clientAuth, refreshed.access_token, insecure),
    );
    expect(active).toMatchObject({ active: true, client_id: app.appId, sub: alice.did });

    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, clientAuth, refreshed.refresh_token!, insecure),
    );
    const inactive = await oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, clientAuth, refreshed.access_token, insecure),
    );
    expect(inactive.active).toBe(false);

    // The library sees a refused refresh as the OAuth error it is.
    const again = oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshed.refresh_token!, insecure),
    );
    await expect(again).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('rejects an authorization response without the right iss (RFC 9207 mix-up defence)', async () => {
    const insecure = { [oauth.allowInsecureRequests]: true };
    const issuer = new URL(gw.url);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
    );
    const client: oauth.Client = { client_id: app.appId };
    const forged = new URL(
      `${app.redirectUri}?code=self_ac_x&state=s&iss=${encodeURIComponent('https://evil.example')}`,
    );
    expect(() => oauth.validateAuthResponse(as, client, forged, 's')).toThrow();
    const missing = new URL(`${app.redirectUri}?code=self_ac_x&state=s`);
    expect(() => oauth.validateAuthResponse(as, client, missing, 's')).toThrow();
  });
});
