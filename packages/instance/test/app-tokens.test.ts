import { FIXED_SCOPES, isValidScope } from '@self/chain';
import { isConsentScope } from '@self/crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Instance } from '../src/instance.js';
import { parseProcessConfig } from '../src/process/protocol.js';
import { createInstanceServer } from '../src/server/index.js';
import { tempRoot } from './fixtures/ai-helpers.js';
import {
  TEST_ISSUER,
  appTokenHeaders,
  grantApp,
  testAppId,
  testIssuer,
  type TestIssuer,
} from './fixtures/app-tokens.js';
import { TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';

/**
 * App tokens at the instance (docs/instance-api.md, "Apps"): the instance verifies each token
 * itself and honours it only with a grant the person signed, so every refusal reason is a test
 * here, each audited as a denied `app.access`.
 */

const { root, remove } = tempRoot('self-app-tokens-');
const OTHER_DID = 'did:self:self1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq';
const NOTES = testAppId('notes');
const SPY = testAppId('spy');
const HOUR = 3600_000;

let clock = Date.now();
let inst: Instance;
let server: FastifyInstance;
let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await testIssuer();
  inst = createTestInstance(testKeys(), { dir: `${root}/inst`, instanceId: 'tokens', now: () => clock });
  server = createInstanceServer(inst, { appTokens: issuer.config, now: () => clock });
});
afterAll(async () => {
  await server.close();
  inst.close();
  remove();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
async function call(
  method: 'GET' | 'PUT' | 'DELETE',
  url: string,
  headers: Record<string, string>,
  payload?: string,
  on: FastifyInstance = server,
): Promise<{ status: number; body: Json; headers: Record<string, unknown> }> {
  const res = await on.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  const json = String(res.headers['content-type'] ?? '').startsWith('application/json');
  return { status: res.statusCode, body: json ? res.json() : res.body, headers: res.headers };
}

/** A grant for `app` with `scopes` and a token for it, minted now. */
async function access(app: string, scopes: string[], over: Parameters<TestIssuer['mint']>[0] | object = {}) {
  const grant = grantApp(inst, { app, scopes }, clock);
  const token = await issuer.mint({
    appId: app,
    scopes,
    grantId: grant.id,
    iat: Math.floor(clock / 1000),
    ...over,
  });
  return { grant, token, headers: appTokenHeaders(token) };
}

async function expectRefused(headers: Record<string, string>, reason: string, on?: FastifyInstance) {
  const before = inst.auditEntries(1, 1000).length;
  const r = await call('GET', '/v1/data/notes', headers, undefined, on);
  expect(r.status, reason).toBe(401);
  expect(r.body, reason).toMatchObject({ error: 'invalid_token', details: { reason } });
  expect(r.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  const entries = inst.auditEntries(1, 1000);
  expect(entries.length, reason).toBe(before + 1);
  const last = entries.at(-1)!;
  expect(last).toMatchObject({
    actor: headers['x-self-did'],
    action: 'app.access',
    scope: 'token',
    outcome: 'denied',
  });
  expect(last.object).toContain(reason);
  return last;
}

describe('verifying an app token', () => {
  it('lets a token for a grant the instance holds act as its app, with its scopes', async () => {
    const { headers } = await access(NOTES, ['storage:read', 'storage:write']);
    expect((await call('PUT', '/v1/data/notes/n1', headers, 'hello')).status).toBe(200);
    expect((await call('GET', '/v1/data/notes/n1', headers)).body).toBe('hello');
    const entry = inst.auditEntries(1, 1000).at(-1)!;
    expect(entry).toMatchObject({ actor: TEST_DID, app: NOTES, action: 'data.get', outcome: 'ok' });
  });

  it('refuses every request when no issuer is configured (no_issuer)', async () => {
    const bare = createInstanceServer(inst, { now: () => clock });
    const { headers } = await access(NOTES, ['storage:read']);
    const last = await expectRefused(headers, 'no_issuer', bare);
    expect(last.app).toBeNull();
    await bare.close();
  });

  it('refuses tokens it cannot verify (bad_token), naming no app', async () => {
    const { grant } = await access(NOTES, ['storage:read']);
    const claims = {
      appId: NOTES,
      scopes: ['storage:read'],
      grantId: grant.id,
      iat: Math.floor(clock / 1000),
    };
    const stranger = await testIssuer();
    const good = await issuer.mint(claims);
    const [h, p, sig] = good.split('.');
    const widened = {
      ...JSON.parse(Buffer.from(p!, 'base64url').toString()),
      scope: 'storage:read storage:write',
    };
    const bad = [
      'not-a-jwt',
      `${h}.${p}.${sig!.slice(0, -2)}AA`, // a damaged signature
      `${h}.${Buffer.from(JSON.stringify(widened)).toString('base64url')}.${sig}`, // claims edited
      await stranger.mint(claims), // another key than the issuer's
      await issuer.mint({ ...claims, iss: 'https://evil.test' }),
      await issuer.mint({ ...claims, typ: 'JWT' }), // not an access token (RFC 9068)
      await issuer.mint({ ...claims, appId: 'notes-app' }),
    ];
    for (const token of bad) {
      const last = await expectRefused(appTokenHeaders(token), 'bad_token');
      expect(last.app).toBeNull();
    }
    // Signed by the issuer but with claims SELF does not issue: the app is named, it is refused.
    const odd = await issuer.mint({ ...claims, scopes: ['storage:everything'] });
    expect((await expectRefused(appTokenHeaders(odd), 'bad_token')).app).toBe(NOTES);
  });

  it('refuses an expired token (expired), even one it verified before', async () => {
    const { headers, grant } = await access(NOTES, ['storage:read'], { ttl: 900 });
    expect((await call('GET', '/v1/data/notes', headers)).status).toBe(200);
    clock += 900_000;
    const last = await expectRefused(headers, 'expired');
    expect(last).toMatchObject({ app: NOTES, object: `grants/${grant.id} expired` });
    clock -= 900_000;
  });

  it("refuses a token for another person's instance (wrong_audience)", async () => {
    const { grant } = await access(NOTES, ['storage:read']);
    const claims = {
      appId: NOTES,
      scopes: ['storage:read'],
      grantId: grant.id,
      iat: Math.floor(clock / 1000),
    };
    // Issued for the other person, sent to this instance.
    await expectRefused(appTokenHeaders(await issuer.mint({ ...claims, did: OTHER_DID })), 'wrong_audience');
    // The audience names this instance but the subject is someone else.
    await expectRefused(appTokenHeaders(await issuer.mint({ ...claims, sub: OTHER_DID })), 'wrong_audience');
    // A good token, forwarded for another DID.
    await expectRefused(appTokenHeaders(await issuer.mint(claims), OTHER_DID), 'wrong_audience');
  });

  it('refuses a token whose grant the instance does not hold for that app (unknown_grant)', async () => {
    const mine = grantApp(inst, { app: NOTES, scopes: ['storage:read'] }, clock);
    const iat = Math.floor(clock / 1000);
    // A control plane minting a token for a grant that was never signed.
    const minted = await issuer.mint({
      appId: SPY,
      scopes: ['storage:read'],
      grantId: 'gr_AAAAAAAAAAAAAAAAAAAAAA',
      iat,
    });
    await expectRefused(appTokenHeaders(minted), 'unknown_grant');
    // Another app's grant.
    const borrowed = await issuer.mint({ appId: SPY, scopes: ['storage:read'], grantId: mine.id, iat });
    await expectRefused(appTokenHeaders(borrowed), 'unknown_grant');
  });

  it('refuses a token with more scopes than its grant (scope_not_granted)', async () => {
    const grant = grantApp(inst, { app: NOTES, scopes: ['storage:read'] }, clock);
    const token = await issuer.mint({
      appId: NOTES,
      scopes: ['storage:read', 'storage:notes:read'],
      grantId: grant.id,
      iat: Math.floor(clock / 1000),
    });
    await expectRefused(appTokenHeaders(token), 'scope_not_granted');
  });

  it('refuses a revoked grant at once, a token verified a moment ago included (grant_revoked)', async () => {
    const { headers, grant } = await access(NOTES, ['storage:read']);
    expect((await call('GET', '/v1/data/notes', headers)).status).toBe(200);
    const person = { 'x-self-actor': 'person', 'x-self-did': TEST_DID };
    expect((await call('DELETE', `/v1/grants/${grant.id}`, person)).status).toBe(200);
    const last = await expectRefused(headers, 'grant_revoked');
    expect(last).toMatchObject({ app: NOTES, object: `grants/${grant.id} grant_revoked` });
  });

  it('refuses a token whose grant has expired (grant_expired)', async () => {
    const grant = grantApp(inst, { app: NOTES, scopes: ['storage:read'], expiresAt: clock + HOUR }, clock);
    clock += HOUR;
    const token = await issuer.mint({
      appId: NOTES,
      scopes: ['storage:read'],
      grantId: grant.id,
      iat: Math.floor(clock / 1000),
    });
    await expectRefused(appTokenHeaders(token), 'grant_expired');
    clock -= HOUR;
  });
});

describe('namespaces with tokens', () => {
  it("keeps each app to its own namespace: another app's keys are invisible, even with person scopes", async () => {
    const a = await access(NOTES, ['storage:read', 'storage:write']);
    const b = await access(SPY, ['storage:read', 'storage:write', 'storage:notes:read']);
    expect((await call('PUT', '/v1/data/diary/entry', a.headers, 'dear diary')).status).toBe(200);
    expect((await call('GET', '/v1/data/diary', b.headers)).body.items).toEqual([]);
    expect((await call('GET', '/v1/data/diary/entry', b.headers)).status).toBe(404);
    expect((await call('GET', '/v1/data/diary/entry?target=person', b.headers)).status).toBe(403);
    expect((await call('GET', '/v1/collections', b.headers)).body.collections).toEqual([]);
    // The person's collection scope reaches the person's notes, never the other app's.
    expect((await call('GET', '/v1/data/notes?target=person', b.headers)).body.items).toEqual([]);
    expect((await call('GET', '/v1/data/diary', a.headers)).body.items.map((i: Json) => i.key)).toEqual([
      'entry',
    ]);
  });
});

describe('the process config', () => {
  const base = { dir: '/srv/i', hostKey: 'a'.repeat(64) };
  const key = { kty: 'OKP', crv: 'Ed25519', x: 'RlyeDM7pESZtmjROOPKAA93R4NidPcJQNaoeU5bSn5A', kid: 'k1' };

  it('takes the token issuer, or none', () => {
    expect(parseProcessConfig(JSON.stringify(base)).appTokens).toBeNull();
    expect(parseProcessConfig(JSON.stringify({ ...base, appTokens: null })).appTokens).toBeNull();
    const appTokens = { issuer: TEST_ISSUER, keys: [key] };
    expect(parseProcessConfig(JSON.stringify({ ...base, appTokens })).appTokens).toEqual(appTokens);
  });

  it('refuses a malformed one, and a private key', () => {
    const bad = [
      { issuer: 'ftp://x', keys: [key] },
      { issuer: `${TEST_ISSUER}/`, keys: [key] },
      { issuer: TEST_ISSUER, keys: [] },
      { issuer: TEST_ISSUER, keys: [{ ...key, crv: 'P-256' }] },
      { issuer: TEST_ISSUER, keys: [{ ...key, d: 'secret' }] },
      { issuer: TEST_ISSUER },
      'yes',
    ];
    for (const appTokens of bad) {
      expect(() => parseProcessConfig(JSON.stringify({ ...base, appTokens }))).toThrow(/appTokens/);
    }
  });
});

describe('the scope grammar', () => {
  it("is the chain's: @self/crypto's isConsentScope agrees with @self/chain's isValidScope", () => {
    const candidates = [
      ...FIXED_SCOPES,
      'storage:notes:read',
      'storage:a:write',
      `storage:${'a'.repeat(32)}:read`,
      `storage:${'a'.repeat(33)}:read`,
      'storage:Notes:read',
      'storage:1notes:read',
      'storage:notes:delete',
      'storage:notes',
      'profile:write',
      'admin',
      '',
      ' storage:read',
    ];
    for (const s of candidates) expect(isConsentScope(s), s).toBe(isValidScope(s));
  });
});
