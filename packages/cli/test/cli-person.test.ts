import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accountKeysFromPhrase, isValidRecoveryPhrase } from '@self/crypto';
import { multibaseBase58btc } from '@self/chain';
import { readExport, type ExportedObject } from '@self/instance';
import { NodeClient } from '@self/node/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudClient } from '../src/device/index.js';

/**
 * The person's commands end to end against a real SELF cloud: `self up` as a process (one
 * validator, the gateway, the instance manager with real instance processes), and each `self …`
 * command as its own process with its own SELF_HOME, as a person's devices would run them.
 */

const BIN = fileURLToPath(new URL('../bin/self.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'self-cli-person-'));
const dataDir = join(root, 'data');
const PASS = 'a long and private passphrase';

interface Run {
  status: number | null;
  stdout: Buffer;
  out: string;
  err: string;
}

function self(
  home: string,
  args: string[],
  opts: { input?: string | Buffer; env?: Record<string, string> } = {},
): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input: opts.input ?? '',
    env: { ...process.env, SELF_HOME: home, SELF_PASSPHRASE: PASS, SELF_SERVER: url, ...opts.env },
    timeout: 180_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return {
    status: r.status,
    stdout: r.stdout,
    out: r.stdout.toString('utf8'),
    err: r.stderr.toString('utf8'),
  };
}

function ok(r: Run): Run {
  if (r.status !== 0) throw new Error(`exit ${r.status}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r;
}

const json = <T = Record<string, unknown>>(r: Run): T => JSON.parse(ok(r).out) as T;

let up: ChildProcess;
let url = '';
let upLog = '';

beforeAll(async () => {
  up = spawn(process.execPath, [BIN, '--json', 'up', '--data', dataDir, '--port', '0', '--validators', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SELF_LOG_LEVEL: 'warn' },
  });
  up.stderr!.on('data', (c: Buffer) => {
    upLog = (upLog + c.toString('utf8')).slice(-20_000);
  });
  url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    up.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.includes('"event":"ready"')) resolve((JSON.parse(line) as { api_url: string }).api_url);
      }
    });
    up.once('exit', (code) => reject(new Error(`self up exited (${code}) before it was ready:\n${upLog}`)));
  });
}, 120_000);

afterAll(async () => {
  if (up && up.exitCode === null) {
    const closed = new Promise((resolve) => up.once('close', resolve));
    up.kill('SIGTERM');
    await closed;
  }
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('a person on the command line', () => {
  const alice = join(root, 'alice');
  const laptop = join(root, 'alice-laptop');
  let signup: {
    did: string;
    address: string;
    tier: string;
    mode: string;
    server: string;
    recovery_phrase: string;
    identity_file: string;
    instance: { id: string; endpoint: string; public_key: string; address: string };
    chain: {
      did_create: { tx_hash: string; height: number };
      did_update: { tx_hash: string; height: number };
    };
  };

  it('signs up: keys on the device, DID on chain with the instance delegated, phrase shown once', async () => {
    const r = self(alice, ['--json', 'signup', '--tier', 'free']);
    signup = json(r);
    expect(r.err).toContain('making your keys…');
    expect(r.err).toContain('signing up at');
    expect(r.err).toContain('delegating your instance’s key on SELF Chain…');
    expect(isValidRecoveryPhrase(signup.recovery_phrase)).toBe(true);
    const keys = accountKeysFromPhrase(signup.recovery_phrase);
    expect(signup).toMatchObject({
      did: keys.did,
      address: keys.address,
      tier: 'free',
      mode: 'always-on',
      server: url,
    });
    expect(signup.instance.endpoint).toBe(`${url}/v1/i/${keys.did}`);
    expect(signup.chain.did_create.height).toBeGreaterThan(0);
    expect(signup.chain.did_update.height).toBeGreaterThanOrEqual(signup.chain.did_create.height);

    // The identity file is encrypted: the phrase is not in it.
    const idFile = readFileSync(join(alice, 'identity.json'), 'utf8');
    expect(idFile).not.toContain(signup.recovery_phrase.split(' ').slice(0, 2).join(' '));
    expect(statSync(join(alice, 'identity.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(alice, 'session.json')).mode & 0o777).toBe(0o600);
    expect(statSync(alice).mode & 0o777).toBe(0o700);

    const doc = (await new NodeClient(url).did(keys.did)).didDocument as {
      verificationMethod: Array<{ id: string; publicKeyMultibase: string; selfPurposes?: string[] }>;
      service: Array<{ id: string; type: string; serviceEndpoint: string }>;
    };
    const delegate = doc.verificationMethod.find((m) => m.id === `${keys.did}#instance`);
    expect(delegate?.publicKeyMultibase).toBe(
      multibaseBase58btc(Buffer.from(signup.instance.public_key, 'hex')),
    );
    expect(delegate?.selfPurposes).toEqual(['anchor', 'node.announce']);
    expect(doc.service).toEqual([
      {
        id: `${keys.did}#instance-endpoint`,
        type: 'SelfInstance',
        serviceEndpoint: signup.instance.endpoint,
      },
    ]);
  });

  it('human sign-up output puts the phrase on stderr; a second sign-up of the same identity is refused', () => {
    const r = self(alice, ['signup']);
    expect(r.status).toBe(1);
    expect(r.err).toContain('is already signed up');
    expect(r.err).toContain('self login');
    expect(r.out).toBe('');
  });

  it('stores and reads values from an argument, a file and stdin, byte for byte', () => {
    const binary = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
    const file = join(root, 'value.bin');
    writeFileSync(file, binary);
    const put = json<{ version: number; etag: string; size: number }>(
      self(alice, ['--json', 'data', 'put', 'notes', 'a', 'hello']),
    );
    expect(put).toMatchObject({ version: 1, size: 5 });
    ok(self(alice, ['data', 'put', 'notes', 'b', '--file', file]));
    ok(self(alice, ['data', 'put', 'notes', 'c/ü ..', '-'], { input: binary }));
    ok(self(alice, ['data', 'put', 'notes', '..', 'dots']));

    expect(ok(self(alice, ['data', 'get', 'notes', 'a'])).out).toBe('hello');
    expect(ok(self(alice, ['data', 'get', 'notes', 'b'])).stdout.equals(binary)).toBe(true);
    expect(ok(self(alice, ['data', 'get', 'notes', 'c/ü ..'])).stdout.equals(binary)).toBe(true);
    expect(ok(self(alice, ['data', 'get', 'notes', '..'])).out).toBe('dots');
    const out = join(root, 'got.bin');
    ok(self(alice, ['data', 'get', 'notes', 'b', '--out', out]));
    expect(readFileSync(out).equals(binary)).toBe(true);
    const meta = json<{ content_type: string; version: number; value_b64: string }>(
      self(alice, ['--json', 'data', 'get', 'notes', 'a']),
    );
    expect(meta).toMatchObject({
      content_type: 'text/plain; charset=utf-8',
      version: 1,
      value_b64: 'aGVsbG8=',
    });

    // Optimistic concurrency: a stale etag is refused with a hint.
    ok(self(alice, ['data', 'put', 'notes', 'a', 'again', '--if-match', put.etag]));
    const conflict = self(alice, ['data', 'put', 'notes', 'a', 'third', '--if-match', put.etag]);
    expect(conflict.status).toBe(1);
    expect(conflict.err).toMatch(/\(conflict\)\n {2}hint: the object changed/);
  });

  it('lists keys in pages and collections, and deletes', () => {
    expect(
      ok(self(alice, ['data', 'ls', 'notes']))
        .out.split('\n')
        .filter(Boolean),
    ).toEqual(['..', 'a', 'b', 'c/ü ..']);
    const page = self(alice, ['data', 'ls', 'notes', '--limit', '3']);
    expect(ok(page).out.split('\n').filter(Boolean)).toHaveLength(3);
    expect(page.err).toMatch(/more: self data ls notes --cursor \S+/);
    const all = json<{ items: Array<{ key: string }>; cursor: null }>(
      self(alice, ['--json', 'data', 'ls', 'notes', '--limit', '1', '--all']),
    );
    expect(all.items.map((i) => i.key)).toEqual(['..', 'a', 'b', 'c/ü ..']);
    expect(all.cursor).toBeNull();
    expect(ok(self(alice, ['data', 'ls', 'notes', '--prefix', 'c'])).out.trim()).toBe('c/ü ..');
    expect(
      json<{ collections: Array<{ name: string; objects: number }> }>(self(alice, ['--json', 'data', 'ls']))
        .collections,
    ).toEqual([expect.objectContaining({ name: 'notes', objects: 4 })]);

    ok(self(alice, ['data', 'rm', 'notes', '..']));
    const gone = self(alice, ['data', 'get', 'notes', '..']);
    expect(gone.status).toBe(1);
    expect(gone.err).toMatch(/\(not_found\)\n {2}hint: no such object/);
  });

  it('explains usage mistakes without contacting anyone', () => {
    const noValue = self(alice, ['data', 'put', 'notes', 'k']);
    expect(noValue.status).toBe(2);
    expect(noValue.err).toContain('no value: give it as an argument, --file <path>, or `-`');
    const badTier = self(alice, ['signup', '--tier', 'gold']);
    expect(badTier.status).toBe(2);
    expect(badTier.err).toContain('--tier must be one of free, growth, pro, enterprise');
    const badName = self(alice, ['data', 'put', 'Notes', 'k', 'v']);
    expect(badName.status).toBe(1);
    expect(badName.err).toContain('hint: collection names are 1–32 of a-z 0-9 _ -');
  });

  it('signs in again by itself when the session is missing or no longer accepted', () => {
    rmSync(join(alice, 'session.json'));
    const r = ok(self(alice, ['data', 'get', 'notes', 'b']));
    expect(r.err).toContain(`signing in to ${url} as ${signup.did}`);
    // A token the server does not know (expiry still in the future): 401, then a fresh sign-in.
    const session = JSON.parse(readFileSync(join(alice, 'session.json'), 'utf8')) as { token: string };
    writeFileSync(
      join(alice, 'session.json'),
      JSON.stringify({ ...session, token: 'self_s_forgedforgedforgedforgedforgedforgedforg' }),
    );
    const again = ok(self(alice, ['data', 'get', 'notes', 'a']));
    expect(again.out).toBe('again');
    expect(again.err).toContain('signing in to');
    // With a good session no passphrase is needed at all.
    const quiet = ok(self(alice, ['data', 'get', 'notes', 'a'], { env: { SELF_PASSPHRASE: '' } }));
    expect(quiet.err).toBe('');
  });

  it('a wrong passphrase is a clear error', () => {
    rmSync(join(alice, 'session.json'));
    const r = self(alice, ['data', 'ls', 'notes'], { env: { SELF_PASSPHRASE: 'not it' } });
    expect(r.status).toBe(1);
    expect(r.err).toContain('wrong passphrase, or the file was altered');
    ok(self(alice, ['login']));
  });

  it('reads and verifies the audit log', () => {
    const listed = json<{
      entries: Array<{ seq: number; action: string; object: string; app: string | null }>;
      next: number | null;
    }>(self(alice, ['--json', 'audit', '--all']));
    expect(listed.entries[0]).toMatchObject({
      seq: 1,
      action: 'data.put',
      object: 'person/notes/a',
      app: null,
    });
    expect(listed.entries.map((e) => e.seq)).toEqual(listed.entries.map((_, i) => i + 1));
    expect(listed.next).toBeNull();
    const human = ok(self(alice, ['audit', '--limit', '2']));
    expect(human.out.split('\n').filter(Boolean)).toHaveLength(2);
    expect(human.err).toContain('more: self audit --from 3');
    const verified = json<{ ok: boolean; entries: number }>(self(alice, ['--json', 'audit', '--verify']));
    expect(verified.ok).toBe(true);
    expect(verified.entries).toBeGreaterThanOrEqual(listed.entries.length);
    expect(ok(self(alice, ['audit', '--verify'])).out).toMatch(/^audit log intact: \d+ entries/);
  });

  it('exports everything to an archive the reference reader accepts', () => {
    const file = join(root, 'export.jsonl');
    const report = json<{ out: string; objects: number; audit_entries: number; sha256: string }>(
      self(alice, ['--json', 'export', '--out', file]),
    );
    expect(report.out).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const objects: ExportedObject[] = [];
    const summary = readExport(file, { onObject: (o) => objects.push(o) });
    expect(summary.header.did).toBe(signup.did);
    expect(summary.sha256).toBe(report.sha256);
    expect(summary.auditEntries).toBe(report.audit_entries);
    expect(summary.auditEntries).toBeGreaterThan(10);
    expect(objects.map((o) => `${o.collection}/${o.key}`)).toEqual(['notes/a', 'notes/b', 'notes/c/ü ..']);
    expect(Buffer.from(objects[0]!.value).toString()).toBe('again');
    expect(objects[0]!.version).toBe(2);
  });

  it('restores the identity on a second device from the recovery phrase', () => {
    const r = ok(self(laptop, ['login', '--recover'], { input: `${signup.recovery_phrase}\n` }));
    expect(r.err).toContain(`restored ${signup.did}`);
    expect(r.out).toContain(`signed in to ${url} as ${signup.did}`);
    expect(ok(self(laptop, ['data', 'get', 'notes', 'a'])).out).toBe('again');
    // Each device has its own session.
    const a = JSON.parse(readFileSync(join(alice, 'session.json'), 'utf8')) as { token: string };
    const b = JSON.parse(readFileSync(join(laptop, 'session.json'), 'utf8')) as { token: string };
    expect(a.token).not.toBe(b.token);
    const twice = self(laptop, ['login', '--recover'], { input: signup.recovery_phrase });
    expect(twice.status).toBe(1);
    expect(twice.err).toContain('this device already holds the identity');
  });

  it('logs out: the session file is gone and the server no longer accepts its token', async () => {
    const { token } = JSON.parse(readFileSync(join(laptop, 'session.json'), 'utf8')) as { token: string };
    expect(ok(self(laptop, ['logout'])).out.trim()).toBe('signed out');
    expect(() => statSync(join(laptop, 'session.json'))).toThrow();
    const err = await new CloudClient(url, token).json('GET', '/v1/me').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401 });
  });

  it('shows the operator every instance', () => {
    const r = json<{ instances: Array<{ did: string; tier: string; account: { address: string } | null }> }>(
      self(alice, ['--json', 'instances', '--data', dataDir]),
    );
    expect(r.instances).toEqual([expect.objectContaining({ did: signup.did, tier: 'free' })]);
    expect(ok(self(alice, ['instances', '--data', dataDir])).out).toContain(signup.did);
    const noToken = self(alice, ['instances', '--data', join(root, 'nowhere')]);
    expect(noToken.status).toBe(2);
    expect(noToken.err).toContain('no operator token');
  });

  it('shows the DID, revokes and re-delegates the instance key; deactivation needs --yes', () => {
    type Shown = {
      did: string;
      version: number;
      deactivated: boolean;
      delegates: Array<{ id: string; purposes: string[]; public_key_multibase: string }>;
      services: Array<{ id: string; type: string; endpoint: string }>;
    };
    const key = multibaseBase58btc(Buffer.from(signup.instance.public_key, 'hex'));
    const service = { id: 'instance-endpoint', type: 'SelfInstance', endpoint: signup.instance.endpoint };
    const shown = json<Shown>(self(alice, ['--json', 'identity', 'show']));
    expect(shown).toMatchObject({ did: signup.did, deactivated: false, services: [service] });
    expect(shown.delegates).toEqual([
      { id: 'instance', purposes: ['anchor', 'node.announce'], public_key_multibase: key },
    ]);
    expect(ok(self(alice, ['identity', 'show'])).out).toContain('instance  anchor, node.announce');

    const revoked = self(alice, ['--json', 'identity', 'revoke-instance']);
    expect(json<{ height: number }>(revoked).height).toBeGreaterThan(0);
    expect(revoked.err).toContain('revoking your instance’s key on SELF Chain…');
    const after = json<Shown>(self(alice, ['--json', 'identity', 'show']));
    expect(after).toMatchObject({ version: shown.version + 1, delegates: [], services: [service] });
    const none = self(alice, ['identity', 'revoke-instance']);
    expect(none.status).toBe(1);
    expect(none.err).toContain('has no delegate "instance"');

    expect(ok(self(alice, ['identity', 'delegate-instance'])).out).toMatch(/^tx {6}\S+\nheight {2}\d+/);
    const back = json<Shown>(self(alice, ['--json', 'identity', 'show']));
    expect(back).toMatchObject({ version: shown.version + 2, services: [service] });
    expect(back.delegates).toEqual(shown.delegates);
    expect(self(alice, ['identity', 'delegate-instance']).err).toContain('already delegated');

    const unconfirmed = self(alice, ['identity', 'deactivate']);
    expect(unconfirmed.status).toBe(2);
    expect(unconfirmed.err).toContain('permanent');

    // A second person deactivates for real: sessions end, the DID resolves as deactivated.
    const bob = join(root, 'bob');
    ok(self(bob, ['signup']));
    const gone = json<{ tx_hash: string; height: number }>(
      self(bob, ['--json', 'identity', 'deactivate', '--yes']),
    );
    expect(gone.height).toBeGreaterThan(0);
    expect(() => statSync(join(bob, 'session.json'))).toThrow();
    expect(json<Shown>(self(bob, ['--json', 'identity', 'show'])).deactivated).toBe(true);
    const refused = self(bob, ['data', 'ls']);
    expect(refused.status).toBe(1);
    expect(refused.err).toContain('is deactivated on SELF Chain');
  }, 180_000);
});
