import { accountKeysFromPhrase, newGrantId } from '@self/crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Instance } from '../src/instance.js';
import { createInstanceServer } from '../src/server/index.js';
import {
  appTokenHeaders,
  consentFields,
  submission,
  testAppId,
  testIssuer,
  type TestIssuer,
} from './fixtures/app-tokens.js';
import { TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';
import { tempRoot } from './fixtures/ai-helpers.js';

/**
 * The grant routes (docs/instance-api.md, "Grants"): storing a grant from a signed consent, every
 * way a consent is refused, listing, revoking (by the person and by the app), the profile.
 */

const { root, remove } = tempRoot('self-grant-routes-');
const PERSON = { 'x-self-actor': 'person', 'x-self-did': TEST_DID };
const NOTES = testAppId('notes');
const HOUR = 3600_000;
const DAY = 24 * HOUR;
// The stranger's own DID and account key (Ed25519 mode keeps signing cheap).
const stranger = accountKeysFromPhrase(`${'zoo '.repeat(23)}vote`, 'ed25519');

let clock = Date.now();
let inst: Instance;
let server: FastifyInstance;
let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await testIssuer();
  inst = createTestInstance(testKeys(), { dir: `${root}/inst`, instanceId: 'grants', now: () => clock });
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
  method: 'GET' | 'POST' | 'DELETE' | 'PUT',
  url: string,
  headers: Record<string, string> = PERSON,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await server.inject({
    method,
    url,
    headers:
      body === undefined || typeof body !== 'object'
        ? headers
        : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined
      ? {}
      : { payload: typeof body === 'object' ? JSON.stringify(body) : String(body) }),
  });
  return { status: res.statusCode, body: res.body.length > 0 ? res.json() : null };
}

const lastEntry = () => inst.auditEntries(1, 1000).at(-1)!;

describe('POST /v1/grants', () => {
  it('stores the grant of a consent the person signed (201), and answers the same again with 200', async () => {
    const fields = consentFields({
      app: NOTES,
      scopes: ['storage:write', 'storage:read', 'storage:read'],
      issuedAt: clock,
    });
    const body = submission(fields);
    const created = await call('POST', '/v1/grants', PERSON, body);
    expect(created.status).toBe(201);
    expect(created.body.grant).toEqual({
      id: fields.grant,
      app_id: NOTES,
      scopes: ['storage:read', 'storage:write'],
      issued_at: fields.issuedAt,
      expires_at: fields.expiresAt,
      created_at: clock,
      revoked_at: null,
      revoked_by: null,
      last_used_at: null,
      uses: 0,
      state: 'active',
    });
    expect(lastEntry()).toMatchObject({
      actor: TEST_DID,
      app: null,
      action: 'grant.create',
      scope: 'grants:write',
      object: `grants/${fields.grant}`,
      outcome: 'ok',
    });
    // The same statement again (scopes in another order sign the same bytes): the stored grant.
    const again = await call(
      'POST',
      '/v1/grants',
      PERSON,
      submission({ ...fields, scopes: ['storage:read', 'storage:write'] }),
    );
    expect(again.status).toBe(200);
    expect(again.body.grant).toEqual(created.body.grant);
    // Another statement under the same id: refused, the grant untouched.
    const conflict = await call(
      'POST',
      '/v1/grants',
      PERSON,
      submission({ ...fields, scopes: ['storage:read'] }),
    );
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({ error: 'grant_conflict', details: { grant: fields.grant } });
    expect(lastEntry()).toMatchObject({ action: 'grant.create.grant_conflict', outcome: 'error' });
    expect((await call('GET', `/v1/grants/${fields.grant}`)).body.grant.scopes).toEqual([
      'storage:read',
      'storage:write',
    ]);
  });

  it('refuses every consent that does not hold up, audited as an error, and stores nothing', async () => {
    const good = consentFields({ app: NOTES, scopes: ['storage:read'], issuedAt: clock });
    const forged = submission(good);
    forged.signature = Buffer.from(
      Buffer.from(forged.signature, 'base64url').map((b, i) => (i === 40 ? b ^ 1 : b)),
    ).toString('base64url');
    const cases: Array<[string, object]> = [
      ['bad_signature', forged],
      // A valid signature by someone else's key, over a consent naming this person.
      ['bad_signature', submission(good, stranger)],
      // A consent the stranger really signed, for their own DID: not this instance's person.
      ['wrong_did', submission({ ...good, did: stranger.did }, stranger)],
      ['expired', submission({ ...good, issuedAt: clock - 2 * DAY, expiresAt: clock - DAY })],
      ['too_short', submission({ ...good, expiresAt: good.issuedAt + HOUR - 1 })],
      ['too_long', submission({ ...good, expiresAt: good.issuedAt + 401 * DAY })],
      ['not_yet_valid', submission({ ...good, issuedAt: clock + HOUR, expiresAt: clock + 2 * HOUR })],
      ['malformed', { ...forged, consent: { ...forged.consent, origin: 'https://cloud.test/' } }],
      ['malformed', { ...forged, consent: { ...forged.consent, scopes: ['storage:everything'] } }],
      ['malformed', { ...forged, public_key: 'a' }],
    ];
    for (const [reason, body] of cases) {
      const r = await call('POST', '/v1/grants', PERSON, body);
      expect(r.status, reason).toBe(400);
      expect(r.body, reason).toMatchObject({ error: 'invalid_consent', details: { reason } });
      expect(lastEntry(), reason).toMatchObject({ action: 'grant.create.invalid_consent', outcome: 'error' });
    }
    expect(inst.grants().get(good.grant)).toBeNull();
  });

  it('refuses bodies outside the schema (400) and anyone but the person (403)', async () => {
    const body = submission(consentFields({ app: NOTES, scopes: ['storage:read'], issuedAt: clock }));
    expect((await call('POST', '/v1/grants', PERSON, { ...body, extra: 1 })).body.error).toBe(
      'invalid_request',
    );
    expect((await call('POST', '/v1/grants', PERSON, 'not json')).status).toBe(400);
    const other = await call('POST', '/v1/grants', { ...PERSON, 'x-self-did': stranger.did }, body);
    expect(other.status).toBe(403);
    expect(lastEntry()).toMatchObject({ actor: stranger.did, action: 'grant.create', outcome: 'denied' });
  });
});

describe('listing and revoking', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (const name of ['one', 'two']) {
      clock += 1000;
      const body = submission(
        consentFields({ app: testAppId(name), scopes: ['profile:read'], issuedAt: clock }),
      );
      ids.push((await call('POST', '/v1/grants', PERSON, body)).body.grant.id);
    }
  });

  it('lists the grants newest first and reads one', async () => {
    const list = (await call('GET', '/v1/grants')).body.grants as Json[];
    expect(list.slice(0, 2).map((g) => g.id)).toEqual([ids[1], ids[0]]);
    expect((await call('GET', `/v1/grants/${ids[0]}`)).body.grant.app_id).toBe(testAppId('one'));
    expect((await call('GET', `/v1/grants/${newGrantId()}`)).body.error).toBe('not_found');
    expect((await call('GET', '/v1/grants/nope')).status).toBe(400);
  });

  it('revokes idempotently: the first time and revoker stay, one revocation leaf', async () => {
    const leaves = inst.grants().commitments.unsegmented('revocation');
    clock += 5000;
    const first = await call('DELETE', `/v1/grants/${ids[0]}`);
    expect(first.status).toBe(200);
    expect(first.body.grant).toMatchObject({
      id: ids[0],
      revoked_at: clock,
      revoked_by: 'person',
      state: 'revoked',
    });
    expect(lastEntry()).toMatchObject({ action: 'grant.revoke', object: `grants/${ids[0]}`, outcome: 'ok' });
    clock += 5000;
    const again = await call('DELETE', `/v1/grants/${ids[0]}`);
    expect(again.body.grant).toEqual(first.body.grant);
    expect(inst.grants().commitments.unsegmented('revocation')).toBe(leaves + 1);
    const missing = await call('DELETE', `/v1/grants/${newGrantId()}`);
    expect(missing.status).toBe(404);
    expect(lastEntry()).toMatchObject({ action: 'grant.revoke.not_found', outcome: 'error' });
  });

  it('keeps grant management to the person: an app cannot list, read or revoke others', async () => {
    const own = inst.grants().get(ids[1]!)!;
    const headers = appTokenHeaders(
      await issuer.mint({ appId: own.appId, scopes: own.scopes, grantId: own.id }),
    );
    expect((await call('GET', '/v1/grants', headers)).status).toBe(403);
    expect((await call('GET', `/v1/grants/${ids[0]}`, headers)).status).toBe(403);
    expect((await call('DELETE', `/v1/grants/${ids[0]}`, headers)).status).toBe(403);
    expect(lastEntry()).toMatchObject({ app: own.appId, action: 'grant.revoke', outcome: 'denied' });
    expect(
      (
        await call(
          'POST',
          '/v1/grants',
          headers,
          submission(consentFields({ app: own.appId, scopes: ['ai:chat'] })),
        )
      ).status,
    ).toBe(403);
    // The person has no "own grant".
    expect((await call('GET', '/v1/grant')).status).toBe(403);
  });

  it('lets an app read and give up its own grant; its next request is refused at once', async () => {
    const own = inst.grants().get(ids[1]!)!;
    const headers = appTokenHeaders(
      await issuer.mint({ appId: own.appId, scopes: own.scopes, grantId: own.id }),
    );
    clock += 1000;
    // Every request its token opened counts, the refused ones of the test before included.
    const uses = own.uses;
    const read = await call('GET', '/v1/grant', headers);
    expect(read.status).toBe(200);
    expect(read.body.grant).toMatchObject({
      id: own.id,
      state: 'active',
      uses: uses + 1,
      last_used_at: clock,
    });
    expect(lastEntry()).toMatchObject({ app: own.appId, action: 'grant.read', outcome: 'ok' });
    const gone = await call('DELETE', '/v1/grant', headers);
    expect(gone.body.grant).toMatchObject({ id: own.id, revoked_by: 'app', state: 'revoked' });
    const after = await call('GET', '/v1/grant', headers);
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ error: 'invalid_token', details: { reason: 'grant_revoked' } });
  });

  it('answers an expired grant as expired', async () => {
    const body = submission(
      consentFields({ app: NOTES, scopes: ['ai:chat'], issuedAt: clock, expiresAt: clock + HOUR }),
    );
    const id = (await call('POST', '/v1/grants', PERSON, body)).body.grant.id;
    clock += HOUR;
    expect((await call('GET', `/v1/grants/${id}`)).body.grant.state).toBe('expired');
    clock -= HOUR;
  });
});

describe('GET /v1/profile', () => {
  it('answers the person’s profile (collection profile, key me) to the person and apps with profile:read', async () => {
    expect((await call('GET', '/v1/profile')).body).toEqual({ did: TEST_DID, name: null });
    const profile = JSON.stringify({ name: 'Ada', city: 'London', did: 'did:self:spoofed' });
    const put = await server.inject({
      method: 'PUT',
      url: '/v1/data/profile/me',
      headers: PERSON,
      payload: profile,
    });
    expect(put.statusCode).toBe(200);
    expect((await call('GET', '/v1/profile')).body).toEqual({ did: TEST_DID, name: 'Ada', city: 'London' });

    const reader = submission(consentFields({ app: NOTES, scopes: ['profile:read'], issuedAt: clock }));
    await call('POST', '/v1/grants', PERSON, reader);
    const headers = appTokenHeaders(
      await issuer.mint({ appId: NOTES, scopes: ['profile:read'], grantId: reader.consent.grant }),
    );
    expect((await call('GET', '/v1/profile', headers)).body).toEqual({
      did: TEST_DID,
      name: 'Ada',
      city: 'London',
    });
    expect(lastEntry()).toMatchObject({
      app: NOTES,
      action: 'profile.read',
      scope: 'profile:read',
      outcome: 'ok',
    });
    // profile:read is not storage:profile:read: the object itself stays out of reach.
    const raw = await call('GET', '/v1/data/profile/me?target=person', headers);
    expect(raw.status).toBe(403);
  });

  it('refuses an app without profile:read (403, audited as denied)', async () => {
    const body = submission(consentFields({ app: NOTES, scopes: ['storage:read'], issuedAt: clock }));
    await call('POST', '/v1/grants', PERSON, body);
    const headers = appTokenHeaders(
      await issuer.mint({ appId: NOTES, scopes: ['storage:read'], grantId: body.consent.grant }),
    );
    const r = await call('GET', '/v1/profile', headers);
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ error: 'forbidden', details: { scope: 'profile:read' } });
    expect(lastEntry()).toMatchObject({ app: NOTES, action: 'profile.read', outcome: 'denied' });
  });

  it('answers {name: null} for a profile that is not a JSON object', async () => {
    await server.inject({ method: 'PUT', url: '/v1/data/profile/me', headers: PERSON, payload: '[1, 2]' });
    expect((await call('GET', '/v1/profile')).body).toEqual({ did: TEST_DID, name: null });
  });
});

describe('GET /v1/chain (chain:read)', () => {
  it('refuses an app without chain:read (403, audited) and says when there is no chain node (503)', async () => {
    const body = submission(consentFields({ app: NOTES, scopes: ['chain:read'], issuedAt: clock }));
    await call('POST', '/v1/grants', PERSON, body);
    const allowed = appTokenHeaders(
      await issuer.mint({ appId: NOTES, scopes: ['chain:read'], grantId: body.consent.grant }),
    );
    // This server has no chain node: the scope holds, the read cannot happen, and the log says so.
    const noChain = await call('GET', '/v1/chain', allowed);
    expect(noChain.status).toBe(503);
    expect(noChain.body).toMatchObject({ error: 'unavailable' });
    expect(lastEntry()).toMatchObject({ app: NOTES, action: 'chain.read.unavailable', outcome: 'error' });

    const other = submission(consentFields({ app: NOTES, scopes: ['storage:read'], issuedAt: clock }));
    await call('POST', '/v1/grants', PERSON, other);
    const refused = await call(
      'GET',
      '/v1/chain',
      appTokenHeaders(
        await issuer.mint({ appId: NOTES, scopes: ['storage:read'], grantId: other.consent.grant }),
      ),
    );
    expect(refused.status).toBe(403);
    expect(lastEntry()).toMatchObject({ app: NOTES, action: 'chain.read', outcome: 'denied' });
  });
});
