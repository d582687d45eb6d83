import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSignIn, type DeviceIdentity } from '@self/crypto';
import { startTestChain, type TestChain } from './support/chain.js';
import { call, startTestCloud, PUBLIC_URL, type TestCloud } from './support/cloud.js';
import { b64url, didCreate, person, signedTx } from './support/people.js';

const HOUR = 60 * 60 * 1000;

/**
 * Sign-in by challenge–response, sessions and the operator token, against a real chain. The
 * gateway's clock is a variable here, so expiry is tested by moving it, not by waiting.
 */
describe('sign-in and sessions', () => {
  let chain: TestChain;
  let gw: TestCloud;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let frank: DeviceIdentity;
  let clock = Date.now();

  beforeAll(async () => {
    [alice, bob, frank] = ['alice', 'bob', 'frank'].map(person) as [
      DeviceIdentity,
      DeviceIdentity,
      DeviceIdentity,
    ];
    chain = await startTestChain('self-cloud-auth');
    gw = await startTestCloud(chain, {
      now: () => clock,
      sessionTtlMs: 2 * HOUR,
      challengeTtlMs: 5 * 60_000,
    });
    for (const p of [alice, bob]) {
      const res = await call(gw.url, 'POST', '/v1/signup', {
        json: { tier: 'free', transaction: didCreate(p, { chainId: chain.chainId }) },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  const challenge = async (did: string) => {
    const res = await call(gw.url, 'POST', '/v1/auth/challenge', { json: { did } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { challenge: string; expires_at: number; origin: string };
  };

  /** Signs the challenge as `signer` for `did` and asks for a session. */
  const session = async (
    did: string,
    c: { challenge: string; expires_at: number },
    signer: DeviceIdentity,
    origin = PUBLIC_URL,
  ) => {
    const signature = signSignIn(signer.account, {
      origin,
      did,
      challenge: c.challenge,
      expiresAt: c.expires_at,
    });
    return call(gw.url, 'POST', '/v1/auth/session', {
      json: {
        did,
        challenge: c.challenge,
        public_key: b64url(signer.accountPublicKey),
        signature: b64url(signature),
      },
    });
  };

  const reason = (res: { body: Record<string, unknown> }): unknown =>
    (res.body.details as { reason?: unknown }).reason;

  it('opens a session for a signature by the DID’s account key over the challenge', async () => {
    const c = await challenge(alice.did);
    expect(c.origin).toBe(PUBLIC_URL);
    expect(c.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.expires_at).toBe(clock + 5 * 60_000);
    const res = await session(alice.did, c, alice);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const token = res.body.token as string;
    expect(token).toMatch(/^self_s_[A-Za-z0-9_-]{43}$/);
    expect(res.body.expires_at).toBe(clock + 2 * HOUR);
    const me = await call(gw.url, 'GET', '/v1/me', { token });
    expect(me.status).toBe(200);
    expect(me.body.did).toBe(alice.did);
    expect(me.body.test).toBe(false);
  });

  it('refuses a replayed challenge, even with the signature that just worked', async () => {
    const c = await challenge(alice.did);
    expect((await session(alice.did, c, alice)).status).toBe(201);
    const replay = await session(alice.did, c, alice);
    expect(replay.status).toBe(401);
    expect(replay.body.error).toBe('unauthenticated');
    expect(reason(replay)).toBe('unknown_challenge');
  });

  it('refuses the wrong key, a bad signature, another origin and another DID’s challenge — each using the challenge up', async () => {
    const c1 = await challenge(alice.did);
    const wrongKey = await session(alice.did, c1, bob);
    expect(wrongKey.status).toBe(401);
    expect(reason(wrongKey)).toBe('wrong_key');
    // The challenge is gone after a failed attempt, so a second guess needs a new one.
    expect(reason(await session(alice.did, c1, alice))).toBe('unknown_challenge');

    const c2 = await challenge(alice.did);
    const forged = signSignIn(bob.account, {
      origin: PUBLIC_URL,
      did: alice.did,
      challenge: c2.challenge,
      expiresAt: c2.expires_at,
    });
    const badSig = await call(gw.url, 'POST', '/v1/auth/session', {
      json: {
        did: alice.did,
        challenge: c2.challenge,
        public_key: b64url(alice.accountPublicKey),
        signature: b64url(forged),
      },
    });
    expect(badSig.status).toBe(401);
    expect(reason(badSig)).toBe('bad_signature');

    const c3 = await challenge(alice.did);
    const phished = await session(alice.did, c3, alice, 'https://cloud.evil.example');
    expect(phished.status).toBe(401);
    expect(reason(phished)).toBe('bad_signature');

    const c4 = await challenge(bob.did);
    const crossed = await session(alice.did, c4, alice);
    expect(crossed.status).toBe(401);
    expect(reason(crossed)).toBe('unknown_challenge');

    const made = await call(gw.url, 'POST', '/v1/auth/session', {
      json: {
        did: alice.did,
        challenge: 'A'.repeat(43),
        public_key: b64url(alice.accountPublicKey),
        signature: 'AAAA',
      },
    });
    expect(made.status).toBe(401);
    expect(reason(made)).toBe('unknown_challenge');
  });

  it('refuses an expired challenge', async () => {
    const c = await challenge(alice.did);
    clock += 5 * 60_000;
    try {
      const res = await session(alice.did, c, alice);
      expect(res.status).toBe(401);
      expect(reason(res)).toBe('challenge_expired');
    } finally {
      clock -= 5 * 60_000;
    }
  });

  it('refuses a DID that is not on chain, and one on chain without an account here', async () => {
    const c = await challenge(frank.did);
    const res = await session(frank.did, c, frank);
    expect(res.status).toBe(401);
    expect(reason(res)).toBe('did_not_on_chain');

    // Frank creates his DID directly on chain, not through this cloud.
    const faucetNonce = (await chain.client.account(chain.faucetAddress)).nonce;
    const grant = signedTx(
      chain.faucet,
      'transfer',
      { to: frank.address, amount: 1_000 },
      { chainId: chain.chainId, nonce: faucetNonce + 1 },
    );
    await chain.client.waitForTransaction(
      (await chain.client.submitTransaction(Buffer.from(grant, 'base64url'))).hash,
    );
    const created = await chain.client.submitTransaction(
      Buffer.from(didCreate(frank, { chainId: chain.chainId }), 'base64url'),
    );
    await chain.client.waitForTransaction(created.hash);
    const c2 = await challenge(frank.did);
    const noAccount = await session(frank.did, c2, frank);
    expect(noAccount.status).toBe(401);
    expect(reason(noAccount)).toBe('no_account');
  });

  it('checks the request shape: a bad DID or encoding is 400', async () => {
    const bad = await call(gw.url, 'POST', '/v1/auth/challenge', { json: { did: 'did:self:nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
    const extra = await call(gw.url, 'POST', '/v1/auth/challenge', { json: { did: alice.did, admin: true } });
    expect(extra.status).toBe(400);
    const notB64 = await call(gw.url, 'POST', '/v1/auth/session', {
      json: { did: alice.did, challenge: 'A'.repeat(43), public_key: 'a+b/', signature: 'AAAA' },
    });
    expect(notB64.status).toBe(400);
  });

  it('answers 401 for a missing, malformed, forged, expired or logged-out token', async () => {
    const c = await challenge(alice.did);
    const token = (await session(alice.did, c, alice)).body.token as string;
    const other = (await session(alice.did, await challenge(alice.did), alice)).body.token as string;
    const me = (t?: string) => call(gw.url, 'GET', '/v1/me', t === undefined ? {} : { token: t });

    expect((await me(token)).status).toBe(200);
    const missing = await me();
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(reason(missing)).toBe('missing_token');
    expect((await me('self_s_short')).status).toBe(401);
    // The right shape, never issued.
    const forged = `self_s_${Buffer.alloc(32, 7).toString('base64url')}`;
    const forgedRes = await me(forged);
    expect(forgedRes.status).toBe(401);
    expect(reason(forgedRes)).toBe('invalid_session');
    // A token differing in its last character.
    const flipped = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect((await me(flipped)).status).toBe(401);
    const basic = await call(gw.url, 'GET', '/v1/me', { headers: { authorization: `Basic ${token}` } });
    expect(basic.status).toBe(401);

    // Logout ends this session only.
    const out = await call(gw.url, 'DELETE', '/v1/auth/session', { token });
    expect(out.status).toBe(204);
    expect((await me(token)).status).toBe(401);
    expect((await call(gw.url, 'DELETE', '/v1/auth/session', { token })).status).toBe(401);
    expect((await me(other)).status).toBe(200);

    // Two hours later every session of then has expired.
    clock += 2 * HOUR;
    try {
      const expired = await me(other);
      expect(expired.status).toBe(401);
      expect((await call(gw.url, 'GET', `/v1/i/${alice.did}/usage`, { token: other })).status).toBe(401);
    } finally {
      clock -= 2 * HOUR;
    }
    // And stays expired when the clock is back (the expired row is gone).
    expect((await me(other)).status).toBe(401);
  });

  it('opens /v1/admin only with the operator token, which lives in a 0600 file', async () => {
    const file = join(gw.dataDir, 'operator.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(gw.cloud.operatorToken);
    expect(gw.cloud.operatorToken).toMatch(/^self_op_[A-Za-z0-9_-]{43}$/);

    const none = await call(gw.url, 'GET', '/v1/admin/instances');
    expect(none.status).toBe(401);
    const c = await challenge(alice.did);
    const personToken = (await session(alice.did, c, alice)).body.token as string;
    expect((await call(gw.url, 'GET', '/v1/admin/instances', { token: personToken })).status).toBe(401);
    const wrong = `self_op_${Buffer.alloc(32, 1).toString('base64url')}`;
    expect((await call(gw.url, 'GET', '/v1/admin/instances', { token: wrong })).status).toBe(401);

    const ok = await call(gw.url, 'GET', '/v1/admin/instances', { token: gw.cloud.operatorToken });
    expect(ok.status).toBe(200);
    const instances = ok.body.instances as Array<{
      did: string;
      account: { address: string; state: string };
    }>;
    expect(instances.map((i) => i.did).sort()).toEqual([alice.did, bob.did].sort());
    expect(instances.find((i) => i.did === alice.did)!.account).toMatchObject({
      address: alice.address,
      state: 'active',
    });
  });

  it('lets the operator stop an instance, which the next request of its person starts again', async () => {
    const c = await challenge(alice.did);
    const token = (await session(alice.did, c, alice)).body.token as string;
    const usage = `/v1/i/${alice.did}/usage`;
    expect((await call(gw.url, 'GET', usage, { token })).status).toBe(200);

    const stopPath = `/v1/admin/instances/${alice.did}/stop`;
    expect((await call(gw.url, 'POST', stopPath, { token })).status).toBe(401);
    const stopped = await call(gw.url, 'POST', stopPath, { token: gw.cloud.operatorToken });
    expect(stopped.status).toBe(200);
    expect(stopped.body).toEqual({ did: alice.did, state: 'stopped' });
    const unknown = await call(gw.url, 'POST', '/v1/admin/instances/did:self:nobody/stop', {
      token: gw.cloud.operatorToken,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('not_found');

    const again = await call(gw.url, 'GET', usage, { token });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ objects: expect.any(Number) });
  });

  it('answers unknown routes 404 and known paths with the wrong method 405, in the error shape', async () => {
    const missing = await call(gw.url, 'GET', '/v1/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: 'not_found' });
    const wrongMethod = await call(gw.url, 'GET', '/v1/signup');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(wrongMethod.body.error).toBe('method_not_allowed');
    expect((await call(gw.url, 'GET', '/health')).body).toEqual({ status: 'ok' });
  });
});
