import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex } from '@self/crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Instance } from '../src/instance.js';
import { EXIT_DAMAGED, EXIT_START_FAILED } from '../src/process/protocol.js';
import { DB_FILE } from '../src/store/store.js';
import { generateHostKey } from '../src/vault.js';
import { appTokenHeaders, grantApp, testAppId, testIssuer } from './fixtures/app-tokens.js';
import { TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';
import { personHeaders, requestSocket, spawnInstanceProcess } from './fixtures/process-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'self-proc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const keys = testKeys();
let dirs = 0;

/** A new always-on instance, closed: the process opens it. */
function newInstance(fill = 0): { dir: string; address: string } {
  const dir = join(root, `i${++dirs}`);
  const inst = createTestInstance(keys, { dir, instanceId: `proc-${dirs}` });
  for (let i = 0; i < fill; i++) {
    inst.put({ kind: 'person', did: TEST_DID }, 'notes', `n-${i}`, new Uint8Array(3000).fill(i % 251));
  }
  const address = inst.info().instance_address;
  inst.close();
  return { dir, address };
}

const configFor = (dir: string, hostKey = keys.hostKey): Record<string, unknown> => ({
  dir,
  hostKey: toHex(hostKey),
  chain: null,
  logLevel: 'info',
});

describe('the instance process', () => {
  it('reads its config from stdin, prints one ready line and serves the instance API on <dir>/instance.sock', async () => {
    const { dir, address } = newInstance();
    const proc = await spawnInstanceProcess(configFor(dir));
    const ready = await proc.ready;
    expect(ready).toMatchObject({
      event: 'ready',
      socket: join(dir, 'instance.sock'),
      did: TEST_DID,
      instance_address: address,
    });
    expect(ready!.pid).toBeGreaterThan(0);

    const socket = ready!.socket;
    expect((await requestSocket(socket, 'GET', '/health')).status).toBe(200);
    const put = await requestSocket(
      socket,
      'PUT',
      '/v1/data/notes/hello',
      { ...personHeaders(TEST_DID), 'content-type': 'text/plain' },
      new TextEncoder().encode('hi there'),
    );
    expect(put.status).toBe(200);
    const got = await requestSocket(socket, 'GET', '/v1/data/notes/hello', personHeaders(TEST_DID));
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe('hi there');
    // The gateway's identity headers are required, as from any caller.
    expect((await requestSocket(socket, 'GET', '/v1/data/notes/hello')).status).toBe(401);

    // SIGTERM: the server and the instance close, the process exits 0, and the write is there.
    proc.child.kill('SIGTERM');
    expect(await proc.exit).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
    const inst = Instance.open({ dir, hostKey: keys.hostKey });
    try {
      expect(
        new TextDecoder().decode(inst.get({ kind: 'person', did: TEST_DID }, 'notes', 'hello').value),
      ).toBe('hi there');
      expect(inst.auditVerify().ok).toBe(true);
    } finally {
      inst.close();
    }
    // Secrets travel only on stdin: its log never shows the host key.
    expect(proc.logs.join('\n')).not.toContain(toHex(keys.hostKey));
  });

  it('verifies app tokens against the issuer in its config, and writes their uses when it stops', async () => {
    const { dir } = newInstance();
    const app = testAppId('process-app');
    let inst = Instance.open({ dir, hostKey: keys.hostKey });
    const grant = grantApp(inst, { app, scopes: ['storage:read', 'storage:write'] });
    inst.close();
    const issuer = await testIssuer();
    const proc = await spawnInstanceProcess({ ...configFor(dir), appTokens: issuer.config });
    const socket = (await proc.ready)!.socket;
    const claims = { appId: app, scopes: grant.scopes, grantId: grant.id };
    const headers = appTokenHeaders(await issuer.mint(claims));
    const put = await requestSocket(
      socket,
      'PUT',
      '/v1/data/notes/a',
      headers,
      new TextEncoder().encode('x'),
    );
    expect(put.status).toBe(200);
    // A token signed by anyone but the configured issuer opens nothing.
    const forged = appTokenHeaders(await (await testIssuer()).mint(claims));
    const refused = await requestSocket(socket, 'GET', '/v1/data/notes/a', forged);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body.toString())).toMatchObject({ details: { reason: 'bad_token' } });
    proc.child.kill('SIGTERM');
    expect((await proc.exit).code).toBe(0);
    inst = Instance.open({ dir, hostKey: keys.hostKey });
    try {
      // Counted in memory while it ran, written once as it closed.
      expect(inst.grants().get(grant.id)).toMatchObject({ uses: 1, lastUsedAt: expect.any(Number) });
    } finally {
      inst.close();
    }
  });

  it('exits 0 when stdin ends: the parent is gone', async () => {
    const { dir } = newInstance();
    const proc = await spawnInstanceProcess(configFor(dir));
    expect(await proc.ready).not.toBeNull();
    proc.child.stdin.end();
    expect(await proc.exit).toEqual({ code: 0, signal: null });
  });

  it('refuses a wrong host key or a malformed config: exit 3, no ready line, no secret in the log', async () => {
    const { dir } = newInstance();
    const wrongKey = generateHostKey();
    const wrong = await spawnInstanceProcess(configFor(dir, wrongKey));
    expect(await wrong.ready).toBeNull();
    expect((await wrong.exit).code).toBe(EXIT_START_FAILED);
    const log = wrong.logs.join('\n');
    expect(log).toMatch(/could not start/);
    expect(log).not.toContain(toHex(wrongKey));

    const malformed = await spawnInstanceProcess({ dir: 'relative/path', hostKey: 'abc' });
    expect(await malformed.ready).toBeNull();
    expect((await malformed.exit).code).toBe(EXIT_START_FAILED);
    expect(malformed.logs.join('\n')).toMatch(/absolute directory path/);
  });

  it('detects a tampered database page when it opens the instance: it logs why and exits with EXIT_DAMAGED', async () => {
    const { dir } = newInstance(300);
    const path = join(dir, DB_FILE);
    const bytes = readFileSync(path);
    const pages = bytes.length / 4096;
    expect(pages).toBeGreaterThan(200);
    bytes[Math.floor(pages / 2) * 4096 + 2048]! ^= 0x01;
    writeFileSync(path, bytes);

    const proc = await spawnInstanceProcess(configFor(dir));
    // Opening reads only the pages it needs, so it may get as far as ready; the whole-database
    // check that follows reads every page and finds the altered one.
    await proc.ready;
    expect((await proc.exit).code).toBe(EXIT_DAMAGED);
    expect(proc.logs.join('\n')).toMatch(/failed its integrity check/);
  });

  it('runs from the TypeScript sources too (bin/instance.js, through tsx)', async () => {
    const { dir } = newInstance();
    const bin = fileURLToPath(new URL('../bin/instance.js', import.meta.url));
    const proc = await spawnInstanceProcess(configFor(dir), { file: process.execPath, args: [bin] });
    const ready = await proc.ready;
    expect(ready?.did).toBe(TEST_DID);
    expect((await requestSocket(ready!.socket, 'GET', '/health')).status).toBe(200);
    proc.child.kill('SIGTERM');
    expect((await proc.exit).code).toBe(0);
  });
});
