import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_MODEL_REPLY } from '@self/ai';
import { testModelPath } from '@self/ai/testing';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { SELFClient, SELFDeveloper, SELFError, type SELFSession } from '@self/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/free-port.js';
import { ok, runSelf, startSelfUp, type Device, type SelfUp } from './support/self-cli.js';

/**
 * Issue 6's "done when", from a fresh clone: `self up` (with the project's test model behind the
 * private AI), a developer who registers and creates an app with the CLI (signed on their device,
 * committed on chain), then an app built on @self/sdk that signs a test user in, gets consent,
 * stores and reads data and chats; the person revokes, and the app's next call is refused at once.
 */

const root = mkdtempSync(join(tmpdir(), 'self-sdk-e2e-'));
const REDIRECT = 'http://127.0.0.1:7788/callback';
const EXAMPLE = fileURLToPath(new URL('../../../examples/notes-app/src/server.ts', import.meta.url));
const SDK_ENTRY = fileURLToPath(new URL('../../sdk/src/index.ts', import.meta.url));
const SCOPES = ['storage:read', 'storage:write', 'ai:chat', 'profile:read', 'chain:read'];
let up: SelfUp | null = null;
/** The developer's API key, from `self dev register`. */
let apiKey = '';
let url = '';
const dev: Device = {
  home: join(root, 'dev'),
  passphrase: 'a long and private passphrase',
  server: () => url,
};
const self = (args: string[]) => ok(runSelf(dev, args));

beforeAll(async () => {
  const model = await testModelPath();
  up = await startSelfUp(join(root, 'data'), [
    ...['--port', '0', '--validators', '1'],
    ...['--model', model, '--allow-test-model'],
  ]);
  url = up.url;
}, 240_000);

afterAll(async () => {
  await up?.stop();
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('a developer, an app on @self/sdk and a test user, against self up', { timeout: 240_000 }, () => {
  let appId = '';
  let session: SELFSession;
  let personToken = '';

  it('the developer registers and creates an app with the CLI', () => {
    self(['signup', '--tier', 'free']);
    const reg = self(['dev', 'register', '--email', 'dev@notes.example', '--project', 'Notes']);
    apiKey = /api key +(self_dk_[A-Za-z0-9_-]{43})/.exec(reg.out)![1]!;
    const created = JSON.parse(
      self([
        '--json',
        'dev',
        'apps',
        'create',
        '--name',
        'Notes',
        '--redirect-uri',
        REDIRECT,
        ...SCOPES.flatMap((scope) => ['--scope', scope]),
      ]).out,
    ) as { app_id: string };
    appId = created.app_id;
    expect(appId).toMatch(/^app_[0-9a-f]{32}$/);
  });

  it('a test user signs in to the app and consents; the SDK gets a session for their instance', async () => {
    const developer = new SELFDeveloper({ apiKey, environment: { baseUrl: url } });
    const user = await developer.createTestUser({ tier: 'free' });
    personToken = user.sessionToken;
    const client = new SELFClient({ appId, environment: { baseUrl: url }, redirectUri: REDIRECT });
    const pending = await client.authorizationUrl({
      permissions: SCOPES,
    });
    const decision = await user.approve(pending.url);
    expect(decision.error ?? null).toBeNull();
    expect(decision.iss).toBe(url);
    session = await client.handleRedirect(decision.redirectTo, { pending });
    expect(session.did).toBe(user.did);
    expect(session.instanceUrl).toBe(`${url}/v1/i/${user.did}`);
    expect([...session.scopes].sort()).toEqual([
      'ai:chat',
      'chain:read',
      'profile:read',
      'storage:read',
      'storage:write',
    ]);
    expect((await session.profile()).did).toBe(user.did);
    // chain:read: the person's public account, read by their instance from the chain.
    const chain = await fetch(`${session.instanceUrl}/chain`, {
      headers: { authorization: `Bearer ${(await session.accessToken()).accessToken}` },
    });
    expect(chain.status).toBe(200);
    expect(await chain.json()).toMatchObject({
      did: user.did,
      address: user.did.slice('did:self:'.length),
      balance: expect.any(Number),
      did_document: expect.objectContaining({}),
    });
  });

  it('stores, lists and reads data in the app’s own namespace', async () => {
    await session.storage.save({ key: 'settings', value: { theme: 'dark', n: 3 } });
    await session.storage.save({ key: 'notes/1', value: 'buy milk' });
    expect(await session.storage.get('settings')).toEqual({ theme: 'dark', n: 3 });
    expect(await session.storage.get('missing')).toBeNull();
    const listed = await session.storage.list({ prefix: 'notes/' });
    expect(listed.items.map((i) => i.key)).toEqual(['notes/1']);
    // The person's own collections need a collection scope this app was not granted.
    await expect(session.storage.collection('notes').list()).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
  });

  it('chats with the person’s private AI, whole and streamed', async () => {
    const reply = await session.ai.chat({ message: 'Help me plan my day' });
    expect(reply.content).toBe(TEST_MODEL_REPLY);
    expect(reply.usage.completionTokens).toBeGreaterThan(0);
    let streamed = '';
    let chunks = 0;
    for await (const delta of session.ai.chatStream({ message: 'And tomorrow?' })) {
      streamed += delta;
      chunks++;
    }
    expect(streamed).toBe(TEST_MODEL_REPLY);
    expect(chunks).toBeGreaterThan(1);
  });

  it('the person revokes the app: its very next call is refused', async () => {
    const res = await fetch(`${url}/v1/me/apps/${session.grantId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${personToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
    const err = await session.storage.get('settings').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SELFError);
    expect((err as SELFError).code).toBe('UNAUTHENTICATED');
  });
});

describe('examples/notes-app against the same cloud', { timeout: 240_000 }, () => {
  let app: ChildProcess | null = null;
  afterAll(() => {
    app?.kill('SIGTERM');
  });

  it('signs a test user in, saves and lists a note, streams an answer from the AI, and disconnects', async () => {
    const port = await freePort('127.0.0.1');
    const base = `http://127.0.0.1:${port}`;
    const created = JSON.parse(
      self([
        ...['--json', 'dev', 'apps', 'create', '--name', 'Notes example'],
        ...['--redirect-uri', `${base}/callback`],
        ...['storage:read', 'storage:write', 'ai:chat', 'profile:read'].flatMap((s) => ['--scope', s]),
      ]).out,
    ) as { app_id: string };
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', EXAMPLE, '--app-id', created.app_id, '--self-url', url, '--port', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    app = proc;
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (c: Buffer) => {
        if (c.toString('utf8').includes('notes app on')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`the example exited (${code})`)));
    });

    // A browser, by hand: one cookie, redirects followed only where a browser would go next.
    let cookie = '';
    const visit = async (path: string, form?: Record<string, string>): Promise<Response> => {
      const res = await fetch(path.startsWith('http') ? path : base + path, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          ...(cookie ? { cookie } : {}),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0]!;
      return res;
    };
    const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

    await (await visit('/')).text();
    const login = await visit('/login');
    expect(login.status).toBe(303);
    const authorize = login.headers.get('location')!;
    expect(authorize.startsWith(`${url}/oauth/authorize?`)).toBe(true);

    const developer = new SELFDeveloper({ apiKey, environment: { baseUrl: url } });
    const user = await developer.createTestUser({ tier: 'free' });
    const decision = await user.approve(authorize);
    const callback = await visit(decision.redirectTo);
    expect(callback.status).toBe(303);

    const home = await (await visit('/')).text();
    expect(home).toContain('Disconnect from SELF');
    const saved = await visit('/notes', { csrf: csrfOf(home), text: 'buy oat milk' });
    expect(saved.status).toBe(303);
    const after = await (await visit('/')).text();
    expect(after).toContain('buy oat milk');

    const answer = await (await visit('/ask', { csrf: csrfOf(after), q: 'Plan my day' })).text();
    expect(answer).toContain(TEST_MODEL_REPLY);

    const gone = await visit('/disconnect', { csrf: csrfOf(after) });
    expect(gone.status).toBe(200);
    expect(await gone.text()).toContain('can no longer reach your instance');
    // The grant is revoked at the person's instance, not just forgotten by the app.
    const grants = (await (
      await fetch(`${url}/v1/me/apps`, { headers: { authorization: `Bearer ${user.sessionToken}` } })
    ).json()) as { apps: Array<{ grant: { state: string } }> };
    expect(grants.apps.map((a) => a.grant.state)).toEqual(['revoked']);
  });
});

describe('@self/sdk in Chromium, from an app on another origin', { timeout: 240_000 }, () => {
  let browser: Browser | null = null;
  let site: Server | null = null;
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
  });

  it('authenticate() goes to the consent page and back, then storage and the AI work from the browser', async () => {
    // The SDK bundled for browsers: platform 'browser' refuses any Node built-in it might import.
    const bundle = await build({
      entryPoints: [SDK_ENTRY],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const sdkJs = bundle.outputFiles[0]!.text;

    const port = await freePort('127.0.0.1');
    const origin = `http://127.0.0.1:${port}`;
    const created = JSON.parse(
      self([
        ...['--json', 'dev', 'apps', 'create', '--name', 'Browser notes'],
        ...['--redirect-uri', `${origin}/callback`],
        ...['storage:read', 'storage:write', 'ai:chat'].flatMap((s) => ['--scope', s]),
      ]).out,
    ) as { app_id: string };
    // The app's page, the same on / and /callback: authenticate() starts or finishes the sign-in.
    const appJs = `import { SELFClient, localStorageTokenStore } from '/sdk.js';
const client = new SELFClient({
  appId: ${JSON.stringify(created.app_id)},
  environment: { baseUrl: ${JSON.stringify(url)} },
  redirectUri: ${JSON.stringify(`${origin}/callback`)},
  tokenStore: localStorageTokenStore({ key: 'browser-notes' }),
});
window.result = (async () => {
  const session = await client.authenticate({ permissions: ['storage:read', 'storage:write', 'ai:chat'] });
  await session.storage.save({ key: 'from-the-browser', value: { ok: true } });
  const got = await session.storage.get('from-the-browser');
  const chat = await session.ai.chat({ message: 'Hello from a browser' });
  let streamed = '';
  for await (const delta of session.ai.chatStream({ message: 'Again' })) streamed += delta;
  return { did: session.did, got, chat: chat.content, streamed, address: location.href };
})().catch((e) => ({ error: String(e), code: e.code }));`;
    site = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/sdk.js' || path === '/app.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(path === '/sdk.js' ? sdkJs : appJs);
      } else {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><title>Browser notes</title><script type="module" src="/app.js"></script>');
      }
    });
    await new Promise<void>((resolve) => site!.listen(port, '127.0.0.1', resolve));

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    // authenticate() sent the browser to the cloud's consent page.
    await page.waitForURL(`${url}/oauth/authorize?**`, { timeout: 30_000 });
    const code = (await page.locator('.code').textContent())!.trim();
    const developer = new SELFDeveloper({ apiKey, environment: { baseUrl: url } });
    const user = await developer.createTestUser({ tier: 'free' });
    await user.approve(code);
    // The page learns the decision and comes back; the app's page finishes the sign-in.
    await page.waitForURL(`${origin}/callback**`, { timeout: 30_000 });
    await page.waitForFunction(() => 'result' in globalThis, undefined, { timeout: 30_000 });
    const result = await page.evaluate(() => (globalThis as unknown as { result: Promise<unknown> }).result);
    expect(result).toEqual({
      did: user.did,
      got: { ok: true },
      chat: TEST_MODEL_REPLY,
      streamed: TEST_MODEL_REPLY,
      // The code left the address bar once it was exchanged.
      address: `${origin}/callback`,
    });
  });
});
