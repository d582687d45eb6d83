import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditProof, type AuditEntryJson } from '../src/audit/index.js';
import type { CreateInstanceOptions, Instance } from '../src/instance.js';
import {
  INSTANCE_SOCKET_FILE,
  actorFromHeaders,
  createInstanceServer,
  listenOnSocket,
} from '../src/server/index.js';
import { appAccess, appTokenHeaders, testAppId, testIssuer } from './fixtures/app-tokens.js';
import { TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'self-instance-server-'));
const keys = testKeys();
const DID = TEST_DID;
const OTHER_DID = 'did:self:self1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq';

const PERSON = { 'x-self-actor': 'person', 'x-self-did': DID };
const issuer = testIssuer();
/** Headers of a request by the app `name` holding `scopes` (space-separated), granted on `s`. */
const appHeaders = async (s: Served, name: string, scopes: string): Promise<Record<string, string>> =>
  appAccess(await issuer, s.inst, testAppId(name), scopes.split(' '));

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTP request over the Unix socket. */
function call(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Uint8Array,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buf,
          json: () => JSON.parse(buf.toString('utf8')),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Served {
  inst: Instance;
  dir: string;
  socket: string;
  server: FastifyInstance;
  call: (method: string, path: string, headers?: Record<string, string>, body?: Uint8Array) => Promise<Reply>;
}

const served: Served[] = [];
let dirs = 0;

async function serve(
  opts: Partial<CreateInstanceOptions> = {},
  serverOpts: { maxValueBytes?: number } = {},
): Promise<Served> {
  const dir = join(root, `inst-${++dirs}`);
  const inst = createTestInstance(keys, { dir, instanceId: `i-${dirs}`, ...opts });
  const server = createInstanceServer(inst, { ...serverOpts, appTokens: (await issuer).config });
  const socket = join(dir, INSTANCE_SOCKET_FILE);
  await listenOnSocket(server, socket);
  const s: Served = {
    inst,
    dir,
    socket,
    server,
    call: (method, path, headers, body) => call(socket, method, path, headers, body),
  };
  served.push(s);
  return s;
}

afterAll(async () => {
  for (const s of served) {
    await s.server.close();
    s.inst.close();
  }
  rmSync(root, { recursive: true, force: true });
});

const auditOf = async (s: Served): Promise<AuditEntryJson[]> => {
  const r = await s.call('GET', '/v1/audit', PERSON);
  expect(r.status).toBe(200);
  return r.json().entries as AuditEntryJson[];
};

function expectError(r: Reply, status: number, error: string): void {
  expect(r.status).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const body = r.json();
  expect(body.error).toBe(error);
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(0);
  expect(typeof body.details).toBe('object');
  expect(body.details).not.toBeNull();
}

describe('instance server: socket and basics', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve();
  });

  it('listens on a mode 0600 socket in the instance directory', () => {
    const st = statSync(s.socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('answers /health without an actor', async () => {
    const r = await s.call('GET', '/health');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('answers unknown routes 404 and wrong methods 405 with Allow', async () => {
    expectError(await s.call('GET', '/v1/nope', PERSON), 404, 'not_found');
    expectError(await s.call('GET', '/nope'), 404, 'not_found');
    const r = await s.call('POST', '/v1/data/notes/a', PERSON, new Uint8Array([1]));
    expectError(r, 405, 'method_not_allowed');
    expect(r.headers.allow).toContain('PUT');
    expect(r.json().details.allowed).toEqual(expect.arrayContaining(['DELETE', 'GET', 'PUT']));
  });

  it('refuses a path that is not a socket and a socket another server is using', async () => {
    const file = join(s.dir, 'not-a-socket');
    writeFileSync(file, 'x');
    await expect(listenOnSocket(createInstanceServer(s.inst), file)).rejects.toThrow(/not a socket/);
    await expect(listenOnSocket(createInstanceServer(s.inst), s.socket)).rejects.toThrow(/another process/);
    // The running server is untouched.
    expect((await s.call('GET', '/health')).status).toBe(200);
  });
});

describe('instance server: person data', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve();
  });

  for (const [label, size] of [
    ['small', 37],
    ['large (> 64 KiB, a blob file)', 200 * 1024 + 3],
  ] as const) {
    it(`round-trips a ${label} value byte for byte`, async () => {
      const value = new Uint8Array(randomBytes(size));
      const key = `v-${size}`;
      const put = await s.call(
        'PUT',
        `/v1/data/files/${key}`,
        { ...PERSON, 'content-type': 'image/png' },
        value,
      );
      expect(put.status).toBe(200);
      const res = put.json();
      expect(res).toEqual({ version: 1, etag: expect.stringMatching(/^[0-9a-f]{64}$/), size });

      const get = await s.call('GET', `/v1/data/files/${key}`, PERSON);
      expect(get.status).toBe(200);
      expect(get.headers['content-type']).toBe('image/png');
      expect(get.headers.etag).toBe(`"${res.etag}"`);
      expect(get.headers['x-self-version']).toBe('1');
      expect(get.body.length).toBe(size);
      expect(Buffer.compare(get.body, Buffer.from(value))).toBe(0);

      const list = await s.call('GET', `/v1/data/files?prefix=${key}`, PERSON);
      expect(list.status).toBe(200);
      expect(list.json()).toEqual({
        items: [
          {
            key,
            size,
            etag: res.etag,
            version: 1,
            updated_at: expect.any(Number),
            content_type: 'image/png',
          },
        ],
        cursor: null,
      });

      const del = await s.call('DELETE', `/v1/data/files/${key}`, PERSON);
      expect(del.status).toBe(204);
      expect(del.body.length).toBe(0);
      expectError(await s.call('GET', `/v1/data/files/${key}`, PERSON), 404, 'not_found');
      expectError(await s.call('DELETE', `/v1/data/files/${key}`, PERSON), 404, 'not_found');
    });
  }

  it('stores application/octet-stream when no content type is given, and empty values', async () => {
    expect((await s.call('PUT', '/v1/data/notes/raw', PERSON, new Uint8Array([0, 255]))).status).toBe(200);
    const get = await s.call('GET', '/v1/data/notes/raw', PERSON);
    expect(get.headers['content-type']).toBe('application/octet-stream');
    expect([...get.body]).toEqual([0, 255]);
    expect((await s.call('PUT', '/v1/data/notes/empty', PERSON)).json().size).toBe(0);
    expect((await s.call('GET', '/v1/data/notes/empty', PERSON)).body.length).toBe(0);
  });

  it('does not parse JSON bodies: they are stored as sent', async () => {
    const text = Buffer.from('{"not": "parsed"  }');
    const put = await s.call(
      'PUT',
      '/v1/data/notes/j',
      { ...PERSON, 'content-type': 'application/json' },
      text,
    );
    expect(put.status).toBe(200);
    const get = await s.call('GET', '/v1/data/notes/j', PERSON);
    expect(get.headers['content-type']).toBe('application/json');
    expect(get.body.toString()).toBe(text.toString());
  });

  it('writes with if-match only over the current etag (412 otherwise)', async () => {
    const v1 = (await s.call('PUT', '/v1/data/notes/m', PERSON, Buffer.from('one'))).json();
    const v2 = await s.call(
      'PUT',
      '/v1/data/notes/m',
      { ...PERSON, 'if-match': `"${v1.etag}"` },
      Buffer.from('two'),
    );
    expect(v2.status).toBe(200);
    expect(v2.json().version).toBe(2);
    // The stale etag no longer matches.
    const stale = await s.call(
      'PUT',
      '/v1/data/notes/m',
      { ...PERSON, 'if-match': `"${v1.etag}"` },
      Buffer.from('x'),
    );
    expectError(stale, 412, 'conflict');
    expect((await s.call('GET', '/v1/data/notes/m', PERSON)).body.toString()).toBe('two');
    // A bare etag is accepted too; an absent object never matches.
    const bare = await s.call(
      'PUT',
      '/v1/data/notes/m',
      { ...PERSON, 'if-match': v2.json().etag },
      Buffer.from('3'),
    );
    expect(bare.json().version).toBe(3);
    expectError(
      await s.call('PUT', '/v1/data/notes/absent', { ...PERSON, 'if-match': v1.etag }, Buffer.from('x')),
      412,
      'conflict',
    );
    expectError(
      await s.call('PUT', '/v1/data/notes/m', { ...PERSON, 'if-match': 'W/"abc"' }, Buffer.from('x')),
      400,
      'invalid_request',
    );
  });

  it('takes keys as percent-decoded path segments, never as file paths', async () => {
    expect((await s.call('PUT', '/v1/data/notes/a%2Fb', PERSON, Buffer.from('slash'))).status).toBe(200);
    expect((await s.call('GET', '/v1/data/notes/a%2Fb', PERSON)).body.toString()).toBe('slash');
    const evil = '..%2F..%2F..%2Fescape';
    expect((await s.call('PUT', `/v1/data/notes/${evil}`, PERSON, Buffer.from('e'))).status).toBe(200);
    expect((await s.call('PUT', '/v1/data/notes/..', PERSON, Buffer.from('dots'))).status).toBe(200);
    expect(
      (await s.call('PUT', '/v1/data/notes/caf%C3%A9%20au%20lait', PERSON, Buffer.from('u'))).status,
    ).toBe(200);
    const keys = (await s.call('GET', '/v1/data/notes', PERSON))
      .json()
      .items.map((i: { key: string }) => i.key);
    expect(keys).toEqual(expect.arrayContaining(['a/b', '../../../escape', '..', 'café au lait']));
    expect((await s.call('GET', '/v1/data/notes/..', PERSON)).body.toString()).toBe('dots');
    expect((await s.call('GET', `/v1/data/notes/${evil}`, PERSON)).body.toString()).toBe('e');
    // Nothing landed outside the instance directory.
    expect(readdirSync(root).filter((n) => !n.startsWith('inst-'))).toEqual([]);
    expect(readdirSync(join(s.dir, '..')).includes('escape')).toBe(false);
  });

  it('lists with prefix, limit and cursor', async () => {
    for (const k of ['p1', 'p2', 'p3']) await s.call('PUT', `/v1/data/memory/${k}`, PERSON, Buffer.from(k));
    const first = (await s.call('GET', '/v1/data/memory?prefix=p&limit=2', PERSON)).json();
    expect(first.items.map((i: { key: string }) => i.key)).toEqual(['p1', 'p2']);
    expect(typeof first.cursor).toBe('string');
    const next = await s.call(
      'GET',
      `/v1/data/memory?prefix=p&limit=2&cursor=${encodeURIComponent(first.cursor)}`,
      PERSON,
    );
    expect(next.json()).toMatchObject({ items: [{ key: 'p3' }], cursor: null });
  });

  it('lists the caller collections and usage', async () => {
    const r = await s.call('GET', '/v1/collections', PERSON);
    expect(r.status).toBe(200);
    const names = r.json().collections.map((c: { name: string }) => c.name);
    expect(names).toEqual(expect.arrayContaining(['notes', 'memory']));
    const u = await s.call('GET', '/v1/usage', PERSON);
    expect(u.json()).toEqual({
      bytes: expect.any(Number),
      quota_bytes: 10_000_000_000,
      objects: expect.any(Number),
    });
    expect(u.json().objects).toBeGreaterThan(0);
  });

  it('answers 400 {error, message, details} for bad names, keys and queries', async () => {
    for (const c of ['Notes', '_x', '1abc', 'a'.repeat(33)]) {
      const r = await s.call('PUT', `/v1/data/${c}/k`, PERSON, Buffer.from('x'));
      expectError(r, 400, 'invalid_request');
      expect(r.json().details.location).toBe('params');
    }
    expectError(await s.call('GET', '/v1/data/NOTES', PERSON), 400, 'invalid_request');
    // Over 512 characters: the schema refuses; over 512 bytes of UTF-8: the store does.
    expectError(
      await s.call('PUT', `/v1/data/notes/${'a'.repeat(513)}`, PERSON, Buffer.from('x')),
      400,
      'invalid_request',
    );
    const wide = encodeURIComponent('é'.repeat(300));
    const r = await s.call('PUT', `/v1/data/notes/${wide}`, PERSON, Buffer.from('x'));
    expectError(r, 400, 'invalid_key');
    expect(r.json().details).toMatchObject({ problem: 'too_long' });
    expectError(await s.call('PUT', '/v1/data/notes/%20lead', PERSON, Buffer.from('x')), 400, 'invalid_key');
    expectError(await s.call('PUT', '/v1/data/notes/ctl%01', PERSON, Buffer.from('x')), 400, 'invalid_key');
    for (const q of ['limit=0', 'limit=abc', 'limit=1001', 'target=other', 'unknown=1', 'limit=%2010']) {
      const res = await s.call('GET', `/v1/data/notes?${q}`, PERSON);
      expect(res.status, q).toBe(400);
      expect(['invalid_request', 'invalid_argument']).toContain(res.json().error);
    }
    expectError(await s.call('GET', '/v1/data/notes?cursor=bogus', PERSON), 400, 'invalid_argument');
    // A content type Fastify cannot parse, and one it parses but the store refuses (over 255 characters).
    expectError(
      await s.call('PUT', '/v1/data/notes/ct', { ...PERSON, 'content-type': 'not a type' }, Buffer.from('x')),
      400,
      'invalid_request',
    );
    expectError(
      await s.call(
        'PUT',
        '/v1/data/notes/ct',
        { ...PERSON, 'content-type': `a/${'b'.repeat(300)}` },
        Buffer.from('x'),
      ),
      400,
      'invalid_argument',
    );
    expectError(await s.call('GET', '/v1/data/notes/ct', PERSON), 404, 'not_found');
  });
});

describe('instance server: actors', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve();
    await s.call('PUT', '/v1/data/notes/secret', PERSON, Buffer.from('the person’s'));
  });

  it('answers 401 for missing or malformed actor headers and audits nothing', async () => {
    const app = await appHeaders(s, 'notes-app', 'storage:read');
    const before = (await auditOf(s)).length;
    const bad: Array<Record<string, string>> = [
      {},
      { 'x-self-did': DID },
      { 'x-self-actor': 'robot', 'x-self-did': DID },
      { 'x-self-actor': 'person' },
      { 'x-self-actor': 'person', 'x-self-did': 'self1notadid' },
      { 'x-self-actor': 'person', 'x-self-did': 'did:self:' },
      { ...PERSON, 'x-self-app': 'notes-app' },
      // A person request carrying an app's token is ambiguous.
      { ...PERSON, 'x-self-token': app['x-self-token']! },
      { 'x-self-actor': 'app', 'x-self-did': DID },
      { ...app, 'x-self-did': 'did:self:' },
      { ...app, 'x-self-token': 'a token with spaces' },
      // The retired headers an app was once named by are refused, even beside a valid token.
      { ...app, 'x-self-app': testAppId('notes-app') },
      { ...app, 'x-self-scopes': 'storage:read storage:write' },
      {
        'x-self-actor': 'app',
        'x-self-did': DID,
        'x-self-app': 'notes-app',
        'x-self-scopes': 'storage:read',
      },
    ];
    for (const h of bad) {
      for (const [method, path] of [
        ['GET', '/v1/data/notes/secret'],
        ['PUT', '/v1/data/notes/secret'],
        ['GET', '/v1/data/notes'],
        ['GET', '/v1/collections'],
        ['GET', '/v1/audit'],
      ] as const) {
        const r = await s.call(method, path, h, method === 'PUT' ? Buffer.from('overwrite') : undefined);
        expectError(r, 401, 'unauthenticated');
      }
    }
    expect((await auditOf(s)).length).toBe(before); // reading the log is not itself audited
    expect((await s.call('GET', '/v1/data/notes/secret', PERSON)).body.toString()).toBe('the person’s');
  });

  it('parses the actor headers: an app is only a claim until its token is verified', () => {
    expect(actorFromHeaders(PERSON)).toEqual({ kind: 'person', did: DID });
    expect(actorFromHeaders(appTokenHeaders('a.b.c'))).toEqual({ kind: 'app', did: DID, token: 'a.b.c' });
  });

  it("refuses an app without storage scopes the person's collections (403) and audits the denial", async () => {
    const h = await appHeaders(s, 'nosy', 'profile:read');
    const nosy = testAppId('nosy');
    const get = await s.call('GET', '/v1/data/notes/secret?target=person', h);
    expectError(get, 403, 'forbidden');
    expect(get.json().details).toEqual({ scope: 'storage:notes:read', namespace: 'person' });
    expectError(
      await s.call('PUT', '/v1/data/notes/secret?target=person', h, Buffer.from('x')),
      403,
      'forbidden',
    );
    expectError(await s.call('GET', '/v1/data/notes?target=person', h), 403, 'forbidden');
    // Nor its own namespace without storage:read / storage:write.
    expectError(await s.call('GET', '/v1/data/notes/secret', h), 403, 'forbidden');
    expect((await s.call('GET', '/v1/data/notes/secret', PERSON)).body.toString()).toBe('the person’s');

    const entries = await auditOf(s);
    const denied = entries.filter((e) => e.app === nosy && e.outcome === 'denied');
    expect(denied.map((e) => [e.action, e.scope, e.object])).toEqual([
      ['data.get', 'storage:notes:read', 'person/notes/secret'],
      ['data.put', 'storage:notes:write', 'person/notes/secret'],
      ['data.list', 'storage:notes:read', 'person/notes/*'],
      ['data.get', 'storage:read', `app:${nosy}/notes/secret`],
    ]);
    expect(denied.every((e) => e.actor === DID)).toBe(true);
  });

  it('keeps an app with storage:read storage:write in its own namespace', async () => {
    const h = await appHeaders(s, 'notes-app', 'storage:read storage:write');
    expect((await s.call('PUT', '/v1/data/notes/mine', h, Buffer.from('app data'))).status).toBe(200);
    expect((await s.call('GET', '/v1/data/notes/mine', h)).body.toString()).toBe('app data');
    // Its notes are not the person's, and it cannot see the person's.
    const own = (await s.call('GET', '/v1/data/notes', h)).json();
    expect(own.items.map((i: { key: string }) => i.key)).toEqual(['mine']);
    expectError(await s.call('GET', '/v1/data/notes/secret', h), 404, 'not_found');
    expectError(await s.call('GET', '/v1/data/notes/secret?target=person', h), 403, 'forbidden');
    const personKeys = (await s.call('GET', '/v1/data/notes', PERSON))
      .json()
      .items.map((i: { key: string }) => i.key);
    expect(personKeys).toEqual(['secret']);
    expectError(await s.call('GET', '/v1/data/notes/mine', PERSON), 404, 'not_found');
    expect((await s.call('GET', '/v1/collections', h)).json()).toEqual({
      collections: [{ name: 'notes', objects: 1, bytes: 8 }],
    });
  });

  it('lets an app with a collection scope reach that person collection only', async () => {
    const h = await appHeaders(s, 'reader', 'storage:notes:read');
    expect((await s.call('GET', '/v1/data/notes/secret?target=person', h)).body.toString()).toBe(
      'the person’s',
    );
    expectError(
      await s.call('PUT', '/v1/data/notes/secret?target=person', h, Buffer.from('x')),
      403,
      'forbidden',
    );
    expectError(await s.call('GET', '/v1/data/contacts?target=person', h), 403, 'forbidden');
  });

  it('keeps the audit log to the person: apps and other DIDs get 403', async () => {
    const app = await appHeaders(s, 'notes-app', 'storage:read storage:write');
    for (const path of ['/v1/audit', '/v1/audit/verify', '/v1/audit/1/proof']) {
      expectError(await s.call('GET', path, app), 403, 'forbidden');
      expectError(await s.call('GET', path, { ...PERSON, 'x-self-did': OTHER_DID }), 403, 'forbidden');
    }
    // Another DID acting as the person is refused data too (and audited as denied).
    expectError(
      await s.call('GET', '/v1/data/notes/secret', { ...PERSON, 'x-self-did': OTHER_DID }),
      403,
      'forbidden',
    );
    const last = (await auditOf(s)).filter((e) => e.actor === OTHER_DID);
    expect(last.map((e) => e.outcome)).toEqual(['denied']);
  });
});

describe('instance server: audit', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve();
    for (const k of ['a', 'b', 'c']) await s.call('PUT', `/v1/data/notes/${k}`, PERSON, Buffer.from(k));
  });

  it('pages the log, verifies it and proves an entry in a closed segment', async () => {
    const all = await auditOf(s);
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3]); // the three puts; reading the log is not audited
    expect(all[0]).toMatchObject({
      action: 'data.put',
      object: 'person/notes/a',
      outcome: 'ok',
      actor: DID,
      app: null,
    });
    const page = (await s.call('GET', '/v1/audit?from=2&limit=2', PERSON)).json();
    expect(page.entries.map((e: AuditEntryJson) => e.seq)).toEqual([2, 3]);
    expect(page.next).toBe(4);

    const verify = await s.call('GET', '/v1/audit/verify', PERSON);
    expect(verify.status).toBe(200);
    expect(verify.json()).toMatchObject({
      ok: true,
      segments: 0,
      head: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    // Not in a closed segment yet: 409.
    expectError(await s.call('GET', '/v1/audit/2/proof', PERSON), 409, 'not_segmented');
    expect(s.inst.closeAuditSegment()).not.toBeNull();
    const proof = await s.call('GET', '/v1/audit/2/proof', PERSON);
    expect(proof.status).toBe(200);
    expect(proof.json().entry).toMatchObject({ seq: 2, object: 'person/notes/b' });
    expect(verifyAuditProof(proof.json())).toBe(true);
    const tampered = { ...proof.json(), entry: { ...proof.json().entry, object: 'person/notes/z' } };
    expect(verifyAuditProof(tampered)).toBe(false);
    expect((await s.call('GET', '/v1/audit/verify', PERSON)).json()).toMatchObject({ ok: true, segments: 1 });

    expectError(await s.call('GET', '/v1/audit/999999/proof', PERSON), 404, 'not_found');
    expectError(await s.call('GET', '/v1/audit/0/proof', PERSON), 400, 'invalid_request');
    expectError(await s.call('GET', '/v1/audit/x/proof', PERSON), 400, 'invalid_request');
    expectError(await s.call('GET', '/v1/audit?limit=5000', PERSON), 400, 'invalid_request');
  });
});

describe('instance server: limits', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ tier: 'enterprise', quotaBytes: 1000, maxValueBytes: 2000 }, { maxValueBytes: 2000 });
  });

  it('answers 507 over quota and writes nothing', async () => {
    expect((await s.call('PUT', '/v1/data/files/one', PERSON, new Uint8Array(600))).status).toBe(200);
    const before = (await s.call('GET', '/v1/usage', PERSON)).json();
    const r = await s.call('PUT', '/v1/data/files/two', PERSON, new Uint8Array(600));
    expectError(r, 507, 'quota_exceeded');
    expectError(await s.call('GET', '/v1/data/files/two', PERSON), 404, 'not_found');
    expect((await s.call('GET', '/v1/usage', PERSON)).json()).toEqual(before);
    expect(before).toMatchObject({ quota_bytes: 1000, objects: 1 });
    const failed = (await auditOf(s)).find((e) => e.object === 'person/files/two');
    expect(failed).toMatchObject({ action: 'data.put.quota_exceeded', outcome: 'error' });
  });

  it('answers 413 for a body over the largest value', async () => {
    const r = await s.call('PUT', '/v1/data/files/big', PERSON, new Uint8Array(2001));
    expectError(r, 413, 'too_large');
    expect(r.json().details).toEqual({ max: 2000 });
    expectError(await s.call('GET', '/v1/data/files/big', PERSON), 404, 'not_found');
  });

  it('answers 503 once the instance is closed', async () => {
    s.inst.close();
    expectError(await s.call('GET', '/health'), 503, 'unavailable');
    expectError(await s.call('GET', '/v1/data/files/one', PERSON), 503, 'unavailable');
  });
});
