import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressFromPublicKey, didFromAddress, type DeviceIdentity } from '@self/crypto';
import { CONTROL_DB_FILE, openControlDatabase, type ControlDatabase } from '../src/db/database.js';
import { TestUserStore } from '../src/developers/test-users.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { call, startTestCloud, type TestCloud } from './support/cloud.js';
import { didCreate, people } from './support/people.js';

/**
 * Test users: on a testnet a developer gets synthetic people made exactly as a device signs up
 * (DID on chain, instance, session), whose keys the cloud keeps to act as their device; a
 * production cloud refuses to make any. Also: developer routes are rate-limited as the developer.
 */
describe('developer test users', () => {
  let chain: TestChain;
  let testnet: TestCloud;
  let production: TestCloud;
  let db: ControlDatabase;
  let alice: DeviceIdentity;
  let carol: DeviceIdentity;

  beforeAll(async () => {
    [alice, carol] = people('tu-alice', 'tu-carol');
    chain = await startTestChain('self-cloud-test-users');
    testnet = await startTestCloud(chain);
    production = await startTestCloud(chain, {
      environment: 'production',
      // A small bucket for the developer, a large one for the IP their sign-up comes from.
      rateLimit: {
        classes: { authenticated: { perMinute: 1, burst: 6 }, anonymous: { perMinute: 1_000, burst: 1_000 } },
      },
    });
    db = openControlDatabase(join(testnet.dataDir, CONTROL_DB_FILE));
  }, 120_000);

  afterAll(async () => {
    db?.close();
    await testnet?.close();
    await production?.close();
    await chain?.stop();
  });

  /** Signs a person up on a cloud and registers them as a developer: their API key. */
  async function developer(gw: TestCloud, p: DeviceIdentity): Promise<{ key: string; id: string }> {
    const signup = await call(gw.url, 'POST', '/v1/signup', {
      json: { tier: 'free', transaction: didCreate(p, { chainId: chain.chainId }) },
    });
    expect(signup.status, JSON.stringify(signup.body)).toBe(201);
    const res = await call(gw.url, 'POST', '/v1/developers/register', {
      token: (signup.body.session as { token: string }).token,
      json: { email: 'dev@example.com', project: 'Tests' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { key: res.body.api_key as string, id: (res.body.developer as { id: string }).id };
  }

  it('makes a test user that signs up like a person and is marked as a test', async () => {
    const dev = await developer(testnet, alice);
    expect(
      (await call(testnet.url, 'POST', '/v1/developers/test-users', { json: { tier: 'free' } })).status,
    ).toBe(401);
    expect(
      (
        await call(testnet.url, 'POST', '/v1/developers/test-users', {
          token: dev.key,
          json: { tier: 'gold' },
        })
      ).status,
    ).toBe(400);

    const res = await call(testnet.url, 'POST', '/v1/developers/test-users', {
      token: dev.key,
      json: { tier: 'growth' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ tier: 'growth', test: true });
    const did = res.body.did as string;
    expect(did).toMatch(/^did:self:self1/);
    const session = res.body.session as { token: string; expires_at: number };
    expect(session.token).toMatch(/^self_s_/);
    expect(JSON.stringify(res.body)).not.toMatch(/phrase/);

    // A real account: on chain, with an instance, and its session works like anyone's.
    const resolved = await chain.client.did(did);
    expect(resolved.didDocument).toMatchObject({ id: did });
    const me = await call(testnet.url, 'GET', '/v1/me', { token: session.token });
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body).toMatchObject({ did, tier: 'growth', state: 'active', test: true });
    const put = await call(testnet.url, 'PUT', `/v1/i/${did}/data/notes/a`, {
      token: session.token,
      body: 'hi',
      headers: { 'content-type': 'text/plain' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    const listed = await call(testnet.url, 'GET', '/v1/developers/test-users', { token: dev.key });
    expect(listed.status).toBe(200);
    expect(listed.body.test_users).toEqual([
      { did, tier: 'growth', test: true, created_at: expect.any(Number) },
    ]);

    // The cloud holds its key, for its developer only.
    const store = new TestUserStore(db);
    const keys = store.signingKeyOf(did, dev.id);
    expect(keys?.did).toBe(did);
    expect(didFromAddress(addressFromPublicKey(keys!.account.publicKey))).toBe(did);
    expect(store.signingKeyOf(did, 'dev_someone-else')).toBeNull();
    expect(store.signingKeyOf(alice.did, dev.id)).toBeNull();
  });

  it('never makes test users on a production cloud', async () => {
    const dev = await developer(production, carol);
    const made = await call(production.url, 'POST', '/v1/developers/test-users', {
      token: dev.key,
      json: { tier: 'free' },
    });
    expect(made.status).toBe(403);
    expect(made.body).toMatchObject({ error: 'not_on_production', details: { environment: 'production' } });
    const listed = await call(production.url, 'GET', '/v1/developers/test-users', { token: dev.key });
    expect(listed.status).toBe(403);
    expect(listed.body.error).toBe('not_on_production');

    // Developer routes spend the developer's own bucket, whichever credential they use.
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const res = await call(production.url, 'GET', '/v1/developers/me', { token: dev.key });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(200);
    }
    expect(limited?.body.error).toBe('rate_limit_exceeded');
    expect(limited?.headers.get('retry-after')).toBeTruthy();
  });
});
