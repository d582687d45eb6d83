import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accountKeysFromPhrase, newRecoveryPhrase } from '@self/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.js';
import {
  CloudClient,
  DEFAULT_SCRYPT,
  cliErrorFromCloud,
  getPassphrase,
  identityPath,
  openIdentity,
  readIdentityFile,
  readSession,
  sealIdentity,
  selfHome,
  serializeIdentityFile,
  sessionUsable,
  writeIdentityFile,
  writeSession,
  type IdentityFile,
} from '../src/device/index.js';

const BIN = fileURLToPath(new URL('../bin/self.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'self-device-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const freshHome = (): string => join(root, `home-${++n}`, '.self');
const mode = (path: string): number => statSync(path).mode & 0o777;

const PHRASE = newRecoveryPhrase();
const PASS = 'correct horse battery staple';
const SERVER = 'http://127.0.0.1:8080';

async function expectCliError(p: Promise<unknown>, pattern: RegExp): Promise<CliError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  expect((err as CliError).message).toMatch(pattern);
  return err as CliError;
}

describe('identity file', () => {
  let home: string;
  let sealed: IdentityFile;

  beforeAll(async () => {
    home = freshHome();
    sealed = await sealIdentity({
      phrase: PHRASE,
      passphrase: PASS,
      scheme: 'hybrid-ed25519-ml-dsa-65',
      server: SERVER,
    });
    writeIdentityFile(home, sealed);
  });

  it('records the DID, address, server and the scrypt parameters, never the phrase', () => {
    const text = readFileSync(identityPath(home), 'utf8');
    const keys = accountKeysFromPhrase(PHRASE);
    const f = JSON.parse(text) as IdentityFile;
    expect(f).toMatchObject({
      v: 1,
      did: keys.did,
      address: keys.address,
      scheme: 'hybrid-ed25519-ml-dsa-65',
      server: SERVER,
      key: {
        kdf: 'scrypt',
        N: DEFAULT_SCRYPT.N,
        r: DEFAULT_SCRYPT.r,
        p: DEFAULT_SCRYPT.p,
        alg: 'aes-256-gcm',
      },
    });
    expect(Buffer.from(f.key.salt, 'base64url')).toHaveLength(16);
    expect(Buffer.from(f.key.nonce, 'base64url')).toHaveLength(12);
    for (const word of PHRASE.split(' ')) expect(text).not.toContain(` ${word} `);
    expect(text).not.toContain(PHRASE.split(' ').slice(0, 3).join(' '));
  });

  it('round-trips byte for byte: read, write again, same bytes; the same phrase comes out', async () => {
    const before = readFileSync(identityPath(home));
    const read = readIdentityFile(home);
    expect(read).toEqual(sealed);
    writeIdentityFile(home, read!);
    expect(readFileSync(identityPath(home)).equals(before)).toBe(true);
    expect(Buffer.from(serializeIdentityFile(read!), 'utf8').equals(before)).toBe(true);
    expect(await openIdentity(read!, PASS)).toBe(PHRASE);
  });

  it('is 0600 in a 0700 home, and leaves no temporary files behind', () => {
    expect(mode(home)).toBe(0o700);
    expect(mode(identityPath(home))).toBe(0o600);
    expect(readdirSync(home)).toEqual(['identity.json']);
  });

  it('tightens an existing home that others could read', async () => {
    const loose = freshHome();
    mkdirSync(loose, { recursive: true });
    chmodSync(loose, 0o755);
    writeIdentityFile(loose, sealed);
    expect(mode(loose)).toBe(0o700);
    expect(mode(identityPath(loose))).toBe(0o600);
  });

  it('refuses a wrong passphrase with an error that says what to do', async () => {
    const err = await expectCliError(openIdentity(sealed, 'not the passphrase'), /wrong passphrase/);
    expect(err.message).toMatch(/self login --recover/);
    await expectCliError(openIdentity(sealed, ''), /must not be empty/);
  });

  it('detects a tampered file: ciphertext, nonce, server, address, DID or KDF parameters', async () => {
    const other = accountKeysFromPhrase(newRecoveryPhrase());
    const flip = (s: string): string => {
      const b = Buffer.from(s, 'base64url');
      b[b.length - 1]! ^= 0x01;
      return b.toString('base64url');
    };
    const variants: IdentityFile[] = [
      { ...sealed, key: { ...sealed.key, ciphertext: flip(sealed.key.ciphertext) } },
      { ...sealed, key: { ...sealed.key, nonce: flip(sealed.key.nonce) } },
      { ...sealed, key: { ...sealed.key, salt: flip(sealed.key.salt) } },
      { ...sealed, key: { ...sealed.key, N: sealed.key.N / 2 } },
      { ...sealed, server: 'https://phish.example' },
      { ...sealed, address: other.address },
      { ...sealed, did: other.did },
      { ...sealed, created_at: sealed.created_at + 1 },
    ];
    for (const v of variants) {
      const h = freshHome();
      writeIdentityFile(h, v);
      const reread = readIdentityFile(h)!;
      await expectCliError(openIdentity(reread, PASS), /wrong passphrase, or the file was altered/);
    }
  });

  it('refuses files that are not identity files, and hostile scrypt parameters, before deriving', () => {
    const h = freshHome();
    mkdirSync(h, { recursive: true });
    const write = (v: unknown): void =>
      writeFileSync(identityPath(h), typeof v === 'string' ? v : JSON.stringify(v));
    write('not json');
    expect(() => readIdentityFile(h)).toThrow(/not a SELF identity file \(not JSON\)/);
    write({ ...sealed, v: 2 });
    expect(() => readIdentityFile(h)).toThrow(/unknown version/);
    write({ ...sealed, key: { ...sealed.key, N: 1 << 24 } });
    expect(() => readIdentityFile(h)).toThrow(/scrypt parameters .* out of range/);
    write({ ...sealed, key: { ...sealed.key, N: 3000 } });
    expect(() => readIdentityFile(h)).toThrow(/out of range/);
    write({ ...sealed, key: { ...sealed.key, nonce: 'AAAA' } });
    expect(() => readIdentityFile(h)).toThrow(/malformed salt, nonce or ciphertext/);
  });

  it('refuses an empty passphrase and a phrase that is not one when sealing', async () => {
    await expectCliError(
      sealIdentity({ phrase: PHRASE, passphrase: '', scheme: 'ed25519', server: SERVER }),
      /must not be empty/,
    );
    await expectCliError(
      sealIdentity({ phrase: 'abandon abandon', passphrase: PASS, scheme: 'ed25519', server: SERVER }),
      /recovery phrase/,
    );
  });

  it('seals an ed25519 identity with its own address', async () => {
    const f = await sealIdentity({ phrase: PHRASE, passphrase: PASS, scheme: 'ed25519', server: SERVER });
    expect(f.address).toBe(accountKeysFromPhrase(PHRASE, 'ed25519').address);
    expect(f.address).not.toBe(sealed.address);
    expect(await openIdentity(f, PASS)).toBe(PHRASE);
  });
});

describe('passphrase', () => {
  it('comes from SELF_PASSPHRASE; an empty one is refused', async () => {
    expect(await getPassphrase({ what: 'x' }, { SELF_PASSPHRASE: 'p' })).toBe('p');
    await expectCliError(
      getPassphrase({ what: 'x' }, { SELF_PASSPHRASE: '' }),
      /SELF_PASSPHRASE is set but empty/,
    );
  });
});

describe('session file', () => {
  it('is written 0600 and read back; usable only for its server and DID, and not when about to expire', () => {
    const home = freshHome();
    const now = 1_700_000_000_000;
    const s = { server: SERVER, did: 'did:self:x', token: 'self_s_abc', expires_at: now + 3_600_000 };
    writeSession(home, s);
    expect(mode(join(home, 'session.json'))).toBe(0o600);
    expect(mode(home)).toBe(0o700);
    const read = readSession(home);
    expect(read).toEqual(s);
    expect(sessionUsable(read, SERVER, 'did:self:x', now)).toBe(true);
    expect(sessionUsable(read, 'http://other:8080', 'did:self:x', now)).toBe(false);
    expect(sessionUsable(read, SERVER, 'did:self:y', now)).toBe(false);
    expect(sessionUsable(read, SERVER, 'did:self:x', s.expires_at - 1000)).toBe(false);
    writeFileSync(join(home, 'session.json'), '{oops');
    expect(readSession(home)).toBeNull();
  });
});

describe('SELF_HOME', () => {
  it('defaults to ~/.self and follows SELF_HOME', () => {
    expect(selfHome({})).toBe(join(homedir(), '.self'));
    expect(selfHome({ SELF_HOME: '' })).toBe(join(homedir(), '.self'));
    expect(selfHome({ SELF_HOME: join(root, 'elsewhere') })).toBe(join(root, 'elsewhere'));
  });

  it('isolates devices: the CLI sees only the identity in its own SELF_HOME', async () => {
    const a = freshHome();
    const b = freshHome();
    const fakeHome = join(root, 'fake-user-home');
    mkdirSync(fakeHome, { recursive: true });
    writeIdentityFile(
      a,
      await sealIdentity({
        phrase: PHRASE,
        passphrase: PASS,
        scheme: 'hybrid-ed25519-ml-dsa-65',
        server: 'http://127.0.0.1:9',
      }),
    );
    const run = (home: string): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, [BIN, 'data', 'ls'], {
        env: { ...process.env, HOME: fakeHome, SELF_HOME: home, SELF_PASSPHRASE: PASS },
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { status: r.status, stderr: r.stderr };
    };
    const inB = run(b);
    expect(inB.status).toBe(1);
    expect(inB.stderr).toContain(`this device has no SELF identity (looked in ${b})`);
    expect(inB.stderr).toContain('self signup');
    // A has an identity: the command gets as far as signing in to its (unreachable) server.
    const inA = run(a);
    expect(inA.status).toBe(1);
    expect(inA.stderr).toContain(`signing in to http://127.0.0.1:9 as ${accountKeysFromPhrase(PHRASE).did}`);
    expect(inA.stderr).toMatch(/cannot reach the SELF cloud at http:\/\/127\.0\.0\.1:9/);
    // Nothing leaked into the user's default home.
    expect(readdirSync(fakeHome)).toEqual([]);
  });
});

describe('cloud client', () => {
  let server: Server;
  let url: string;
  const seen: Array<{ method: string; url: string; auth: string | undefined; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method!,
          url: req.url!,
          auth: req.headers.authorization,
          body: Buffer.concat(chunks).toString(),
        });
        if (req.url!.startsWith('/v1/fail')) {
          res.writeHead(507, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ error: 'quota_exceeded', message: 'the quota is full', details: { used: 1 } }),
          );
        } else if (req.url!.startsWith('/v1/html')) {
          res.writeHead(502, { 'content-type': 'text/html' });
          res.end('<html>bad gateway</html>');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the bearer token and the path as given (dot keys are not path navigation)', async () => {
    const c = new CloudClient(`${url}/`, 'self_s_t');
    expect(c.baseUrl).toBe(url);
    expect(
      await c.json('PUT', '/v1/data/notes/%2E%2E', { body: new Uint8Array([1, 2]), query: { a: 'x y' } }),
    ).toEqual({
      ok: true,
    });
    const last = seen.at(-1)!;
    expect(last).toMatchObject({
      method: 'PUT',
      url: '/v1/data/notes/%2E%2E?a=x+y',
      auth: 'Bearer self_s_t',
    });
    await c.json('POST', '/v1/auth/challenge', { json: { did: 'd' }, auth: false });
    expect(seen.at(-1)).toMatchObject({ auth: undefined, body: '{"did":"d"}' });
  });

  it("turns the server's {error, message, details} into a CliError with its message and a hint", async () => {
    const c = new CloudClient(url);
    const err = cliErrorFromCloud(await c.json('GET', '/v1/fail').catch((e: unknown) => e));
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toBe(
      'the quota is full (quota_exceeded)\n  hint: free space with `self data rm`, or move to a tier with a larger quota',
    );
    const html = cliErrorFromCloud(await c.json('GET', '/v1/html').catch((e: unknown) => e));
    expect((html as CliError).message).toMatch(/^the server answered HTTP 502 \(http_502\)/);
  });

  it('says how to reach a cloud when none answers', async () => {
    const c = new CloudClient('http://127.0.0.1:9');
    const err = cliErrorFromCloud(await c.json('GET', '/v1/me').catch((e: unknown) => e));
    expect((err as CliError).message).toMatch(
      /cannot reach the SELF cloud at http:\/\/127\.0\.0\.1:9.*\(unreachable\)\n {2}hint: start a SELF cloud \(`self up`\)/,
    );
  });

  it('refuses URLs that are not http(s)', () => {
    expect(() => new CloudClient('ftp://x')).toThrow(CliError);
    expect(() => new CloudClient('not a url')).toThrow(/--server must be an http/);
  });
});
