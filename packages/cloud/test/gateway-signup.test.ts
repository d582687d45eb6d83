import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountKeysFromSeed, sha512, utf8, type DeviceIdentity } from '@self/crypto';
import { decodeSignedTransaction, encodeSignedTransaction } from '@self/chain';
import { createCloud } from '../src/gateway.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { call, startTestCloud, testProvisioner, PUBLIC_URL, type TestCloud } from './support/cloud.js';
import { b64url, didCreate, documentOf, people, signedTx } from './support/people.js';

/**
 * Sign-up against a real single-validator chain: the DID ends up on chain, the instance answers,
 * refusals are clean 4xx, and a sign-up that fails half-way leaves an account that a retry
 * completes. Also the identity relay, which needs a signed-up person.
 */
describe('sign-up', () => {
  let chain: TestChain;
  let gw: TestCloud;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let carol: DeviceIdentity;
  let dave: DeviceIdentity;
  let erin: DeviceIdentity;
  let aliceToken: string;

  beforeAll(async () => {
    [alice, bob, carol, dave, erin] = people('alice', 'bob', 'carol', 'dave', 'erin');
    chain = await startTestChain('self-cloud-signup');
    gw = await startTestCloud(chain);
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  const signup = (json: unknown) => call(gw.url, 'POST', '/v1/signup', { json });

  it('puts the DID on chain, provisions the instance and opens a session', async () => {
    const res = await signup({ tier: 'free', transaction: didCreate(alice, { chainId: chain.chainId }) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      did: alice.did,
      address: alice.address,
      tier: 'free',
      mode: 'always-on',
    });
    const chainPart = res.body.chain as { tx_hash: string; height: number };
    expect(chainPart.tx_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(chainPart.height).toBeGreaterThan(0);

    // The DID resolves on chain with the document the device signed.
    const resolved = await chain.client.did(alice.did);
    expect(resolved.didDocument).toMatchObject({ id: alice.did });
    expect((resolved.didDocumentMetadata as { createdHeight: number }).createdHeight).toBe(chainPart.height);

    // The instance exists, and its address got the sponsor's grant for anchoring fees.
    const instance = res.body.instance as Record<string, string>;
    expect(instance.endpoint).toBe(`${PUBLIC_URL}/v1/i/${alice.did}`);
    expect(instance.public_key).toMatch(/^[0-9a-f]+$/);
    expect((await chain.client.account(instance.address!)).balance).toBeGreaterThan(0);
    expect((await chain.client.account(alice.address)).balance).toBeGreaterThan(0);

    const session = res.body.session as { token: string; expires_at: number };
    expect(session.token).toMatch(/^self_s_[A-Za-z0-9_-]{43}$/);
    aliceToken = session.token;
    const me = await call(gw.url, 'GET', '/v1/me', { token: aliceToken });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ did: alice.did, tier: 'free', state: 'active' });
    expect(me.body.quota).toMatchObject({ bytes: 10_000_000_000 });

    const put = await call(gw.url, 'PUT', `/v1/i/${alice.did}/data/notes/first`, {
      token: aliceToken,
      body: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const got = await fetch(`${gw.url}/v1/i/${alice.did}/data/notes/first`, {
      headers: { authorization: `Bearer ${aliceToken}` },
    });
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('hello');
    expect(got.headers.get('content-type')).toBe('text/plain');
    expect(got.headers.get('etag')).toMatch(/^"/);
  });

  it('refuses a second sign-up of the same DID with 409 exists', async () => {
    const again = await signup({ tier: 'free', transaction: didCreate(alice, { chainId: chain.chainId }) });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('exists');
    // A did.create at the next nonce is no way around it.
    const next = await signup({
      tier: 'pro',
      transaction: didCreate(alice, { chainId: chain.chainId, nonce: 3 }),
    });
    expect(next.status).toBe(409);
    expect(next.body.error).toBe('exists');
  });

  it('refuses malformed, forged, wrong-chain and wrong-kind transactions with 400 and changes nothing', async () => {
    const good = didCreate(bob, { chainId: chain.chainId });
    const stx = decodeSignedTransaction(new Uint8Array(Buffer.from(good, 'base64url')));
    const sig = Uint8Array.from(stx.sig);
    sig[10]! ^= 1;
    const mallory = accountKeysFromSeed(sha512(utf8('mallory')));
    const cases: Array<[string, unknown, string, string?]> = [
      ['not base64url', { tier: 'free', transaction: 'not base64!' }, 'invalid_request'],
      [
        'random bytes',
        { tier: 'free', transaction: b64url(randomBytes(200)) },
        'invalid_transaction',
        'malformed',
      ],
      [
        'a flipped signature bit',
        { tier: 'free', transaction: b64url(encodeSignedTransaction({ ...stx, sig })) },
        'invalid_transaction',
        'bad_signature',
      ],
      [
        'another key named as signer',
        {
          tier: 'free',
          transaction: b64url(encodeSignedTransaction({ ...stx, signer: mallory.account.publicKey })),
        },
        'invalid_transaction',
        'bad_signature',
      ],
      [
        'another chain',
        { tier: 'free', transaction: didCreate(bob, { chainId: 'self-other-1' }) },
        'invalid_transaction',
        'wrong_chain',
      ],
      [
        'a transfer',
        {
          tier: 'free',
          transaction: signedTx(
            bob.account,
            'transfer',
            { to: alice.address, amount: 1 },
            { chainId: chain.chainId },
          ),
        },
        'invalid_transaction',
        'wrong_kind',
      ],
      [
        'a did.update',
        {
          tier: 'free',
          transaction: signedTx(
            bob.account,
            'did.update',
            { document: documentOf(bob) },
            { chainId: chain.chainId },
          ),
        },
        'invalid_transaction',
        'wrong_kind',
      ],
      [
        'nonce 2 on a fresh account',
        { tier: 'free', transaction: didCreate(bob, { chainId: chain.chainId, nonce: 2 }) },
        'invalid_transaction',
        'bad_nonce',
      ],
      [
        'a document whose encryption key is a signing key',
        {
          tier: 'free',
          transaction: signedTx(
            bob.account,
            'did.create',
            { document: documentOf(bob, { encryption_key: bob.accountPublicKey }) },
            { chainId: chain.chainId },
          ),
        },
        'invalid_transaction',
        'invalid_body',
      ],
      [
        'an absurd point price',
        { tier: 'free', transaction: didCreate(bob, { chainId: chain.chainId, pointPrice: 1_000 }) },
        'invalid_transaction',
        'point_price_too_high',
      ],
      ['an unknown tier', { tier: 'gold', transaction: good }, 'invalid_request'],
      ['an unknown field', { tier: 'free', transaction: good, referrer: 'x' }, 'invalid_request'],
      [
        'a quota on the free tier',
        { tier: 'free', transaction: good, quota_bytes: 5_000_000_000 },
        'invalid_request',
      ],
    ];
    for (const [what, body, error, reason] of cases) {
      const res = await signup(body);
      expect(res.status, what).toBe(400);
      expect(res.body.error, what).toBe(error);
      expect(typeof res.body.message, what).toBe('string');
      if (reason) expect((res.body.details as { reason?: string }).reason, what).toBe(reason);
    }
    const notJson = await call(gw.url, 'POST', '/v1/signup', {
      body: 'tier=free',
      headers: { 'content-type': 'text/plain' },
    });
    expect(notJson.status).toBe(415);
    const brokenJson = await call(gw.url, 'POST', '/v1/signup', {
      body: '{"tier":',
      headers: { 'content-type': 'application/json' },
    });
    expect(brokenJson.status).toBe(400);
    // Nothing reached the chain or the provisioner.
    await expect(chain.client.did(bob.did)).rejects.toMatchObject({ status: 404 });
    expect((await gw.provisioner.list()).map((s) => s.did)).not.toContain(bob.did);
  });

  it('signs up people concurrently (one sponsor, serialized nonces) and refuses a concurrent duplicate', async () => {
    // The sponsor key is used elsewhere meanwhile: the sponsor's nonce counter is now behind the
    // chain, and the sign-ups below must recover from the node's bad_nonce.
    const faucetNonce = (await chain.client.account(chain.faucetAddress)).nonce;
    const elsewhere = signedTx(
      chain.faucet,
      'transfer',
      { to: erin.address, amount: 1 },
      { chainId: chain.chainId, nonce: faucetNonce + 1 },
    );
    await chain.client.waitForTransaction(
      (await chain.client.submitTransaction(Buffer.from(elsewhere, 'base64url'))).hash,
    );
    const [b, c, d1, d2] = await Promise.all([
      signup({ tier: 'growth', transaction: didCreate(bob, { chainId: chain.chainId }) }),
      signup({
        tier: 'enterprise',
        quota_bytes: 2_000_000_000_000,
        transaction: didCreate(carol, { chainId: chain.chainId }),
      }),
      signup({ tier: 'pro', mode: 'always-on', transaction: didCreate(dave, { chainId: chain.chainId }) }),
      signup({ tier: 'pro', mode: 'always-on', transaction: didCreate(dave, { chainId: chain.chainId }) }),
    ]);
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.quota_bytes).toBe(2_000_000_000_000);
    expect([d1.status, d2.status].sort()).toEqual([201, 409]);
    const loser = d1.status === 409 ? d1 : d2;
    expect(['in_progress', 'exists']).toContain(loser.body.error);
    for (const p of [bob, carol, dave])
      expect((await chain.client.did(p.did)).didDocument).toMatchObject({ id: p.did });
  });

  it('relays the session’s own did.update and refuses another DID’s or another kind', async () => {
    const aliceNonce = (await chain.client.account(alice.address)).nonce;
    const bobNonce = (await chain.client.account(bob.address)).nonce;
    const instanceKey = accountKeysFromSeed(sha512(utf8('alice-instance-key'))).account.publicKey;
    const update = signedTx(
      alice.account,
      'did.update',
      {
        document: documentOf(alice, {
          delegates: [{ id: 'instance', public_key: instanceKey, purposes: ['anchor', 'node.announce'] }],
          services: [{ id: 'storage', type: 'SelfInstance', endpoint: `${PUBLIC_URL}/v1/i/${alice.did}` }],
        }),
      },
      { chainId: chain.chainId, nonce: aliceNonce + 1 },
    );
    const relay = (token: string, transaction: string) =>
      call(gw.url, 'POST', '/v1/identity/transactions', { token, json: { transaction } });

    const ok = await relay(aliceToken, update);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ kind: 'did.update' });
    const resolved = await chain.client.did(alice.did);
    expect((resolved.didDocumentMetadata as { versionId: string }).versionId).toBe('2');
    expect(JSON.stringify(resolved.didDocument)).toContain('SelfInstance');

    const bobsUpdate = signedTx(
      bob.account,
      'did.update',
      { document: documentOf(bob) },
      { chainId: chain.chainId, nonce: bobNonce + 1 },
    );
    const other = await relay(aliceToken, bobsUpdate);
    expect(other.status).toBe(403);
    expect(other.body.error).toBe('forbidden');
    const transfer = signedTx(
      alice.account,
      'transfer',
      { to: bob.address, amount: 1 },
      { chainId: chain.chainId, nonce: aliceNonce + 2 },
    );
    const wrongKind = await relay(aliceToken, transfer);
    expect(wrongKind.status).toBe(400);
    expect((wrongKind.body.details as { reason: string }).reason).toBe('wrong_kind');
    const noSession = await call(gw.url, 'POST', '/v1/identity/transactions', {
      json: { transaction: update },
    });
    expect(noSession.status).toBe(401);
    // Neither reached the chain.
    expect((await chain.client.account(bob.address)).nonce).toBe(bobNonce);
    expect((await chain.client.account(alice.address)).nonce).toBe(aliceNonce + 1);
  });

  it('closes the account after a relayed did.deactivate', async () => {
    const nonce = (await chain.client.account(alice.address)).nonce + 1;
    const deactivate = signedTx(alice.account, 'did.deactivate', {}, { chainId: chain.chainId, nonce });
    const res = await call(gw.url, 'POST', '/v1/identity/transactions', {
      token: aliceToken,
      json: { transaction: deactivate },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await expect(chain.client.did(alice.did)).rejects.toMatchObject({ status: 410 });
    const me = await call(gw.url, 'GET', '/v1/me', { token: aliceToken });
    expect(me.status).toBe(401);
  });

  it('leaves a failed sign-up resumable: a retry completes it with the same instance', async () => {
    // A cloud whose sponsor has no funds: the grant fails after the instance was provisioned.
    const root = mkdtempSync(join(tmpdir(), 'self-cloud-retry-'));
    const provisioner = testProvisioner(join(root, 'i'));
    const broke = accountKeysFromSeed(sha512(utf8('broke-sponsor')), 'ed25519').account;
    const options = {
      dataDir: join(root, 'cloud'),
      provisioner,
      publicUrl: PUBLIC_URL,
      logger: false as const,
    };
    const first = createCloud({
      ...options,
      chain: { client: chain.client, chainId: chain.chainId, sponsor: broke, pointPrice: 1 },
    });
    const url1 = await first.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const transaction = didCreate(erin, { chainId: chain.chainId });
      const failed = await call(url1, 'POST', '/v1/signup', { json: { tier: 'free', transaction } });
      expect(failed.status).toBe(503);
      expect(failed.body.error).toBe('unavailable');
      expect(failed.headers.get('retry-after')).not.toBeNull();
      await expect(chain.client.did(erin.did)).rejects.toMatchObject({ status: 404 });
      const placed = await provisioner.list();
      expect(placed.map((s) => s.did)).toEqual([erin.did]);
      await first.close();

      // The same data directory with a funded sponsor: the retry resumes and reuses the instance.
      const second = createCloud({
        ...options,
        chain: { client: chain.client, chainId: chain.chainId, sponsor: chain.faucet, pointPrice: 1 },
      });
      const url2 = await second.app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const done = await call(url2, 'POST', '/v1/signup', { json: { tier: 'free', transaction } });
        expect(done.status, JSON.stringify(done.body)).toBe(201);
        expect((done.body.instance as { id: string }).id).toBe(placed[0]!.instanceId);
        expect((await provisioner.list()).length).toBe(1);
        expect((await chain.client.did(erin.did)).didDocument).toMatchObject({ id: erin.did });
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await provisioner.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('counts sign-ups in /metrics', async () => {
    const res = await fetch(`${gw.url}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/self_cloud_signups_total\{outcome="ok"\} [1-9]/);
    expect(text).toMatch(/self_cloud_signups_total\{outcome="invalid"\} [1-9]/);
    expect(text).toMatch(/self_cloud_forwarded_requests_total\{status="200"\} [1-9]/);
  });
});
