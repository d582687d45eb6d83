/**
 * `npm run bench -- oauth [--flows 20] [--tokens 2000] [--seconds 8] [--connections 32]`
 *
 * 1. The whole sign-in of an app, as the server sees it: `self up` (one validator, no AI) in a
 *    child process, a developer with an app on chain, a person; then `--flows` times: authorize
 *    (JSON) → the person reads the consent request → signs it on the device → approve (the
 *    instance verifies and stores the grant) → token (code + PKCE) → the app's first storage call
 *    with its new token. Server time = the sum of the HTTP round trips over loopback; the device's
 *    signing time is reported apart (flow_server_p50_ms, sign_p50_ms).
 * 2. Token checks at the instance, in this process: AppTokens.authenticate (JWT signature, issuer,
 *    audience, expiry, then the grant the person signed) for tokens it has not seen
 *    (token_checks_cold_per_s) and for a token it has (token_checks_warm_per_s), against a bare
 *    grant lookup (grant_lookups_per_s) in the same run.
 * 3. App storage reads through the gateway (token checked at the gateway and at the instance, two
 *    rate-limit buckets) against the person's own reads of the same object and a bare Fastify
 *    route, loaded the same way in the same run (app_over_person_rps, app_over_baseline_rps).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { deriveAppId, encodeSignedTransaction, signTransaction, type Transaction } from '@self/chain';
import {
  encryptionKeysFromSeed,
  identityFromSeed,
  newGrantId,
  newRecoveryPhrase,
  recoveryPhraseToSeed,
  sha512,
  signConsent,
  utf8,
  type DeviceIdentity,
} from '@self/crypto';
import { AppTokens, Instance, createGrant, generateHostKey } from '@self/instance';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { httpLoad } from './lib/http-load.js';
import { signupTransaction, startBaseline, startSelfUp } from './lib/self-up.js';
import { median, round } from './lib/timing.js';

const { values: args } = parseArgs({
  options: {
    flows: { type: 'string', default: '20' },
    tokens: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '32' },
  },
});
const flows = Number(args.flows);
const tokenCount = Number(args.tokens);
const seconds = Number(args.seconds);
const connections = Number(args.connections);

const dataDir = mkdtempSync(join(tmpdir(), 'self-bench-oauth-'));
process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));

// ---- 1. `self up` and the parties
const { url, chainId } = await startSelfUp(dataDir, ['--validators', '1', '--no-ai', '--no-rate-limit']);
console.log(`self up at ${url} (chain ${chainId})`);

async function send(
  method: string,
  path: string,
  opts: { token?: string; json?: unknown; form?: Record<string, string>; accept?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.accept) headers.accept = opts.accept;
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  }
  const res = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, body: text.length > 0 && text.startsWith('{') ? JSON.parse(text) : {} };
}

function expectStatus(r: { status: number; body: unknown }, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
}

async function signup(person: DeviceIdentity): Promise<{ did: string; address: string; token: string }> {
  const transaction = signupTransaction(chainId, person);
  const r = await send('POST', '/v1/signup', { json: { tier: 'pro', transaction } });
  expectStatus(r, 201, 'sign-up');
  const b = r.body as { did: string; address: string; session: { token: string } };
  return { did: b.did, address: b.address, token: b.session.token };
}

const developer = identityFromSeed(sha512(utf8(`bench-oauth-dev-${dataDir}`)));
const person = identityFromSeed(sha512(utf8(`bench-oauth-person-${dataDir}`)));
const [dev, me] = await Promise.all([signup(developer), signup(person)]);
expectStatus(
  await send('POST', '/v1/developers/register', {
    token: dev.token,
    json: { email: 'bench@example.com', project: 'bench' },
  }),
  201,
  'developer registration',
);
const REDIRECT = 'http://127.0.0.1:7799/callback';
const SCOPES = ['storage:read', 'storage:write'];
const appId = deriveAppId(dev.address, 2);
const registerTx: Transaction<'app.register'> = {
  v: 1,
  chain_id: chainId,
  kind: 'app.register',
  nonce: 2,
  point_price: 1,
  body: { app_id: appId, name: 'Bench', logo_uri: '', redirect_uris: [REDIRECT], scopes: SCOPES },
};
const stx = signTransaction(registerTx, developer.account);
expectStatus(
  await send('POST', '/v1/developers/apps', {
    token: dev.token,
    json: {
      transaction: Buffer.from(encodeSignedTransaction(stx)).toString('base64url'),
      client_type: 'public',
    },
  }),
  201,
  'app registration',
);
console.log(`developer ${dev.did}, app ${appId}, person ${me.did}`);

// ---- 1. the sign-in flow, timed step by step
const steps = {
  authorize: [] as number[],
  consent: [] as number[],
  approve: [] as number[],
  token: [] as number[],
  first_call: [] as number[],
};
const signMs: number[] = [];
const serverMs: number[] = [];
let accessToken = '';
for (let i = 0; i < flows; i++) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: appId,
    redirect_uri: REDIRECT,
    scope: SCOPES.join(' '),
    state: `s${i}`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    login_hint: me.did,
  });
  let t = performance.now();
  const lap = (): number => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return ms;
  };
  const authz = await send('GET', `/oauth/authorize?${query}`, { accept: 'application/json' });
  expectStatus(authz, 200, 'authorize');
  steps.authorize.push(lap());
  const requestId = authz.body.request_id as string;
  const consent = await send('GET', `/v1/consent/requests/${requestId}`, { token: me.token });
  expectStatus(consent, 200, 'consent request');
  steps.consent.push(lap());
  const req = consent.body.request as {
    origin: string;
    grant_id: string;
    app: { app_id: string };
    scopes: Array<{ scope: string }>;
  };
  const issuedAt = Date.now();
  const expiresAt = issuedAt + 90 * 24 * 3600_000;
  const signature = signConsent(person.account, {
    origin: req.origin,
    did: me.did,
    grant: req.grant_id,
    app: req.app.app_id,
    scopes: req.scopes.map((s) => s.scope),
    issuedAt,
    expiresAt,
  });
  signMs.push(lap());
  const approved = await send('POST', `/v1/consent/requests/${requestId}/approve`, {
    token: me.token,
    json: {
      public_key: Buffer.from(person.account.publicKey).toString('base64url'),
      signature: Buffer.from(signature).toString('base64url'),
      issued_at: issuedAt,
      expires_at: expiresAt,
    },
  });
  expectStatus(approved, 200, 'approve');
  steps.approve.push(lap());
  const code = new URL(approved.body.redirect_to as string).searchParams.get('code')!;
  const token = await send('POST', '/oauth/token', {
    form: {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: appId,
    },
  });
  expectStatus(token, 200, 'token');
  steps.token.push(lap());
  accessToken = token.body.access_token as string;
  const first = await fetch(`${url}/v1/i/${me.did}/data/default/probe`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ i }),
  });
  await first.arrayBuffer();
  if (first.status !== 200 && first.status !== 201) throw new Error(`first storage call: ${first.status}`);
  steps.first_call.push(lap());
  serverMs.push(
    steps.authorize.at(-1)! +
      steps.consent.at(-1)! +
      steps.approve.at(-1)! +
      steps.token.at(-1)! +
      steps.first_call.at(-1)!,
  );
}
const p50 = (xs: number[]): number => round(median([...xs].sort((a, b) => a - b)));
console.log(
  `sign-in flow (${flows} runs), p50 ms: authorize ${p50(steps.authorize)}, consent read ${p50(steps.consent)}, ` +
    `approve ${p50(steps.approve)}, token ${p50(steps.token)}, first storage call ${p50(steps.first_call)}; ` +
    `server total ${p50(serverMs)}; device signing ${p50(signMs)} (not in the total)`,
);

// ---- 2. token checks at the instance, in process
const root = mkdtempSync(join(tmpdir(), 'self-bench-tokens-'));
const inst = Instance.create({
  dir: join(root, 'inst'),
  instanceId: 'bench',
  did: me.did,
  tier: 'pro',
  mode: 'always-on',
  personPublicKey: encryptionKeysFromSeed(recoveryPhraseToSeed(newRecoveryPhrase())).publicKey,
  hostKey: generateHostKey(),
});
const ISSUER = 'https://cloud.bench';
const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const kid = randomUUID();
const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
const benchApp = appId;
const issuedAt = Date.now();
const fields = {
  origin: ISSUER,
  did: me.did,
  grant: newGrantId(),
  app: benchApp,
  scopes: SCOPES,
  issuedAt,
  expiresAt: issuedAt + 24 * 3600_000,
};
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const grant = createGrant(
  inst,
  { kind: 'person', did: me.did },
  {
    consent: {
      origin: fields.origin,
      did: fields.did,
      grant: fields.grant,
      app: fields.app,
      scopes: fields.scopes,
      issued_at: fields.issuedAt,
      expires_at: fields.expiresAt,
    },
    public_key: b64(person.account.publicKey),
    signature: b64(signConsent(person.account, fields)),
  },
  Date.now(),
).grant;
const tokens = new AppTokens(inst, { issuer: ISSUER, keys: [jwk] }, Date.now);
const mint = (): Promise<string> => {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: benchApp, scope: SCOPES.join(' '), grant: grant.id, fam: 'fam_bench' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
    .setIssuer(ISSUER)
    .setSubject(me.did)
    .setAudience(`${ISSUER}/v1/i/${me.did}`)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + 900)
    .sign(privateKey);
};
const minted: string[] = [];
for (let i = 0; i < tokenCount; i++) minted.push(await mint());
let t0 = performance.now();
for (const tok of minted) await tokens.authenticate(me.did, tok);
const coldPerS = tokenCount / ((performance.now() - t0) / 1000);
const warmRuns = tokenCount * 20;
t0 = performance.now();
for (let i = 0; i < warmRuns; i++) await tokens.authenticate(me.did, minted[0]!);
const warmPerS = warmRuns / ((performance.now() - t0) / 1000);
t0 = performance.now();
for (let i = 0; i < warmRuns; i++) inst.grants().get(grant.id);
const lookupPerS = warmRuns / ((performance.now() - t0) / 1000);
inst.close();
rmSync(root, { recursive: true, force: true });
console.log(
  `token checks at the instance: ${round(coldPerS)}/s first sight (signature verified), ` +
    `${round(warmPerS)}/s seen before; bare grant lookups ${round(lookupPerS)}/s`,
);

// ---- 3. app reads through the gateway vs the person's and a bare route
const baselineUrl = await startBaseline();
const object = `${url}/v1/i/${me.did}/data/default/probe`;
// The same key in the person's own namespace, the same size: both loads read one small object.
const own = await fetch(object, {
  method: 'PUT',
  headers: { authorization: `Bearer ${me.token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ i: flows - 1 }),
});
await own.arrayBuffer();
const baseline = await httpLoad({ url: baselineUrl, seconds, connections });
console.log(`baseline (bare Fastify GET): ${round(baseline.rps)} req/s`);
const personLoad = await httpLoad({
  url: object,
  headers: { authorization: `Bearer ${me.token}` },
  seconds,
  connections,
});
console.log(
  `person GET via gateway: ${round(personLoad.rps)} req/s, p99 ${personLoad.p99_ms} ms, non-2xx ${personLoad.non2xx}`,
);
const appLoad = await httpLoad({
  url: object,
  headers: { authorization: `Bearer ${accessToken}` },
  seconds,
  connections,
});
console.log(
  `app GET via gateway: ${round(appLoad.rps)} req/s, p99 ${appLoad.p99_ms} ms, non-2xx ${appLoad.non2xx}`,
);

const figures = {
  bench: 'oauth',
  flows,
  authorize_p50_ms: p50(steps.authorize),
  consent_read_p50_ms: p50(steps.consent),
  approve_p50_ms: p50(steps.approve),
  token_p50_ms: p50(steps.token),
  first_call_p50_ms: p50(steps.first_call),
  flow_server_p50_ms: p50(serverMs),
  sign_p50_ms: p50(signMs),
  token_checks_cold_per_s: round(coldPerS),
  token_checks_warm_per_s: round(warmPerS),
  grant_lookups_per_s: round(lookupPerS),
  baseline_rps: round(baseline.rps),
  person_get_rps: round(personLoad.rps),
  app_get_rps: round(appLoad.rps),
  app_over_person_rps: round(appLoad.rps / personLoad.rps, 3),
  app_over_baseline_rps: round(appLoad.rps / baseline.rps, 3),
  app_non2xx: appLoad.non2xx,
};
console.log(JSON.stringify(figures));
process.exit(0);
