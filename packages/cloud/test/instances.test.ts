import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateHostKey } from '@self/instance';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LocalProvisioner,
  ProvisionerError,
  instanceIdFor,
  type InstanceSpec,
  type LocalProvisionerOptions,
} from '../src/instances/index.js';
import { alive, instanceNodePid, newPerson, personHeaders, str, text, until } from './instances-fixtures.js';

/**
 * LocalProvisioner with real instance processes (the bundle, in bubblewrap where the host has it),
 * real Unix sockets and real SQLCipher files.
 */

const root = mkdtempSync(join(tmpdir(), 'self-prov-'));
const provisioners: LocalProvisioner[] = [];
afterAll(async () => {
  await Promise.all(provisioners.map((p) => p.close()));
  rmSync(root, { recursive: true, force: true });
});

let roots = 0;
function provisioner(opts: Partial<LocalProvisionerOptions> = {}): LocalProvisioner {
  const p = new LocalProvisioner({
    root: join(root, `r${++roots}`),
    hostKey: generateHostKey(),
    publicUrl: 'http://127.0.0.1:8080',
    ...opts,
  });
  provisioners.push(p);
  return p;
}

const put = (p: LocalProvisioner, did: string, key: string, value: string) =>
  p.forward(did, {
    method: 'PUT',
    path: `/v1/data/notes/${encodeURIComponent(key)}`,
    headers: { ...personHeaders(did), 'content-type': 'text/plain' },
    body: text(value),
  });
const get = (p: LocalProvisioner, did: string, path: string) =>
  p.forward(did, { method: 'GET', path, headers: personHeaders(did) });

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (err) {
    return err instanceof ProvisionerError ? err.code : `not a ProvisionerError: ${String(err)}`;
  }
}

describe('LocalProvisioner: provisioning and forwarding', () => {
  const p = provisioner();
  const person = newPerson();

  it('provisions an instance (created, not started) and refuses the same DID twice', async () => {
    const placement = await p.provision(person);
    expect(placement).toMatchObject({
      did: person.did,
      instanceId: instanceIdFor(person.did),
      provisioner: 'local',
      location: join(root, 'r1', instanceIdFor(person.did)),
    });
    expect(placement.instancePublicKey).toHaveLength(1985);
    expect(placement.instanceAddress).toMatch(/^self1[02-9ac-hj-np-z]{38}$/);
    expect(statSync(placement.location).mode & 0o777).toBe(0o700);

    const status = await p.status(person.did);
    expect(status).toMatchObject({
      did: person.did,
      tier: 'free',
      state: 'stopped',
      pid: null,
      quotaBytes: 10e9,
      lastActiveAt: null,
      sandbox: p.sandboxKind,
    });
    expect(status.storageBytes).toBeGreaterThan(0);
    expect(await codeOf(p.provision(person))).toBe('exists');
  });

  it('refuses malformed specs and requests, and unknown DIDs', async () => {
    expect(await codeOf(p.provision({ ...newPerson(), did: 'did:web:example.com' }))).toBe(
      'invalid_argument',
    );
    expect(await codeOf(p.provision(newPerson({ tier: 'enterprise' })))).toBe('invalid_argument');
    expect(await codeOf(p.provision(newPerson({ quotaBytes: 5 })))).toBe('invalid_argument');
    // A fixed tier's own quota may be passed along.
    expect((await p.provision(newPerson({ tier: 'growth', quotaBytes: 50e9 }))).provisioner).toBe('local');
    const stranger = newPerson();
    expect(await codeOf(get(p, stranger.did, '/health'))).toBe('not_found');
    expect(await codeOf(p.status(stranger.did))).toBe('not_found');
    expect(await codeOf(p.forward(person.did, { method: 'GET', path: 'no-slash', headers: {} }))).toBe(
      'invalid_argument',
    );
  });

  it('starts the process on the first request, forwards over its socket, and keeps it running', async () => {
    const written = await put(p, person.did, 'a b', 'hello');
    expect(written.status).toBe(200);
    expect(JSON.parse(str(written.body))).toMatchObject({ version: 1, size: 5 });
    const status = await p.status(person.did);
    expect(status.state).toBe('running');
    expect(status.pid).toBeGreaterThan(0);
    expect(status.lastActiveAt).toBeGreaterThan(0);

    const read = await get(p, person.did, '/v1/data/notes/a%20b');
    expect(read.status).toBe(200);
    expect(str(read.body)).toBe('hello');
    expect(read.headers['content-type']).toBe('text/plain');
    expect(read.headers.etag).toMatch(/^"[0-9a-f]{64}"$/);
    // The instance's own answers pass through unchanged, errors included.
    const missing = await get(p, person.did, '/v1/data/notes/nope');
    expect(missing.status).toBe(404);
    expect(JSON.parse(str(missing.body))).toMatchObject({ error: 'not_found' });
    expect((await p.status(person.did)).pid).toBe(status.pid);

    const listed = await p.list();
    expect(listed.map((s) => s.did)).toContain(person.did);
  });

  it('starts the process again, transparently, after it was killed with SIGKILL', async () => {
    const before = (await p.status(person.did)).pid!;
    const node = instanceNodePid(before);
    process.kill(node, 'SIGKILL');
    await until(() => !alive(node), 5_000, 'the killed process to go');
    const read = await get(p, person.did, '/v1/data/notes/a%20b');
    expect(str(read.body)).toBe('hello');
    const after = (await p.status(person.did)).pid!;
    expect(after).not.toBe(before);
  });

  it('stop() ends the process cleanly; the next request starts it again', async () => {
    const pid = (await p.status(person.did)).pid!;
    await p.stop(person.did);
    expect(alive(pid)).toBe(false);
    expect((await p.status(person.did)).state).toBe('stopped');
    expect((await get(p, person.did, '/v1/usage')).status).toBe(200);
  });
});

describe('LocalProvisioner: idle processes and the active limit', () => {
  it('stops a process idle for idleMs, and starts it again on the next request', async () => {
    const p = provisioner({ idleMs: 200 });
    const person = newPerson();
    await p.provision(person);
    expect((await put(p, person.did, 'k', 'v1')).status).toBe(200);
    const pid = (await p.status(person.did)).pid!;
    await until(async () => (await p.status(person.did)).state === 'stopped', 5_000, 'the idle stop');
    expect(alive(pid)).toBe(false);
    expect(str((await get(p, person.did, '/v1/data/notes/k')).body)).toBe('v1');
  });

  it('runs at most maxActive processes: starting one more stops the least recently used', async () => {
    const p = provisioner({ maxActive: 2 });
    const people = [newPerson(), newPerson(), newPerson()];
    for (const person of people) await p.provision(person);
    const [a, b, c] = people.map((x) => x.did) as [string, string, string];
    await get(p, a, '/health');
    await get(p, b, '/health');
    await get(p, a, '/health'); // b is now the least recently used
    await get(p, c, '/health');
    const states = Object.fromEntries((await p.list()).map((s) => [s.did, s.state]));
    expect(states).toEqual({ [a]: 'running', [b]: 'stopped', [c]: 'running' });
  });
});

describe('LocalProvisioner: durability under kill -9', () => {
  it('loses no acknowledged write when the process is killed mid-writes, and the audit chain verifies after the restart', async () => {
    const p = provisioner();
    const person = newPerson();
    await p.provision(person);
    const acked = new Map<string, string>();
    let failed = 0;
    let stop = false;
    let killedAt = -1;

    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        const value = `value ${w}/${i} `.repeat(1 + (i % 40));
        try {
          const res = await put(p, person.did, key, value);
          if (res.status === 200) acked.set(key, value);
        } catch (err) {
          // A write in flight when the process died: unknown outcome, not acknowledged.
          expect(err).toBeInstanceOf(ProvisionerError);
          failed++;
        }
      }
    };
    const writers = Array.from({ length: 4 }, (_, w) => writer(w));
    await until(() => acked.size >= 150, 20_000, '150 acknowledged writes');
    const pid = (await p.status(person.did)).pid!;
    process.kill(instanceNodePid(pid), 'SIGKILL');
    killedAt = acked.size;
    // Writing goes on through the restart.
    await until(() => acked.size >= killedAt + 100, 20_000, '100 more acknowledged writes after the kill');
    stop = true;
    await Promise.all(writers);
    expect((await p.status(person.did)).pid).not.toBe(pid);

    for (const [key, value] of acked) {
      const res = await get(p, person.did, `/v1/data/notes/${encodeURIComponent(key)}`);
      expect(res.status, key).toBe(200);
      expect(str(res.body), key).toBe(value);
    }
    const verify = await get(p, person.did, '/v1/audit/verify');
    expect(JSON.parse(str(verify.body))).toMatchObject({ ok: true });
    expect(failed).toBeLessThan(20);
  });
});

describe('LocalProvisioner: where instances live', () => {
  it("moves a running instance into its process's work directory, and home again when it stops", async () => {
    const p = provisioner();
    const person = newPerson();
    const { location } = await p.provision(person);
    await put(p, person.did, 'k', 'v');
    expect(existsSync(location)).toBe(false);
    expect((await p.list()).map((s) => [s.did, s.state])).toEqual([[person.did, 'running']]);
    await p.stop(person.did);
    expect(existsSync(join(location, 'instance.db'))).toBe(true);
  });

  it('on start, moves home an instance a provisioner that died left in a work directory', async () => {
    const options = {
      root: join(root, `r${++roots}`),
      hostKey: generateHostKey(),
      publicUrl: 'http://127.0.0.1:8080',
    };
    const first = new LocalProvisioner({ ...options, spares: 0 });
    const person = newPerson();
    const { location } = await first.provision(person);
    await first.close();
    // What a killed provisioner leaves: the instance in a work directory, no process.
    mkdirSync(join(options.root, '.run', 'abcdef'), { recursive: true });
    renameSync(location, join(options.root, '.run', 'abcdef', 'i'));

    const second = provisioner(options);
    expect(existsSync(join(location, 'instance.db'))).toBe(true);
    expect(readdirSync(join(options.root, '.run'))).not.toContain('abcdef');
    expect((await put(second, person.did, 'k', 'v')).status).toBe(200);
  });
});

describe('LocalProvisioner: damaged and locked instances', () => {
  it('a tampered database page is found when the instance opens: the instance stays down as damaged', async () => {
    const p = provisioner();
    const person = newPerson();
    const { location } = await p.provision(person);
    for (let i = 0; i < 60; i++) await put(p, person.did, `n${i}`, 'x'.repeat(3000 + i));
    await p.stop(person.did);
    const path = join(location, 'instance.db');
    const bytes = readFileSync(path);
    const pages = bytes.length / 4096;
    bytes[Math.floor(pages / 2) * 4096 + 100]! ^= 0x40;
    writeFileSync(path, bytes);

    // The first request may or may not touch the altered page; the whole-database check at open
    // finds it either way, and the process stops for good.
    await get(p, person.did, '/health').catch(() => undefined);
    await until(async () => (await codeOf(get(p, person.did, '/health'))) === 'damaged', 10_000, 'damaged');
    expect((await p.status(person.did)).state).toBe('stopped');
  });

  it('a sovereign instance is locked: it never opens with the host key', async () => {
    const p = provisioner();
    const person: InstanceSpec = newPerson({ mode: 'sovereign' });
    await p.provision(person);
    expect((await p.status(person.did)).state).toBe('locked');
    expect(await codeOf(get(p, person.did, '/health'))).toBe('locked');
  });

  it('close() stops every process; a closed provisioner refuses work', async () => {
    const p = provisioner();
    const people = [newPerson(), newPerson()];
    for (const person of people) await p.provision(person);
    const pids: number[] = [];
    for (const person of people) {
      await get(p, person.did, '/health');
      pids.push((await p.status(person.did)).pid!);
    }
    await p.close();
    expect(pids.map(alive)).toEqual([false, false]);
    expect(await codeOf(get(p, people[0]!.did, '/health'))).toBe('closed');
    expect(await codeOf(p.provision(newPerson()))).toBe('closed');
  });
});
