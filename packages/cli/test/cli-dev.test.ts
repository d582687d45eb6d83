import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountKeysFromPhrase, newRecoveryPhrase, signInOrigin } from '@self/crypto';
import { checkStatelessBytes, deriveAppId, encodeSignedTransaction } from '@self/chain';
import { NodeClient } from '@self/node/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAppFields, signAppRegister, signAppUpdate } from '../src/app-tx.js';
import { requestRef, verifyRequest, type ConsentRequest } from '../src/consent-request.js';
import { parseDuration } from '../src/durations.js';
import { CliError } from '../src/errors.js';
import {
  json,
  ok,
  runSelf,
  runSelfAsync,
  startSelfUp,
  type Device,
  type Run,
  type SelfUp,
} from './support/self-cli.js';

/**
 * The developer platform from the command line: a developer registers, puts OAuth apps on SELF
 * Chain and makes test users (`self dev`); a person reads an app's request, approves it with a
 * consent signed on their device, lists and revokes it (`self consent`, `self apps`). One
 * `self up` (one validator, no AI) for the whole file; each `self …` runs as its own process with
 * its own SELF_HOME, as the developer's and the person's devices would.
 */

const root = mkdtempSync(join(tmpdir(), 'self-cli-dev-'));
const dataDir = join(root, 'data');
const PASS = 'a long and private passphrase';
const alice = join(root, 'alice'); // the developer
const bob = join(root, 'bob'); // a person who uses her app

let url = 'http://127.0.0.1:9'; // until self up is ready: nothing listens there

const device = (home: string): Device => ({ home, passphrase: PASS, server: () => url });
const self = (home: string, args: string[], env: Record<string, string> = {}): Run =>
  runSelf(device(home), args, env);
/** Like self(), without blocking this process: sign-ups run side by side. */
const selfAsync = (home: string, args: string[]): Promise<Run> => runSelfAsync(device(home), args);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('self dev, consent and apps without a server', { timeout: 120_000 }, () => {
  const nobody = join(root, 'nobody');

  it('has help for its commands', () => {
    for (const cmd of [
      ['consent'],
      ['consent', 'approve'],
      ['apps'],
      ['apps', 'revoke'],
      ['dev'],
      ['dev', 'apps', 'create'],
      ['dev', 'apps', 'update'],
      ['dev', 'test-user', 'create'],
    ]) {
      const r = self(nobody, [...cmd, '--help']);
      expect(r.status, cmd.join(' ')).toBe(0);
      expect(r.out).toContain(`Usage: self ${cmd.join(' ')}`);
    }
    const approve = self(nobody, ['consent', 'approve', '--help']).out;
    expect(approve).toContain('--expires');
    expect(approve).toContain('--yes');
  });

  it('refuses bad arguments with usage errors that say what to do', () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['dev', 'apps', 'create', '--redirect-uri', 'https://a.example/cb', '--scope', 'ai:chat'],
        /--name is required/,
      ],
      [['dev', 'apps', 'create', '--name', 'N', '--scope', 'ai:chat'], /at least one --redirect-uri/],
      [
        [
          'dev',
          'apps',
          'create',
          '--name',
          'N',
          '--redirect-uri',
          'http://evil.example/cb',
          '--scope',
          'ai:chat',
        ],
        /must be an https URL, or http on 127\.0\.0\.1/,
      ],
      [
        ['dev', 'apps', 'create', '--name', 'N', '--redirect-uri', 'https://a.example/cb'],
        /at least one --scope/,
      ],
      [
        ['dev', 'apps', 'create', '--name', 'N', '--redirect-uri', 'https://a.example/cb', '--scope', 'root'],
        /unknown --scope "root"/,
      ],
      [
        [
          'dev',
          'apps',
          'create',
          '--name',
          'N',
          '--redirect-uri',
          'https://a.example/cb',
          '--scope',
          'ai:chat',
          '--logo',
          'javascript:alert(1)',
        ],
        /--logo must be an https URL/,
      ],
      [['dev', 'apps', 'update', 'notanapp', '--name', 'x'], /is not an app id/],
      [['dev', 'apps', 'update', `app_${'0'.repeat(32)}`, '--active', '--inactive'], /not both/],
      [['dev', 'register', '--project', 'p'], /--email is required/],
      [['dev', 'register', '--email', 'a@b.example'], /--project is required/],
      [['dev', 'test-user', 'create', '--tier', 'gold'], /--tier must be one of free/],
      [['consent', 'approve', 'ABCD-EFGH', '--expires', '10m'], /--expires must be a duration from 1 hour/],
      [['consent', 'approve', 'ABCD-EFGH', '--expires', '401d'], /to 400 days/],
      [['consent', 'approve', 'ABCD-EFGH'], /standard input is not a terminal.*--yes/],
      [['apps', 'revoke', 'something'], /neither a grant id \(gr_…\) nor an app id/],
    ];
    for (const [args, message] of cases) {
      const r = self(nobody, args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(message);
      expect(r.out).toBe('');
    }
  });

  it('says how to get an identity first', () => {
    const r = self(nobody, ['consent', 'ls']);
    expect(r.status).toBe(1);
    expect(r.err).toContain('this device has no SELF identity');
    expect(r.err).toContain('self signup');
  });
});

describe('the device’s side, in process', () => {
  const keys = accountKeysFromPhrase(newRecoveryPhrase());
  const fields = checkAppFields({
    name: 'Notes',
    logo_uri: 'https://notes.example/logo.png',
    redirect_uris: ['http://127.0.0.1:7777/cb'],
    scopes: ['storage:read', 'ai:chat', 'storage:read'],
  });
  const chainCtx = {
    chainId: 'self-dev-test',
    params: { max_tx_bytes: 1 << 20, min_point_price: 1 },
    schemes: ['hybrid-ed25519-ml-dsa-65', 'ed25519'] as const,
  };

  it('signs app.register and app.update the chain accepts, with the app id derived from sender and nonce', () => {
    expect(fields.scopes).toEqual(['storage:read', 'ai:chat']);
    const params = { chainId: chainCtx.chainId, nonce: 7, pointPrice: 1 };
    const { appId, stx } = signAppRegister(keys.address, keys.account, fields, params);
    expect(appId).toBe(deriveAppId(keys.address, 7));
    const checked = checkStatelessBytes(encodeSignedTransaction(stx), {
      ...chainCtx,
      schemes: [...chainCtx.schemes],
    });
    expect(checked.sender).toBe(keys.address);
    expect(stx.tx.body).toEqual({ app_id: appId, ...fields });
    const update = signAppUpdate(
      appId,
      keys.account,
      { ...fields, name: 'Notes 2', active: false },
      { ...params, nonce: 8 },
    );
    expect(() =>
      checkStatelessBytes(encodeSignedTransaction(update), { ...chainCtx, schemes: [...chainCtx.schemes] }),
    ).not.toThrow();
    expect(update.tx.body).toMatchObject({
      app_id: appId,
      name: 'Notes 2',
      logo_uri: fields.logo_uri,
      active: false,
    });
  });

  it('reads codes loosely and durations strictly', () => {
    expect(requestRef('abcd-efgh')).toBe('ABCD-EFGH');
    expect(requestRef('abcdefgh')).toBe('ABCD-EFGH');
    expect(requestRef('req_Abc-def_123')).toBe('req_Abc-def_123');
    expect(parseDuration('90d', '--expires', 3_600_000, 400 * 86_400_000)).toBe(90 * 86_400_000);
    expect(parseDuration('2w', '--expires', 3_600_000, 400 * 86_400_000)).toBe(14 * 86_400_000);
    expect(parseDuration('60m', '--expires', 3_600_000, 400 * 86_400_000)).toBe(3_600_000);
    for (const bad of ['59m', '401d', '1y', '-1d', '1.5d', ''])
      expect(() => parseDuration(bad, '--expires', 3_600_000, 400 * 86_400_000)).toThrow(CliError);
  });

  describe('checking a request against the chain before signing', () => {
    let node: Server;
    let nodeUrl = '';
    const appId = deriveAppId(keys.address, 3);
    const onChain = {
      app_id: appId,
      owner: keys.address,
      name: 'Notes',
      logo_uri: 'https://notes.example/logo.png',
      redirect_uris: ['http://127.0.0.1:7777/cb'],
      scopes: ['storage:read', 'profile:read'],
      active: true,
      created_height: 5,
      updated_height: 9,
    };
    let record: Record<string, unknown> = onChain;

    beforeAll(async () => {
      // A node's GET /v1/apps/{id}, as a cloud's chain routes forward it.
      node = createServer((req, res) => {
        const known = req.url === `/v1/apps/${appId}`;
        res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify(known ? record : { error: 'not_found', message: 'no app' }));
      });
      await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
      nodeUrl = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => node.close(() => resolve())));

    const server = 'http://127.0.0.1:8080';
    const request = (
      over: Partial<ConsentRequest> = {},
      app: Partial<ConsentRequest['app']> = {},
    ): ConsentRequest => ({
      id: 'req_x',
      user_code: 'ABCD-EFGH',
      app: {
        app_id: appId,
        name: 'Notes',
        owner_did: keys.did,
        logo_uri: 'https://notes.example/logo.png',
        verified_on_chain: true,
        height: 9,
        ...app,
      },
      scopes: [{ scope: 'storage:read' }, { scope: 'profile:read' }],
      redirect_uri: 'http://127.0.0.1:7777/cb',
      grant_id: `gr_${'A'.repeat(22)}`,
      origin: signInOrigin(server),
      created_at: 0,
      expires_at: Date.now() + 600_000,
      status: 'pending',
      ...over,
    });

    it('accepts a request that matches the chain', async () => {
      record = onChain;
      const checked = await verifyRequest(server, nodeUrl, request());
      expect(checked.chain).toMatchObject({
        owner_did: keys.did,
        updated_height: 9,
        logo_uri: onChain.logo_uri,
      });
    });

    it('refuses what the cloud misstates, another origin, an unknown or inactive app', async () => {
      record = onChain;
      const refused: Array<[ConsentRequest, RegExp]> = [
        [request({}, { name: 'Bank' }), /name on chain is "Notes"/],
        [request({}, { owner_did: accountKeysFromPhrase(newRecoveryPhrase()).did }), /owner on chain is/],
        [request({}, { logo_uri: 'https://bank.example/logo.png' }), /logo on chain/],
        [request({ redirect_uri: 'http://127.0.0.1:7777/elsewhere' }), /did not register the redirect URI/],
        [
          request({ scopes: [{ scope: 'storage:read' }, { scope: 'ai:memory' }] }),
          /did not register the scopes ai:memory/,
        ],
        [request({ origin: 'https://phish.example' }), /names the origin https:\/\/phish\.example/],
        [request({}, { app_id: deriveAppId(keys.address, 4) }), /is not registered on SELF Chain/],
      ];
      for (const [req, message] of refused)
        await expect(verifyRequest(server, nodeUrl, req)).rejects.toThrow(message);
      record = { ...onChain, active: false };
      await expect(verifyRequest(server, nodeUrl, request())).rejects.toThrow(/deactivated on chain/);
    });
  });
});

// Each step runs several `self` processes and waits for chain commits: generous limits, no timing checks.
describe('the developer platform against self up', { timeout: 180_000 }, () => {
  let up: SelfUp | null = null;
  let aliceDid = '';
  let aliceAddress = '';
  let bobDid = '';

  beforeAll(async () => {
    up = await startSelfUp(dataDir, ['--port', '0', '--validators', '1', '--no-ai']);
    url = up.url;
    const [a, b] = await Promise.all([
      selfAsync(alice, ['--json', 'signup', '--tier', 'free']),
      selfAsync(bob, ['--json', 'signup', '--tier', 'free']),
    ]);
    const sa = json<{ did: string; address: string }>(a);
    aliceDid = sa.did;
    aliceAddress = sa.address;
    bobDid = json<{ did: string }>(b).did;
  }, 240_000);

  afterAll(async () => {
    await up?.stop();
  }, 60_000);

  const REDIRECT = 'http://127.0.0.1:7777/callback';
  const LOGO = 'https://notes.example/logo.png';
  let apiKey = '';
  let publicApp = '';
  let confidentialApp = '';
  let firstSecret = '';

  it('self dev register: a developer account, its API key shown once and kept in developer.json (0600)', () => {
    const r = ok(self(alice, ['dev', 'register', '--email', 'alice@notes.example', '--project', 'Notes']));
    const key = /api key +(self_dk_[A-Za-z0-9_-]{43})/.exec(r.out)?.[1];
    expect(key).toBeDefined();
    apiKey = key!;
    expect(r.err).toContain('shown only this once');
    const file = join(alice, 'developer.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ server: url, did: aliceDid, api_key: apiKey, project: 'Notes' });
    expect(saved.developer_id).toEqual(expect.any(String));

    const again = self(alice, ['dev', 'register', '--email', 'alice@notes.example', '--project', 'Notes']);
    expect(again.status).toBe(1);
    expect(again.err).toContain('developer.json');
  });

  it('self dev apps create: app.register signed on the device, on chain with its logo; secrets only for confidential clients', async () => {
    const pub = json<{ app_id: string; client_id: string; client_secret: string | null; height: number }>(
      self(alice, [
        '--json',
        'dev',
        'apps',
        'create',
        '--name',
        'Notes',
        '--redirect-uri',
        REDIRECT,
        '--scope',
        'storage:read',
        '--scope',
        'profile:read',
        '--logo',
        LOGO,
      ]),
    );
    expect(pub.app_id).toMatch(/^app_[0-9a-f]{32}$/);
    expect(pub.client_id).toBe(pub.app_id);
    expect(pub.client_secret).toBeNull();
    publicApp = pub.app_id;

    const onChain = await new NodeClient(url).app(publicApp);
    expect(onChain).toMatchObject({
      app_id: publicApp,
      owner: aliceAddress,
      name: 'Notes',
      logo_uri: LOGO,
      redirect_uris: [REDIRECT],
      scopes: ['storage:read', 'profile:read'],
      active: true,
    });

    const conf = ok(
      self(alice, [
        'dev',
        'apps',
        'create',
        '--name',
        'Notes server',
        '--redirect-uri',
        'https://notes.example/cb',
        '--scope',
        'ai:chat',
        '--confidential',
      ]),
    );
    confidentialApp = /app id +(app_[0-9a-f]{32})/.exec(conf.out)![1]!;
    firstSecret = /secret +(self_cs_[A-Za-z0-9_-]{43})/.exec(conf.out)![1]!;
    expect(conf.err).toContain('shown only this once');
  });

  it('self dev apps ls lists both, with the API key when the session is gone', () => {
    rmSync(join(alice, 'session.json'), { force: true });
    // No passphrase either: the saved API key authenticates the developer routes.
    const r = json<{ apps: Array<{ app_id: string; client_type: string; name: string }> }>(
      self(alice, ['--json', 'dev', 'apps', 'ls'], { SELF_PASSPHRASE: '' }),
    );
    const byId = new Map(r.apps.map((a) => [a.app_id, a]));
    expect(byId.get(publicApp)).toMatchObject({ name: 'Notes', client_type: 'public' });
    expect(byId.get(confidentialApp)).toMatchObject({ name: 'Notes server', client_type: 'confidential' });
    expect(ok(self(alice, ['dev', 'apps', 'ls'], { SELF_PASSPHRASE: '' })).out).toContain(publicApp);
  });

  it('self dev apps update changes the app on chain (app.update); the same values again are refused', async () => {
    ok(
      self(alice, [
        'dev',
        'apps',
        'update',
        confidentialApp,
        '--name',
        'Notes backend',
        '--scope',
        'ai:chat',
        '--scope',
        'storage:notes:read',
      ]),
    );
    expect(await new NodeClient(url).app(confidentialApp)).toMatchObject({
      name: 'Notes backend',
      scopes: ['ai:chat', 'storage:notes:read'],
      redirect_uris: ['https://notes.example/cb'],
      active: true,
    });
    const same = self(alice, ['dev', 'apps', 'update', confidentialApp, '--name', 'Notes backend']);
    expect(same.status).toBe(1);
    expect(same.err).toContain('nothing to change');
    // Someone else's app: refused on the device before anything is signed.
    const notMine = self(bob, ['dev', 'apps', 'update', confidentialApp, '--name', 'Mine now']);
    expect(notMine.status).toBe(1);
    expect(notMine.err).toContain('not to you');
  });

  it('self dev apps secret rotates a confidential client’s secret; a public client has none', () => {
    const r = json<{ client_secret: string }>(
      self(alice, ['--json', 'dev', 'apps', 'secret', confidentialApp]),
    );
    expect(r.client_secret).toMatch(/^self_cs_[A-Za-z0-9_-]{43}$/);
    expect(r.client_secret).not.toBe(firstSecret);
    const pub = self(alice, ['dev', 'apps', 'secret', publicApp]);
    expect(pub.status).toBe(1);
    expect(pub.out).toBe('');
  });

  it('self dev test-user create|ls: a test person on the test network', () => {
    const made = json<{ did: string; tier: string; test: boolean; session: { token: string } }>(
      self(alice, ['--json', 'dev', 'test-user', 'create', '--tier', 'free']),
    );
    expect(made).toMatchObject({ tier: 'free', test: true });
    expect(made.did).toMatch(/^did:self:self1/);
    expect(made.session.token).toEqual(expect.any(String));
    const ls = json<{ test_users: Array<{ did: string }> }>(
      self(alice, ['--json', 'dev', 'test-user', 'ls']),
    );
    expect(ls.test_users.map((u) => u.did)).toContain(made.did);
    // Bob is no developer: refused with a hint to register.
    const notDev = self(bob, ['dev', 'test-user', 'ls']);
    expect(notDev.status).toBe(1);
  });

  /** Starts an authorization request as an app would (PKCE S256), for Bob. */
  async function authorize(
    state: string,
  ): Promise<{ user_code: string; request_id: string; verifier: string }> {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: publicApp,
      redirect_uri: REDIRECT,
      scope: 'storage:read profile:read',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      login_hint: bobDid,
    });
    const res = await fetch(`${url}/oauth/authorize?${q}`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { user_code: string; request_id: string };
    expect(body.user_code).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    return { ...body, verifier };
  }

  let accessToken = '';

  it('self consent ls|show: the request, the app as verified on chain, each scope in plain words', async () => {
    const req = await authorize('s1');
    const ls = json<{ requests: Array<{ user_code: string }> }>(self(bob, ['--json', 'consent', 'ls']));
    expect(ls.requests.map((r) => r.user_code)).toContain(req.user_code);

    const shown = ok(self(bob, ['consent', 'show', req.user_code.toLowerCase()])).out;
    expect(shown).toContain('Notes asks to reach your SELF');
    expect(shown).toContain(publicApp);
    expect(shown).toContain(aliceDid);
    expect(shown).toContain(LOGO);
    expect(shown).toContain('verified');
    expect(shown).toContain('See your SELF identity (your DID) and the profile you keep in SELF');
    expect(shown).toContain('Read the data this app saved in your SELF');
    expect(shown).toContain(REDIRECT);

    // Someone else cannot approve Bob's request.
    const other = self(alice, ['consent', 'approve', req.user_code, '--yes']);
    expect(other.status).toBe(1);

    const approved = json<{
      grant_id: string;
      scopes: string[];
      issued_at: number;
      expires_at: number;
      redirect_to: string;
    }>(self(bob, ['--json', 'consent', 'approve', req.user_code, '--yes', '--expires', '30d']));
    expect(approved.grant_id).toMatch(/^gr_[A-Za-z0-9_-]{22}$/);
    expect(approved.scopes).toEqual(['profile:read', 'storage:read']);
    expect(approved.expires_at - approved.issued_at).toBe(30 * 86_400_000);
    const back = new URL(approved.redirect_to);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('state')).toBe('s1');
    expect(back.searchParams.get('iss')).toBe(url);
    const code = back.searchParams.get('code')!;
    expect(code).toMatch(/^self_ac_/);

    // The app finishes the flow as any OAuth client would, and reaches Bob's instance.
    const token = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: req.verifier,
        client_id: publicApp,
      }),
    });
    expect(token.status).toBe(200);
    accessToken = ((await token.json()) as { access_token: string }).access_token;
    const profile = await fetch(`${url}/v1/i/${bobDid}/profile`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(profile.status).toBe(200);

    // Decided requests are gone from the list.
    const after = json<{ requests: Array<{ user_code: string }> }>(self(bob, ['--json', 'consent', 'ls']));
    expect(after.requests.map((r) => r.user_code)).not.toContain(req.user_code);
  });

  it('self consent deny sends the browser back with access_denied', async () => {
    const req = await authorize('s2');
    const r = json<{ redirect_to: string }>(self(bob, ['--json', 'consent', 'deny', req.user_code]));
    const back = new URL(r.redirect_to);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('s2');
    const unknown = self(bob, ['consent', 'show', 'ZZZZ-ZZZZ']);
    expect(unknown.status).toBe(1);
    expect(unknown.err).toContain('self consent ls');
  });

  it('self apps ls|revoke: the grant, then revoked by app id, and the app’s token stops at once', async () => {
    const before = json<{ apps: Array<{ app_id: string; state: string; scopes: string[]; name: string }> }>(
      self(bob, ['--json', 'apps', 'ls']),
    );
    expect(before.apps).toEqual([
      expect.objectContaining({
        app_id: publicApp,
        name: 'Notes',
        state: 'active',
        scopes: ['profile:read', 'storage:read'],
      }),
    ]);
    expect(ok(self(bob, ['apps', 'ls'])).out).toContain('last used');

    const revoked = json<{ revoked: Array<{ revoked_at: number | null }> }>(
      self(bob, ['--json', 'apps', 'revoke', publicApp]),
    );
    expect(revoked.revoked).toHaveLength(1);
    const after = json<{ apps: Array<{ state: string }> }>(self(bob, ['--json', 'apps', 'ls']));
    expect(after.apps.map((a) => a.state)).toEqual(['revoked']);
    expect(json<{ apps: unknown[] }>(self(bob, ['--json', 'apps', 'ls', '--active'])).apps).toEqual([]);

    const profile = await fetch(`${url}/v1/i/${bobDid}/profile`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(profile.status).toBe(401);

    const nothing = self(bob, ['apps', 'revoke', publicApp]);
    expect(nothing.status).toBe(1);
    expect(nothing.err).toContain('nothing to revoke');
  });
});
