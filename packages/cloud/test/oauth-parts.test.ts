import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppRateLimits, TokenBuckets, rateHeaders } from '../src/auth/rate-limit.js';
import { appBearer } from '../src/auth/principal.js';
import { DEFAULT_RATE_CLASSES } from '../src/config/tiers.js';
import { CONTROL_DB_FILE, openControlDatabase, type ControlDatabase } from '../src/db/database.js';
import { AccessTokens } from '../src/oauth/access-tokens.js';
import { CodeStore } from '../src/oauth/codes.js';
import { withQuery } from '../src/oauth/consent.js';
import { escapeHtml, consentPage } from '../src/oauth/consent-page.js';
import { FamilyStore } from '../src/oauth/families.js';
import { verifyS256 } from '../src/oauth/pkce.js';
import { SIGNING_KEY_FILE, loadSigningKey, type SigningKeyPair } from '../src/oauth/signing-key.js';
import { narrowScopes } from '../src/oauth/token-grants.js';

const DID = 'did:self:self1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq';
const OTHER = 'did:self:self1zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz';
const ISS = 'https://cloud.example';

/** The parts of the authorization server on their own: keys, tokens, PKCE, families, codes, limits. */
describe('oauth parts', () => {
  let dir: string;
  let db: ControlDatabase;
  let key: SigningKeyPair;
  const clock = { now: 1_700_000_000_000 };
  const now = (): number => clock.now;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'self-oauth-parts-'));
    db = openControlDatabase(join(dir, CONTROL_DB_FILE));
    key = loadSigningKey(dir);
  });

  afterAll(() => {
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('signing key', () => {
    it('is made once, 0600, and the same key after a restart', () => {
      const file = join(dir, SIGNING_KEY_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const again = loadSigningKey(dir);
      expect(again.kid).toBe(key.kid);
      expect(again.publicJwk).toEqual(key.publicJwk);
      expect(key.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key.publicJwk).not.toHaveProperty('d');
      expect(readFileSync(file, 'utf8')).toContain('"d"');
    });

    it('refuses a file that is not its Ed25519 private key rather than replacing it', () => {
      const other = mkdtempSync(join(tmpdir(), 'self-oauth-key-'));
      try {
        const file = join(other, SIGNING_KEY_FILE);
        writeFileSync(file, 'not json');
        expect(() => loadSigningKey(other)).toThrow(/not JSON/);
        writeFileSync(file, JSON.stringify({ kty: 'RSA' }));
        expect(() => loadSigningKey(other)).toThrow(/Ed25519/);
        // A public x that is not d's: tokens would verify nowhere.
        const a = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
        const b = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
        writeFileSync(file, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: b.x, d: a.d }));
        expect(() => loadSigningKey(other)).toThrow(/does not match/);
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    });
  });

  it('PKCE S256 matches RFC 7636 appendix B and nothing else', () => {
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
    expect(verifyS256(verifier, challenge)).toBe(true);
    expect(verifyS256(`${verifier.slice(0, -1)}j`, challenge)).toBe(false);
    // plain (verifier = challenge) is not S256.
    expect(verifyS256(challenge, challenge)).toBe(false);
    expect(verifyS256('short', challenge)).toBe(false);
    expect(verifyS256(verifier, `${challenge}=`)).toBe(false);
  });

  describe('access tokens', () => {
    const tokens = (): AccessTokens => new AccessTokens(key, ISS, now);
    const input = {
      did: DID,
      clientId: 'app_' + 'a'.repeat(32),
      scopes: ['profile:read'],
      grantId: 'gr_x',
      familyId: 'fam_x',
    };

    it('are RFC 9068 JWTs bound to the person’s instance', async () => {
      const { token, claims } = await tokens().issue(input);
      expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid });
      expect(decodeJwt(token)).toEqual(claims);
      expect(claims).toMatchObject({
        iss: ISS,
        sub: DID,
        aud: `${ISS}/v1/i/${DID}`,
        client_id: input.clientId,
        scope: 'profile:read',
        grant: 'gr_x',
        fam: 'fam_x',
      });
      expect(claims.exp - claims.iat).toBe(900);
      expect(await tokens().verify(token, { did: DID })).toEqual({ ok: true, claims });
      expect(await tokens().verify(token, { did: OTHER })).toEqual({ ok: false, reason: 'wrong_audience' });
    });

    it('refuses expired, tampered, foreign, unsigned and mistyped tokens', async () => {
      const { token } = await tokens().issue(input);
      clock.now += 901_000;
      expect(await tokens().verify(token)).toEqual({ ok: false, reason: 'expired' });
      expect((await tokens().verify(token, { ignoreExpiry: true })).ok).toBe(true);
      clock.now -= 901_000;

      const [h, p, s] = token.split('.') as [string, string, string];
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...payload, scope: 'storage:write' })).toString(
        'base64url',
      );
      expect(await tokens().verify(`${h}.${forged}.${s}`)).toEqual({ ok: false, reason: 'bad_token' });

      const stranger = generateKeyPairSync('ed25519').privateKey;
      const foreign = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid })
        .sign(stranger);
      expect(await tokens().verify(foreign)).toEqual({ ok: false, reason: 'bad_token' });

      const unsigned = new UnsecuredJWT(payload).encode();
      expect(await tokens().verify(unsigned)).toEqual({ ok: false, reason: 'bad_token' });

      const mistyped = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: key.kid })
        .sign(key.privateKey);
      expect(await tokens().verify(mistyped)).toEqual({ ok: false, reason: 'bad_token' });

      // Another issuer's token, even signed with this key, is not ours.
      const elsewhere = await new AccessTokens(key, 'https://evil.example', now).issue(input);
      expect(await tokens().verify(elsewhere.token)).toEqual({ ok: false, reason: 'bad_token' });
      // An audience that is not the subject's own instance.
      const crossed = await new SignJWT({ ...payload, aud: `${ISS}/v1/i/${OTHER}` })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid })
        .sign(key.privateKey);
      expect(await tokens().verify(crossed, { did: OTHER })).toEqual({ ok: false, reason: 'bad_token' });
      expect(await tokens().verify('a.b')).toEqual({ ok: false, reason: 'bad_token' });
    });

    it('are told apart from session tokens in the Authorization header', async () => {
      const { token } = await tokens().issue(input);
      expect(appBearer(`Bearer ${token}`)).toBe(token);
      expect(appBearer(`bearer ${token}`)).toBe(token);
      expect(appBearer(`Bearer self_s_${'A'.repeat(43)}`)).toBeNull();
      expect(appBearer(`Basic ${token}`)).toBeNull();
      expect(appBearer([`Bearer ${token}`, `Bearer ${token}`])).toBeNull();
    });
  });

  describe('token families', () => {
    const family = (families: FamilyStore, grantId = 'gr_a') =>
      families.create({
        clientId: 'app_1',
        did: DID,
        grantId,
        scopes: ['profile:read'],
        expiresAt: clock.now + 3_600_000,
      });

    it('rotate once; a rotated token presented again revokes the whole family', () => {
      const families = new FamilyStore(db, now);
      const f = family(families);
      const first = families.issueRefresh(f, f.scopes);
      expect(first.token).toMatch(/^self_rt_[A-Za-z0-9_-]{43}$/);
      expect(families.rotate(first.token).kind).toBe('live');
      const second = families.issueRefresh(f, f.scopes);
      expect(families.isLive(f.id)).toBe(true);
      const reuse = families.rotate(first.token);
      expect(reuse.kind).toBe('reused');
      expect(families.isLive(f.id)).toBe(false);
      expect(families.get(f.id)).toMatchObject({ revokedReason: 'refresh_reuse' });
      expect(families.inspect(second.token).kind).toBe('revoked');
      // The table is the authority: a new store (empty cache) agrees.
      expect(new FamilyStore(db, now).isLive(f.id)).toBe(false);
      // Stored as hashes only.
      expect(JSON.stringify(db.prepare('SELECT * FROM refresh_tokens').all())).not.toContain(
        second.token.slice(8),
      );
    });

    it('refresh tokens never outlive the grant, and revoking a grant ends its families (for that person only)', () => {
      const families = new FamilyStore(db, now);
      const a = family(families, 'gr_b');
      const b = family(families, 'gr_b');
      const other = families.create({
        clientId: 'app_1',
        did: OTHER,
        grantId: 'gr_b',
        scopes: ['profile:read'],
        expiresAt: clock.now + 3_600_000,
      });
      expect(families.issueRefresh(a, a.scopes).expiresAt).toBe(a.expiresAt);
      expect(families.isLive(a.id)).toBe(true);
      expect(families.revokeGrant(DID, 'gr_b', 'grant_revoked')).toBe(2);
      expect(families.isLive(a.id)).toBe(false);
      expect(families.isLive(b.id)).toBe(false);
      expect(families.isLive(other.id)).toBe(true);
      expect(families.isLive('fam_unknown')).toBe(false);
      clock.now += 3_600_000;
      expect(families.isLive(other.id)).toBe(false);
      clock.now -= 3_600_000;
    });
  });

  it('codes are single use and say when they expired', () => {
    const codes = new CodeStore(db, now);
    const input = {
      requestId: 'req_1',
      clientId: 'app_1',
      did: DID,
      grantId: 'gr_c',
      scopes: ['profile:read'],
      redirectUri: 'https://app.example/cb',
      codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      grantExpiresAt: clock.now + 3_600_000,
    };
    const code = codes.issue(input);
    expect(code).toMatch(/^self_ac_[A-Za-z0-9_-]{43}$/);
    const first = codes.redeem(code);
    expect(first).toMatchObject({ kind: 'fresh', expired: false, code: { grantId: 'gr_c', familyId: null } });
    codes.attachFamily(code, 'fam_c');
    expect(codes.redeem(code)).toMatchObject({ kind: 'reused', code: { familyId: 'fam_c' } });
    expect(codes.redeem('self_ac_' + 'A'.repeat(43))).toEqual({ kind: 'unknown' });

    const late = codes.issue({ ...input, requestId: 'req_2' });
    clock.now += 60_000;
    expect(codes.redeem(late)).toMatchObject({ kind: 'fresh', expired: true });
    clock.now -= 60_000;
  });

  it('scopes narrow, never widen', () => {
    expect(narrowScopes(undefined, ['a', 'b'])).toEqual(['a', 'b']);
    expect(narrowScopes('b', ['a', 'b'])).toEqual(['b']);
    expect(narrowScopes('b  a b', ['a', 'b'])).toEqual(['a', 'b']);
    expect(() => narrowScopes('a c', ['a', 'b'])).toThrow(/exceeds/);
    expect(() => narrowScopes(' ', ['a'])).toThrow(/empty/);
  });

  describe('app rate limits', () => {
    const classes = {
      ...DEFAULT_RATE_CLASSES,
      partner: { perMinute: 1, burst: 2 },
      anonymous: { perMinute: 1, burst: 1 },
    };
    const app = { appId: 'app_1', rateClass: 'partner' as const };
    const person = { did: DID, rateClass: 'authenticated' as const };

    it('take from the app’s bucket and the person’s, and report the tighter', () => {
      const buckets = new TokenBuckets(classes, 1000, now);
      const limits = new AppRateLimits(buckets, () => false);
      const first = limits.take('1.2.3.4', app, person)!;
      expect(first).toMatchObject({ allowed: true, scope: 'app', limit: 2, remaining: 1 });
      expect(rateHeaders(first)).toMatchObject({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1' });
      expect(rateHeaders(first)).not.toHaveProperty('retry-after');
      limits.take('1.2.3.4', app, person);
      const refused = limits.take('1.2.3.4', app, person)!;
      expect(refused).toMatchObject({ allowed: false, scope: 'app', remaining: 0 });
      expect(Number(rateHeaders(refused)['retry-after'])).toBeGreaterThan(0);
      // The person's bucket is the one their own requests use: 1,000 − 2 left.
      const own = buckets.take(`authenticated|${DID}`, 'authenticated');
      expect(own.remaining).toBe(997);
    });

    it('a refusal by the person’s bucket gives the app’s token back', () => {
      const buckets = new TokenBuckets(classes, 1000, now);
      const limits = new AppRateLimits(buckets, () => false);
      const tight = { did: OTHER, rateClass: 'anonymous' as const };
      const bigApp = { appId: 'app_2', rateClass: 'authenticated' as const };
      expect(limits.take('ip', bigApp, tight)).toMatchObject({
        allowed: true,
        scope: 'person',
        remaining: 0,
      });
      expect(limits.take('ip', bigApp, tight)).toMatchObject({ allowed: false, scope: 'person' });
      expect(buckets.take('authenticated|app:app_2', 'authenticated').remaining).toBe(998);
    });

    it('count bad tokens per IP, and exempt allow-listed addresses', () => {
      const buckets = new TokenBuckets(classes, 1000, now);
      const limits = new AppRateLimits(buckets, (ip) => ip === '10.0.0.1');
      expect(limits.takeIp('9.9.9.9')).toMatchObject({ allowed: true, scope: 'ip' });
      expect(limits.takeIp('9.9.9.9')).toMatchObject({ allowed: false, scope: 'ip' });
      expect(limits.takeIp('10.0.0.1')).toBeNull();
      expect(limits.take('10.0.0.1', app, person)).toBeNull();
    });
  });

  it('redirects keep the registered query; the page escapes what the app chose', () => {
    expect(withQuery('https://a.example/cb', { code: 'c', state: null, iss: 'https://i' })).toBe(
      'https://a.example/cb?code=c&iss=https%3A%2F%2Fi',
    );
    expect(withQuery('https://a.example/cb?x=1', { state: 'a b&c' })).toBe(
      'https://a.example/cb?x=1&state=a+b%26c',
    );
    expect(escapeHtml(`<script>"'&`)).toBe('&lt;script&gt;&quot;&#39;&amp;');
    const page = consentPage({
      requestId: 'req_</script><script>alert(1)</script>',
      poll: 'p',
      userCode: 'BCDF-GHJK',
      app: {
        app_id: 'app_1',
        name: '<img src=x onerror=alert(1)>',
        owner_did: DID,
        logo_uri: 'https://logo.example/a.png',
        verified_on_chain: true,
        height: 7,
      },
      scopes: [{ scope: 'profile:read', description: 'See <b>you</b>' }],
    });
    expect(page.html).not.toContain('<img src=x');
    expect(page.html).not.toContain('</script><script>alert');
    expect(page.html).toContain('BCDF-GHJK');
    expect(page.csp).toContain("default-src 'none'");
    expect(page.csp).toContain('img-src https://logo.example');
    expect(page.csp).toContain("frame-ancestors 'none'");
  });
});
