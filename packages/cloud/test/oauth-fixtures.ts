import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { signConsent, type DeviceIdentity } from '@self/crypto';
import { tokenHash } from '../src/auth/tokens.js';
import { CONTROL_DB_FILE, openControlDatabase, type ControlDatabase } from '../src/db/database.js';
import { createCloud, type CloudOptions } from '../src/gateway.js';
import type { TestChain } from './support/chain.js';
import { call, testProvisioner, type JsonResponse, type TestCloud } from './support/cloud.js';
import { b64url, didCreate } from './support/people.js';

/** A gateway whose public URL is where it listens, so OAuth clients can follow its metadata. */
export interface OAuthCloud extends TestCloud {
  /** The control database, opened beside the gateway (tests insert developers and apps). */
  db: ControlDatabase;
  /** Milliseconds added to the gateway's clock (expiry tests move it, then put it back). */
  clock: { skew: number };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startOAuthCloud(
  chain: TestChain,
  extra: Partial<Omit<CloudOptions, 'provisioner' | 'chain' | 'dataDir' | 'publicUrl' | 'now'>> = {},
): Promise<OAuthCloud> {
  const root = mkdtempSync(join(tmpdir(), 'self-cloud-oauth-'));
  const dataDir = join(root, 'cloud');
  const provisioner = testProvisioner(join(root, 'i'));
  const port = await freePort();
  const clock = { skew: 0 };
  const cloud = createCloud({
    dataDir,
    provisioner,
    chain: { client: chain.client, chainId: chain.chainId, sponsor: chain.faucet, pointPrice: 1 },
    publicUrl: `http://127.0.0.1:${port}`,
    logger: false,
    now: () => Date.now() + clock.skew,
    ...extra,
  });
  const url = await cloud.app.listen({ host: '127.0.0.1', port });
  const db = openControlDatabase(join(dataDir, CONTROL_DB_FILE));
  return {
    cloud,
    url,
    dataDir,
    provisioner,
    db,
    clock,
    close: async () => {
      db.close();
      await cloud.close();
      await provisioner.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Signs a person up (free tier unless said): their session token. */
export async function signUp(
  gw: OAuthCloud,
  chain: TestChain,
  p: DeviceIdentity,
  tier = 'free',
): Promise<string> {
  const res = await call(gw.url, 'POST', '/v1/signup', {
    json: { tier, transaction: didCreate(p, { chainId: chain.chainId }) },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return (res.body.session as { token: string }).token;
}

/** A developer row for `did` (the developer routes are another helper's; these tests need only the row). */
export function insertDeveloper(db: ControlDatabase, did: string): string {
  const id = `dev_${randomBytes(16).toString('base64url')}`;
  db.prepare('INSERT INTO developers (id, did, email, project, created_at) VALUES (?, ?, ?, ?, ?)').run(
    id,
    did,
    'dev@example.com',
    'OAuth tests',
    Date.now(),
  );
  return id;
}

export interface TestApp {
  appId: string;
  /** Confidential clients only. */
  secret: string | null;
  redirectUri: string;
}

/** An OAuth client row, as the developer registry mirrors an app committed on chain. */
export function insertApp(
  db: ControlDatabase,
  developerId: string,
  o: {
    appId?: string;
    clientType?: 'public' | 'confidential';
    redirectUris?: string[];
    scopes?: string[];
    rateClass?: 'anonymous' | 'authenticated' | 'partner';
    name?: string;
    logoUri?: string;
    active?: boolean;
  } = {},
): TestApp {
  const appId = o.appId ?? `app_${randomBytes(16).toString('hex')}`;
  const clientType = o.clientType ?? 'public';
  const secret = clientType === 'confidential' ? `self_cs_${randomBytes(32).toString('base64url')}` : null;
  const redirectUris = o.redirectUris ?? ['http://127.0.0.1:9/callback'];
  const now = Date.now();
  db.prepare(
    `INSERT INTO apps (app_id, developer_id, client_type, secret_hash, name, logo_uri, redirect_uris, scopes,
       active, rate_class, tx_hash, height, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    appId,
    developerId,
    clientType,
    secret === null ? null : tokenHash(secret),
    o.name ?? 'Test notes',
    o.logoUri ?? '',
    JSON.stringify(redirectUris),
    JSON.stringify(o.scopes ?? ['profile:read', 'storage:read', 'storage:write', 'storage:notes:read']),
    o.active === false ? 0 : 1,
    o.rateClass ?? 'authenticated',
    '00'.repeat(32),
    1,
    now,
    now,
  );
  return { appId, secret, redirectUri: redirectUris[0]! };
}

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function pkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The authorization URL's query. */
export function authorizeQuery(
  app: TestApp,
  p: Pkce,
  extra: Record<string, string | undefined> = {},
): string {
  const q = new URLSearchParams();
  const params: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: app.appId,
    redirect_uri: app.redirectUri,
    scope: 'profile:read storage:read',
    state: 'st-123',
    code_challenge: p.challenge,
    code_challenge_method: 'S256',
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, v);
  return q.toString();
}

/** GET /oauth/authorize without following redirects. */
export async function authorize(
  gw: OAuthCloud,
  query: string,
  accept = 'application/json',
): Promise<{ status: number; headers: Headers; text: string; json: Record<string, unknown> | null }> {
  const res = await fetch(`${gw.url}/oauth/authorize?${query}`, { headers: { accept }, redirect: 'manual' });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A pending request (JSON answer of /oauth/authorize) for `app`. */
export async function newRequest(
  gw: OAuthCloud,
  app: TestApp,
  p: Pkce,
  extra: Record<string, string | undefined> = {},
): Promise<{ request_id: string; user_code: string; poll: string }> {
  const res = await authorize(gw, authorizeQuery(app, p, extra));
  expect(res.status, res.text).toBe(200);
  return res.json as { request_id: string; user_code: string; poll: string };
}

/** A form-encoded POST (what OAuth clients send). */
export async function form(
  base: string,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

export const basic = (id: string, secret: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
});

/** The device's side of approving: signs the consent the request view names and sends it. */
export async function approve(
  gw: OAuthCloud,
  p: DeviceIdentity,
  session: string,
  ref: string,
  o: { ttlMs?: number; issuedAt?: number; tamper?: (f: ConsentShape) => ConsentShape } = {},
): Promise<JsonResponse> {
  const view = await call(gw.url, 'GET', `/v1/consent/requests/${ref}`, { token: session });
  expect(view.status, JSON.stringify(view.body)).toBe(200);
  const r = view.body.request as {
    id: string;
    origin: string;
    grant_id: string;
    app: { app_id: string };
    scopes: Array<{ scope: string }>;
  };
  const issuedAt = o.issuedAt ?? Date.now() + gw.clock.skew;
  let fields: ConsentShape = {
    origin: r.origin,
    did: p.did,
    grant: r.grant_id,
    app: r.app.app_id,
    scopes: r.scopes.map((s) => s.scope),
    issuedAt,
    expiresAt: issuedAt + (o.ttlMs ?? 90 * 24 * 3600 * 1000),
  };
  if (o.tamper) fields = o.tamper(fields);
  const signature = signConsent(p.account, fields);
  return call(gw.url, 'POST', `/v1/consent/requests/${r.id}/approve`, {
    token: session,
    json: {
      public_key: b64url(p.accountPublicKey),
      signature: b64url(signature),
      issued_at: issuedAt,
      expires_at: issuedAt + (o.ttlMs ?? 90 * 24 * 3600 * 1000),
    },
  });
}

export interface ConsentShape {
  origin: string;
  did: string;
  grant: string;
  app: string;
  scopes: string[];
  issuedAt: number;
  expiresAt: number;
}

/** The query of a redirect URL as an object. */
export function queryOf(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams.entries());
}
