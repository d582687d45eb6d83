import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceIdentity } from '@self/crypto';
import { deriveAppId, type TxBodies } from '@self/chain';
import { CONTROL_DB_FILE, openControlDatabase, type ControlDatabase } from '../src/db/database.js';
import { authenticateDeveloper } from '../src/developers/api-keys.js';
import { AppStore } from '../src/developers/apps.js';
import { startTestChain, type TestChain } from './support/chain.js';
import { call, startTestCloud, type TestCloud } from './support/cloud.js';
import { b64url, didCreate, people, signedTx } from './support/people.js';

/**
 * Developer accounts, API keys and apps against a real chain: apps are registered by the
 * developer's own signed transactions, committed on chain (logo included) and mirrored as OAuth
 * clients; anything not the developer's own, malformed or of the wrong kind is refused before it
 * reaches the chain.
 */
describe('developers', () => {
  let chain: TestChain;
  let gw: TestCloud;
  let db: ControlDatabase;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let aliceSession: string;
  let bobSession: string;
  let apiKey: string;
  let developerId: string;

  beforeAll(async () => {
    [alice, bob] = people('dev-alice', 'dev-bob');
    chain = await startTestChain('self-cloud-developers');
    gw = await startTestCloud(chain);
    db = openControlDatabase(join(gw.dataDir, CONTROL_DB_FILE));
    const sessions = await Promise.all(
      [alice, bob].map(async (p) => {
        const res = await call(gw.url, 'POST', '/v1/signup', {
          json: { tier: 'free', transaction: didCreate(p, { chainId: chain.chainId }) },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return (res.body.session as { token: string }).token;
      }),
    );
    [aliceSession, bobSession] = sessions as [string, string];
  }, 120_000);

  afterAll(async () => {
    db?.close();
    await gw?.close();
    await chain?.stop();
  });

  const dev = (method: string, path: string, token: string | undefined, json?: unknown) =>
    call(gw.url, method, `/v1/developers${path}`, {
      ...(token !== undefined ? { token } : {}),
      ...(json !== undefined ? { json } : {}),
    });

  /** The next nonce of a person's account, as their device would read it. */
  const nextNonce = async (p: DeviceIdentity) => (await chain.client.account(p.address)).nonce + 1;

  const appBody = (
    p: DeviceIdentity,
    nonce: number,
    extra: Partial<TxBodies['app.register']> = {},
  ): TxBodies['app.register'] => ({
    app_id: deriveAppId(p.address, nonce),
    name: 'Notes',
    logo_uri: 'https://notes.example/logo.png',
    redirect_uris: ['https://notes.example/cb', 'http://127.0.0.1:8765/cb'],
    scopes: ['profile:read', 'storage:notes:read'],
    ...extra,
  });

  const register = async (p: DeviceIdentity, extra: Partial<TxBodies['app.register']> = {}) => {
    const nonce = await nextNonce(p);
    const body = appBody(p, nonce, extra);
    return {
      body,
      transaction: signedTx(p.account, 'app.register', body, { chainId: chain.chainId, nonce }),
    };
  };

  describe('registration and keys', () => {
    it('needs a person’s session', async () => {
      const json = { email: 'alice@example.com', project: 'Notes' };
      const anonymous = await dev('POST', '/register', undefined, json);
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error).toBe('unauthenticated');
      const forged = await dev('POST', '/register', `self_s_${'A'.repeat(43)}`, json);
      expect(forged.status).toBe(401);
    });

    it('registers the session’s DID and shows the API key once', async () => {
      const res = await dev('POST', '/register', aliceSession, {
        email: 'alice@example.com',
        project: 'Notes',
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const developer = res.body.developer as Record<string, unknown>;
      expect(developer).toMatchObject({ did: alice.did, email: 'alice@example.com', project: 'Notes' });
      expect(developer.id).toMatch(/^dev_[A-Za-z0-9_-]{22}$/);
      expect(res.body.api_key).toMatch(/^self_dk_[A-Za-z0-9_-]{43}$/);
      apiKey = res.body.api_key as string;
      developerId = developer.id as string;

      // Stored hashed: the key appears nowhere in the database.
      const rows = db.prepare('SELECT * FROM api_keys').all() as Array<Record<string, unknown>>;
      expect(JSON.stringify(rows)).not.toContain(apiKey.slice(16));
      expect(authenticateDeveloper(db, apiKey)).toEqual({ developerId, did: alice.did });
      expect(
        authenticateDeveloper(db, `${apiKey.slice(0, -1)}${apiKey.endsWith('A') ? 'B' : 'A'}`),
      ).toBeNull();
      expect(authenticateDeveloper(db, aliceSession)).toBeNull();

      const me = await dev('GET', '/me', apiKey);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ developer: { id: developerId, did: alice.did }, keys: 1, apps: 0 });
      // The developer's own session works on developer routes too.
      expect((await dev('GET', '/me', aliceSession)).status).toBe(200);
    });

    it('refuses a second registration of the same DID and bad fields', async () => {
      const again = await dev('POST', '/register', aliceSession, {
        email: 'a2@example.com',
        project: 'Other',
      });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ error: 'exists', details: { developer_id: developerId } });
      for (const json of [
        { email: 'not-an-email', project: 'x' },
        { email: 'b@example.com', project: '' },
        { email: 'b@example.com', project: 'x', admin: true },
        { email: 'b@example.com' },
      ]) {
        const res = await dev('POST', '/register', bobSession, json);
        expect(res.status, JSON.stringify(json)).toBe(400);
        expect(res.body.error).toBe('invalid_request');
      }
    });

    it('refuses developer routes without credentials, with a bad key, or to a person who is no developer', async () => {
      const none = await dev('GET', '/me', undefined);
      expect(none.status).toBe(401);
      expect(none.body.details).toMatchObject({ reason: 'missing_token' });
      const wrong = await dev('GET', '/me', `self_dk_${'x'.repeat(43)}`);
      expect(wrong.status).toBe(401);
      expect(wrong.body.details).toMatchObject({ reason: 'invalid_credentials' });
      expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
      const notDev = await dev('GET', '/apps', bobSession);
      expect(notDev.status).toBe(403);
      expect(notDev.body.details).toMatchObject({ reason: 'not_a_developer' });
    });

    it('makes, lists (prefixes only) and revokes keys', async () => {
      const made = await dev('POST', '/keys', apiKey);
      expect(made.status).toBe(201);
      const second = made.body.api_key as string;
      expect(second).toMatch(/^self_dk_/);
      expect((await dev('GET', '/me', second)).status).toBe(200);

      const listed = await dev('GET', '/keys', aliceSession);
      const keys = listed.body.keys as Array<{ prefix: string }>;
      expect(keys.map((k) => k.prefix).sort()).toEqual([apiKey.slice(0, 16), second.slice(0, 16)].sort());
      expect(JSON.stringify(listed.body)).not.toContain(second.slice(16));

      const revoked = await dev('DELETE', `/keys/${second.slice(0, 16)}`, apiKey);
      expect(revoked.status).toBe(200);
      expect((revoked.body.key as { revoked_at: number }).revoked_at).toBeGreaterThan(0);
      expect((await dev('GET', '/me', second)).status).toBe(401);
      expect((await dev('DELETE', `/keys/${second.slice(0, 16)}`, apiKey)).status).toBe(404);
      expect((await dev('DELETE', '/keys/not-a-prefix', apiKey)).status).toBe(400);
      expect((await dev('GET', '/keys', apiKey)).body.keys).toHaveLength(1);
    });
  });

  describe('apps', () => {
    let publicId: string;
    let confidentialId: string;
    let firstSecret: string;
    const store = () => new AppStore(db);

    it('registers a public app on chain, logo included', async () => {
      const { body, transaction } = await register(alice);
      const res = await dev('POST', '/apps', apiKey, { transaction, client_type: 'public' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.client_secret).toBeUndefined();
      const app = res.body.app as Record<string, unknown>;
      expect(app).toMatchObject({
        app_id: body.app_id,
        client_id: body.app_id,
        client_type: 'public',
        name: 'Notes',
        logo_uri: 'https://notes.example/logo.png',
        redirect_uris: body.redirect_uris,
        scopes: body.scopes,
        active: true,
        owner_did: alice.did,
        rate_class: 'authenticated',
      });
      publicId = body.app_id;

      const onChain = await chain.client.app(publicId);
      expect(onChain).toMatchObject({
        owner: alice.address,
        owner_did: alice.did,
        logo_uri: 'https://notes.example/logo.png',
        name: 'Notes',
      });
      expect((app.chain as { height: number }).height).toBe(onChain.created_height);

      expect(store().get(publicId)).toMatchObject({
        appId: publicId,
        developerId,
        ownerDid: alice.did,
        clientType: 'public',
        logoUri: 'https://notes.example/logo.png',
        active: true,
        rateClass: 'authenticated',
      });
      expect(store().verifySecret(publicId, 'self_cs_anything')).toBe(false);
    });

    it('registers a confidential app and shows its secret once', async () => {
      const { body, transaction } = await register(alice, { name: 'Server', logo_uri: '' });
      const res = await dev('POST', '/apps', aliceSession, { transaction, client_type: 'confidential' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.client_secret).toMatch(/^self_cs_[A-Za-z0-9_-]{43}$/);
      expect(res.body.app).toMatchObject({ client_type: 'confidential', logo_uri: '', name: 'Server' });
      confidentialId = body.app_id;
      firstSecret = res.body.client_secret as string;
      expect(store().verifySecret(confidentialId, firstSecret)).toBe(true);
      expect(store().verifySecret(confidentialId, `${firstSecret.slice(0, -2)}AA`)).toBe(false);
      expect(JSON.stringify(db.prepare('SELECT * FROM apps').all())).not.toContain(firstSecret.slice(8));
      // Shown once: neither the list nor the app answers it.
      const one = await dev('GET', `/apps/${confidentialId}`, apiKey);
      expect(one.status).toBe(200);
      expect(JSON.stringify(one.body)).not.toContain(firstSecret);
      // The same registration again is refused: the app exists.
      const again = await dev('POST', '/apps', apiKey, { transaction, client_type: 'public' });
      expect(again.status).toBe(409);
    });

    it('lists the developer’s apps, newest first', async () => {
      const res = await dev('GET', '/apps', apiKey);
      expect(res.status).toBe(200);
      const ids = (res.body.apps as Array<{ app_id: string }>).map((a) => a.app_id);
      expect(ids).toHaveLength(2);
      expect(new Set(ids)).toEqual(new Set([publicId, confidentialId]));
      expect((await dev('GET', `/apps/app_${'0'.repeat(32)}`, apiKey)).status).toBe(404);
      expect((await dev('GET', '/apps/not-an-app', apiKey)).status).toBe(400);
    });

    it('updates an app through a signed app.update', async () => {
      const nonce = await nextNonce(alice);
      const body: TxBodies['app.update'] = {
        app_id: publicId,
        name: 'Notes 2',
        logo_uri: 'https://cdn.notes.example/logo-2.svg',
        redirect_uris: ['https://notes.example/callback'],
        scopes: ['profile:read'],
        active: false,
      };
      const transaction = signedTx(alice.account, 'app.update', body, { chainId: chain.chainId, nonce });
      const mismatched = await dev('POST', `/apps/${confidentialId}/update`, apiKey, { transaction });
      expect(mismatched.status).toBe(400);
      expect(mismatched.body.details).toMatchObject({ reason: 'app_id_mismatch' });

      const res = await dev('POST', `/apps/${publicId}/update`, apiKey, { transaction });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.app).toMatchObject({
        app_id: publicId,
        name: 'Notes 2',
        logo_uri: 'https://cdn.notes.example/logo-2.svg',
        redirect_uris: ['https://notes.example/callback'],
        scopes: ['profile:read'],
        active: false,
        client_type: 'public',
      });
      expect(await chain.client.app(publicId)).toMatchObject({
        name: 'Notes 2',
        logo_uri: 'https://cdn.notes.example/logo-2.svg',
        active: false,
      });
      expect(store().get(publicId)).toMatchObject({ name: 'Notes 2', active: false });
      // Relayed again after its commit (an answer lost on the way): the same app, nothing new.
      const replay = await dev('POST', `/apps/${publicId}/update`, apiKey, { transaction });
      expect(replay.status, JSON.stringify(replay.body)).toBe(200);
      expect(replay.body.app).toMatchObject({ name: 'Notes 2' });
    });

    it('rotates a confidential client’s secret, and only that kind', async () => {
      const withBody = await dev('POST', `/apps/${confidentialId}/secret`, apiKey, { rotate: true });
      expect(withBody.status).toBe(400);
      expect(store().verifySecret(confidentialId, firstSecret)).toBe(true);
      const res = await dev('POST', `/apps/${confidentialId}/secret`, apiKey, {});
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const secret = res.body.client_secret as string;
      expect(secret).toMatch(/^self_cs_/);
      expect(secret).not.toBe(firstSecret);
      expect(store().verifySecret(confidentialId, secret)).toBe(true);
      expect(store().verifySecret(confidentialId, firstSecret)).toBe(false);

      const pub = await dev('POST', `/apps/${publicId}/secret`, apiKey);
      expect(pub.status).toBe(400);
      expect(pub.body.details).toMatchObject({ reason: 'public_client' });
    });

    it('keeps each developer’s apps to themselves', async () => {
      const bobDev = await dev('POST', '/register', bobSession, { email: 'bob@example.com', project: 'Bob' });
      expect(bobDev.status).toBe(201);
      const bobKey = bobDev.body.api_key as string;
      expect((await dev('GET', '/apps', bobKey)).body.apps).toEqual([]);
      expect((await dev('GET', `/apps/${publicId}`, bobKey)).status).toBe(404);
      expect((await dev('POST', `/apps/${confidentialId}/secret`, bobKey)).status).toBe(404);

      // Bob relays an app.register that Alice signed: not his to register.
      const { transaction } = await register(alice);
      const stolen = await dev('POST', '/apps', bobKey, { transaction, client_type: 'public' });
      expect(stolen.status).toBe(403);
      expect(stolen.body).toMatchObject({
        error: 'forbidden',
        details: { developer_did: bob.did, signer_did: alice.did },
      });
      // Nor may he update Alice's app with a transaction of his own (the chain would refuse it anyway).
      const update = signedTx(
        bob.account,
        'app.update',
        { ...appBody(alice, 1), app_id: publicId, active: true },
        { chainId: chain.chainId, nonce: await nextNonce(bob) },
      );
      expect((await dev('POST', `/apps/${publicId}/update`, bobKey, { transaction: update })).status).toBe(
        404,
      );
      expect(await chain.client.app(publicId)).toMatchObject({ active: false });
    });

    it('refuses wrong kinds, malformed and oversized transactions and bad bodies', async () => {
      const refused = async (json: unknown, status: number, reason?: string) => {
        const res = await dev('POST', '/apps', apiKey, json);
        expect(res.status, JSON.stringify(res.body)).toBe(status);
        if (reason) expect(res.body.details).toMatchObject({ reason });
        return res;
      };
      const transfer = signedTx(
        alice.account,
        'transfer',
        { to: bob.address, amount: 1 },
        { chainId: chain.chainId, nonce: await nextNonce(alice) },
      );
      await refused({ transaction: transfer, client_type: 'public' }, 400, 'wrong_kind');
      const { transaction: good } = await register(alice);
      const update = signedTx(
        alice.account,
        'app.update',
        { ...appBody(alice, 1), app_id: publicId, active: true },
        { chainId: chain.chainId, nonce: await nextNonce(alice) },
      );
      await refused({ transaction: update, client_type: 'public' }, 400, 'wrong_kind');
      await refused({ transaction: b64url(new Uint8Array([0xa1, 0x61, 0x78])), client_type: 'public' }, 400);
      await refused({ transaction: 'A', client_type: 'public' }, 400, 'malformed');
      await refused({ transaction: 'not base64!', client_type: 'public' }, 400);
      const otherChain = signedTx(alice.account, 'app.register', appBody(alice, 9), {
        chainId: 'other',
        nonce: 9,
      });
      await refused({ transaction: otherChain, client_type: 'public' }, 400, 'wrong_chain');
      // A logo the chain's body rules refuse (plain http on a public host) never reaches the chain.
      const { transaction: badLogo } = await register(alice, { logo_uri: 'http://notes.example/logo.png' });
      await refused({ transaction: badLogo, client_type: 'public' }, 400, 'invalid_body');
      // An app id that is not the derivation for its nonce is refused by the chain itself.
      const nonce = await nextNonce(alice);
      const wrongId = signedTx(alice.account, 'app.register', appBody(alice, nonce + 5), {
        chainId: chain.chainId,
        nonce,
      });
      await refused({ transaction: wrongId, client_type: 'public' }, 400, 'invalid_body');
      // Tampered bytes: the signature no longer covers them.
      const raw = Buffer.from(good, 'base64url');
      raw.writeUInt8(raw.readUInt8(raw.length - 1) ^ 1, raw.length - 1);
      await refused({ transaction: raw.toString('base64url'), client_type: 'public' }, 400);

      await refused({ transaction: good, client_type: 'secret' }, 400);
      await refused({ transaction: good }, 400);
      await refused({ transaction: good, client_type: 'public', extra: 1 }, 400);
      await refused({ transaction: 'A'.repeat(87_383), client_type: 'public' }, 400);
      const huge = await call(gw.url, 'POST', '/v1/developers/apps', {
        token: apiKey,
        body: JSON.stringify({ transaction: 'A'.repeat(300 * 1024), client_type: 'public' }),
        headers: { 'content-type': 'application/json' },
      });
      expect(huge.status).toBe(413);
      // None of it registered anything.
      expect((await dev('GET', '/apps', apiKey)).body.apps).toHaveLength(2);
    });
  });
});
