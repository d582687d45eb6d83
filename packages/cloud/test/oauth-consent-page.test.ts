import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeviceIdentity } from '@self/crypto';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestChain, type TestChain } from './support/chain.js';
import { call } from './support/cloud.js';
import { people } from './support/people.js';
import {
  approve,
  authorizeQuery,
  insertApp,
  insertDeveloper,
  pkce,
  signUp,
  startOAuthCloud,
  type OAuthCloud,
  type TestApp,
} from './oauth-fixtures.js';

/**
 * The consent page in a real browser (Debian's Chromium, as `.ci/run` installs it): the page
 * renders under its own strict Content-Security-Policy, shows the app and each scope in plain
 * words and the code to approve with, and its script learns the person's decision (made on their
 * device) and sends the browser back to the app with `code`, `state` and `iss`, or with
 * `error=access_denied`.
 */

const CHROMIUM = '/usr/bin/chromium';

describe('the consent page in Chromium', () => {
  let chain: TestChain;
  let gw: OAuthCloud;
  let person: DeviceIdentity;
  let session: string;
  let app: TestApp;
  let browser: Browser;
  let callbacks: Server;
  const arrived: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
    // The app's redirect target: records where the browser arrives.
    callbacks = createServer((req, res) => {
      arrived.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('back at the app');
    });
    await new Promise<void>((resolve) => callbacks.listen(0, '127.0.0.1', resolve));
    const port = (callbacks.address() as AddressInfo).port;

    const [owner] = people('consent-page-owner');
    [person] = people('consent-page-person');
    chain = await startTestChain('self-cloud-consent-page');
    gw = await startOAuthCloud(chain);
    session = await signUp(gw, chain, person!);
    app = insertApp(gw.db, insertDeveloper(gw.db, owner!.did), {
      name: 'Page Notes',
      redirectUris: [`http://127.0.0.1:${port}/callback`],
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (callbacks ? callbacks.close(() => resolve()) : resolve()));
    await gw?.close();
    await chain?.stop();
  });

  async function openConsent(state: string) {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    const query = authorizeQuery(app, pkce(), { state, login_hint: person.did });
    const res = await page.goto(`${gw.url}/oauth/authorize?${query}`);
    expect(res?.status()).toBe(200);
    const code = (await page.locator('.code').textContent())!.trim();
    expect(code).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    return { page, code, violations };
  }

  it('shows the app and the scopes in plain words, then follows the approval back to the app', async () => {
    const { page, code, violations } = await openConsent('st-approve');
    await expect(page.title()).resolves.toBe('Allow Page Notes? · SELF');
    const text = await page.locator('body').innerText();
    expect(text).toContain('See your SELF identity (your DID) and the profile you keep in SELF');
    expect(text).toContain('Read the data this app saved in your SELF');
    expect(text).toContain(`self consent approve ${code}`);
    expect(await page.locator('#status').textContent()).toBe('Waiting for your decision…');

    // The person decides on their device; the page, polling, finds out and goes back to the app.
    const decided = await approve(gw, person, session, code);
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    await page.waitForURL(/\/callback\?/, { timeout: 30_000 });
    const back = new URL(page.url());
    expect(back.searchParams.get('state')).toBe('st-approve');
    expect(back.searchParams.get('iss')).toBe(gw.url);
    expect(back.searchParams.get('code')).toMatch(/^self_ac_/);
    expect(arrived.some((u) => u.includes('state=st-approve'))).toBe(true);
    // The page ran its script under its CSP without a single violation.
    expect(violations).toEqual([]);
    await page.close();
  });

  it('sends the browser back with access_denied when the person refuses', async () => {
    const { page, code } = await openConsent('st-deny');
    const denied = await call(gw.url, 'POST', `/v1/consent/requests/${code}/deny`, {
      token: session,
      json: {},
    });
    expect(denied.status, JSON.stringify(denied.body)).toBe(200);
    await page.waitForURL(/\/callback\?/, { timeout: 30_000 });
    const back = new URL(page.url());
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('st-deny');
    expect(back.searchParams.get('code')).toBeNull();
    await page.close();
  });
});
