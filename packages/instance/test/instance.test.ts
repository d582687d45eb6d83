import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encryptionKeysFromSeed,
  equalBytes,
  newRecoveryPhrase,
  recoveryPhraseToSeed,
  toHex,
} from '@self/crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  AuditError,
  auditAnchorMatches,
  entryHash,
  merkleRoot,
  verifyAuditProof,
  type AuditEntry,
} from '../src/audit/index.js';
import {
  AccessError,
  Instance,
  TIER_QUOTA_BYTES,
  type Actor,
  type CreateInstanceOptions,
} from '../src/instance.js';
import { InstanceError } from '../src/store/errors.js';
import { INLINE_MAX } from '../src/store/blob-files.js';
import { VaultError, generateHostKey } from '../src/vault.js';
import { T0, TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';
import { assertSameBytes, pattern } from './fixtures/store-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'self-instance-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const opened: Instance[] = [];
afterEach(() => {
  for (const i of opened.splice(0)) i.close();
});

// The person's encryption keys come from their recovery phrase, on their device.
const { person, hostKey } = testKeys();
const DID = TEST_DID;
const OTHER_DID = 'did:self:self1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq';

const me: Actor = { kind: 'person', did: DID };
/** An app granted its own namespace (`storage:read`, `storage:write`) plus `scopes`. */
const app = (appId: string, scopes: string[] = []): Actor => ({
  kind: 'app',
  did: DID,
  appId,
  scopes: ['storage:read', 'storage:write', ...scopes],
});
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

let dirs = 0;
const newDir = (): string => join(root, `inst-${++dirs}`);

function create(opts: Partial<CreateInstanceOptions> = {}): { inst: Instance; dir: string } {
  const dir = opts.dir ?? newDir();
  const inst = createTestInstance(
    { person, hostKey },
    { dir, instanceId: `i-${dirs}`, now: () => T0, ...opts },
  );
  opened.push(inst);
  return { inst, dir };
}

function track(inst: Instance): Instance {
  opened.push(inst);
  return inst;
}

/** The error `fn` throws, with its class and code. */
function errorOf(fn: () => unknown): { type: string; code: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof InstanceError || err instanceof AccessError || err instanceof VaultError) {
      return { type: err.name, code: err.code };
    }
    if (err instanceof AuditError) return { type: err.name, code: err.code };
    throw err;
  }
  throw new Error('expected an error, nothing was thrown');
}

/** The entries' fields that an access decides (not seq, time, prev). */
const fields = (e: AuditEntry) => ({
  actor: e.actor,
  app: e.app,
  scope: e.scope,
  action: e.action,
  object: e.object,
  outcome: e.outcome,
});

const lastEntry = (inst: Instance): AuditEntry => {
  const head = inst.info().auditHead;
  if (head === null) throw new Error('empty audit log');
  return inst.auditEntries(head.seq, 1)[0]!;
};

describe('Instance: creation and the person', () => {
  it('creates the directory, instance.json and keys.json, and round-trips put/get/list/delete with one audit entry each', () => {
    const { inst, dir } = create({ instanceId: 'inst-alpha' });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'keys.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, 'instance.json'), 'utf8'))).toEqual({
      v: 1,
      instance_id: 'inst-alpha',
      did: DID,
      tier: 'free',
      quota_bytes: 10_000_000_000,
      created_at: T0,
    });
    expect(TIER_QUOTA_BYTES).toEqual({ free: 10e9, growth: 50e9, pro: 200e9 });
    expect(inst.info()).toEqual({
      instanceId: 'inst-alpha',
      did: DID,
      tier: 'free',
      quotaBytes: 10e9,
      createdAt: T0,
      mode: 'always-on',
      usage: { bytes: 0, quotaBytes: 10e9, objects: 0 },
      auditHead: null,
      instance_public_key: expect.stringMatching(/^02[0-9a-f]{3968}$/),
      instance_address: expect.stringMatching(/^self1[02-9ac-hj-np-z]{38}$/),
    });

    const put = inst.put(me, 'notes', 'a', text('hello'), { contentType: 'text/plain' });
    expect(put).toMatchObject({ version: 1, size: 5 });
    const got = inst.get(me, 'notes', 'a');
    expect(str(got.value)).toBe('hello');
    expect(got).toMatchObject({ contentType: 'text/plain', version: 1, etag: put.etag, size: 5 });
    inst.put(me, 'notes', 'b', text('world'));
    expect(inst.list(me, 'notes').items.map((i) => i.key)).toEqual(['a', 'b']);
    inst.delete(me, 'notes', 'a');
    expect(errorOf(() => inst.get(me, 'notes', 'a'))).toEqual({ type: 'InstanceError', code: 'not_found' });
    expect(inst.list(me, 'notes', { prefix: 'b' }).items.map((i) => i.key)).toEqual(['b']);
    expect(inst.collections(me)).toEqual([{ name: 'notes', objects: 1, bytes: 5 }]);

    const entries = inst.auditEntries();
    const person = { actor: DID, app: null };
    expect(entries.map(fields)).toEqual([
      {
        ...person,
        scope: 'storage:notes:write',
        action: 'data.put',
        object: 'person/notes/a',
        outcome: 'ok',
      },
      { ...person, scope: 'storage:notes:read', action: 'data.get', object: 'person/notes/a', outcome: 'ok' },
      {
        ...person,
        scope: 'storage:notes:write',
        action: 'data.put',
        object: 'person/notes/b',
        outcome: 'ok',
      },
      {
        ...person,
        scope: 'storage:notes:read',
        action: 'data.list',
        object: 'person/notes/*',
        outcome: 'ok',
      },
      {
        ...person,
        scope: 'storage:notes:write',
        action: 'data.delete',
        object: 'person/notes/a',
        outcome: 'ok',
      },
      {
        ...person,
        scope: 'storage:notes:read',
        action: 'data.get.not_found',
        object: 'person/notes/a',
        outcome: 'error',
      },
      {
        ...person,
        scope: 'storage:notes:read',
        action: 'data.list',
        object: 'person/notes/b*',
        outcome: 'ok',
      },
      { ...person, scope: 'storage:*:read', action: 'data.collections', object: 'person/', outcome: 'ok' },
    ]);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(entries.every((e) => e.time === T0)).toBe(true);
    const verified = inst.auditVerify();
    expect(verified).toMatchObject({ ok: true, entries: 8, segments: 0 });
    expect(inst.info()).toMatchObject({
      usage: { bytes: 5, objects: 1 },
      auditHead: { seq: 8, hash: toHex(entryHash(entries[7]!)) },
    });
  });

  it('refuses a person actor with another DID, and audits the refusal', () => {
    const { inst } = create();
    const stranger: Actor = { kind: 'person', did: OTHER_DID };
    expect(errorOf(() => inst.put(stranger, 'notes', 'x', text('x')))).toEqual({
      type: 'AccessError',
      code: 'forbidden',
    });
    expect(errorOf(() => inst.collections(stranger))).toEqual({ type: 'AccessError', code: 'forbidden' });
    expect(inst.usage().objects).toBe(0);
    expect(inst.auditEntries().map((e) => [e.actor, e.action, e.outcome])).toEqual([
      [OTHER_DID, 'data.put', 'denied'],
      [OTHER_DID, 'data.collections', 'denied'],
    ]);
  });

  it('refuses a malformed actor without touching data', () => {
    const { inst } = create();
    const bad = { kind: 'person', did: 'not-a-did' } as Actor;
    expect(errorOf(() => inst.put(bad, 'notes', 'x', text('x')))).toEqual({
      type: 'InstanceError',
      code: 'invalid_argument',
    });
    const badApp = { kind: 'app', did: DID, appId: 'Bad App', scopes: [] } as Actor;
    expect(errorOf(() => inst.get(badApp, 'notes', 'x'))).toEqual({
      type: 'InstanceError',
      code: 'invalid_argument',
    });
    expect(inst.usage().objects).toBe(0);
  });
});

describe('Instance: apps and scopes', () => {
  it('an app without scopes cannot read or list a person collection; the denials are audited', () => {
    const { inst } = create();
    inst.put(me, 'notes', 'n1', text('my note'));
    const nosy = app('nosy');
    expect(errorOf(() => inst.get(nosy, 'notes', 'n1', { target: 'person' }))).toEqual({
      type: 'AccessError',
      code: 'forbidden',
    });
    expect(errorOf(() => inst.list(nosy, 'notes', { target: 'person' }))).toEqual({
      type: 'AccessError',
      code: 'forbidden',
    });
    // Its own namespace is empty: the person's note is not there.
    expect(errorOf(() => inst.get(nosy, 'notes', 'n1'))).toEqual({
      type: 'InstanceError',
      code: 'not_found',
    });
    expect(inst.list(nosy, 'notes').items).toEqual([]);

    expect(inst.auditEntries(2).map(fields)).toEqual([
      {
        actor: DID,
        app: 'nosy',
        scope: 'storage:notes:read',
        action: 'data.get',
        object: 'person/notes/n1',
        outcome: 'denied',
      },
      {
        actor: DID,
        app: 'nosy',
        scope: 'storage:notes:read',
        action: 'data.list',
        object: 'person/notes/*',
        outcome: 'denied',
      },
      {
        actor: DID,
        app: 'nosy',
        scope: 'storage:read',
        action: 'data.get.not_found',
        object: 'app:nosy/notes/n1',
        outcome: 'error',
      },
      {
        actor: DID,
        app: 'nosy',
        scope: 'storage:read',
        action: 'data.list',
        object: 'app:nosy/notes/*',
        outcome: 'ok',
      },
    ]);
    expect(inst.auditVerify().ok).toBe(true);
  });

  it('an app needs storage:read / storage:write even for its own namespace', () => {
    const { inst } = create();
    const bare: Actor = { kind: 'app', did: DID, appId: 'bare', scopes: [] };
    expect(errorOf(() => inst.put(bare, 'notes', 'a', text('x'))).code).toBe('forbidden');
    const readOnly: Actor = { kind: 'app', did: DID, appId: 'bare', scopes: ['storage:read'] };
    expect(errorOf(() => inst.put(readOnly, 'notes', 'a', text('x'))).code).toBe('forbidden');
    expect(inst.list(readOnly, 'notes', {}).items).toEqual([]);
    const denied = inst.auditEntries(1, 10).filter((e) => e.outcome === 'denied');
    expect(denied.map((e) => [e.scope, e.object])).toEqual([
      ['storage:write', 'app:bare/notes/a'],
      ['storage:write', 'app:bare/notes/a'],
    ]);
    inst.close();
  });

  it('with storage:notes:read an app reads notes, but cannot write them or read contacts', () => {
    const { inst } = create();
    inst.put(me, 'notes', 'n1', text('my note'));
    inst.put(me, 'contacts', 'alice', text('alice@example.org'));
    const reader = app('notes-reader', ['storage:notes:read']);

    expect(str(inst.get(reader, 'notes', 'n1', { target: 'person' }).value)).toBe('my note');
    expect(inst.list(reader, 'notes', { target: 'person' }).items.map((i) => i.key)).toEqual(['n1']);
    expect(errorOf(() => inst.put(reader, 'notes', 'n2', text('x'), { target: 'person' }))).toEqual({
      type: 'AccessError',
      code: 'forbidden',
    });
    expect(errorOf(() => inst.delete(reader, 'notes', 'n1', { target: 'person' }))).toEqual({
      type: 'AccessError',
      code: 'forbidden',
    });
    expect(errorOf(() => inst.get(reader, 'contacts', 'alice', { target: 'person' }))).toEqual({
      type: 'AccessError',
      code: 'forbidden',
    });
    // Nothing changed.
    expect(inst.list(me, 'notes').items.map((i) => i.key)).toEqual(['n1']);
    expect(inst.usage()).toMatchObject({ objects: 2 });

    const tail = inst.auditEntries(3, 5).map((e) => [e.app, e.scope, e.action, e.object, e.outcome]);
    expect(tail).toEqual([
      ['notes-reader', 'storage:notes:read', 'data.get', 'person/notes/n1', 'ok'],
      ['notes-reader', 'storage:notes:read', 'data.list', 'person/notes/*', 'ok'],
      ['notes-reader', 'storage:notes:write', 'data.put', 'person/notes/n2', 'denied'],
      ['notes-reader', 'storage:notes:write', 'data.delete', 'person/notes/n1', 'denied'],
      ['notes-reader', 'storage:contacts:read', 'data.get', 'person/contacts/alice', 'denied'],
    ]);

    // A write scope lets it write, and only that collection.
    const writer = app('notes-writer', ['storage:notes:write']);
    inst.put(writer, 'notes', 'n2', text('from an app'), { target: 'person' });
    expect(str(inst.get(me, 'notes', 'n2').value)).toBe('from an app');
    expect(errorOf(() => inst.get(writer, 'notes', 'n2', { target: 'person' }))).toEqual({
      type: 'AccessError',
      code: 'forbidden',
    });
  });

  it("an app's own namespace is invisible to other apps and to the person's collections", () => {
    const { inst } = create();
    inst.put(me, 'notes', 'mine', text('person'));
    const a = app('app-a');
    const b = app('app-b', ['storage:notes:read']);
    inst.put(a, 'notes', 'secret', text('a only'));
    inst.put(a, 'cache', 'k', text('a cache'));

    expect(str(inst.get(a, 'notes', 'secret').value)).toBe('a only');
    expect(errorOf(() => inst.get(b, 'notes', 'secret'))).toEqual({
      type: 'InstanceError',
      code: 'not_found',
    });
    expect(errorOf(() => inst.get(b, 'notes', 'secret', { target: 'person' }))).toEqual({
      type: 'InstanceError',
      code: 'not_found',
    });
    expect(inst.list(b, 'notes').items).toEqual([]);
    expect(inst.list(b, 'notes', { target: 'person' }).items.map((i) => i.key)).toEqual(['mine']);
    expect(inst.collections(b)).toEqual([]);
    expect(inst.collections(a).map((c) => c.name)).toEqual(['cache', 'notes']);
    expect(inst.collections(me)).toEqual([{ name: 'notes', objects: 1, bytes: 6 }]);
    expect(inst.list(me, 'notes').items.map((i) => i.key)).toEqual(['mine']);
    expect(errorOf(() => inst.get(me, 'cache', 'k'))).toEqual({ type: 'InstanceError', code: 'not_found' });
    // The person's quota counts every namespace.
    expect(inst.usage()).toMatchObject({ objects: 3, bytes: 6 + 6 + 7 });
    expect(inst.auditVerify().ok).toBe(true);
  });
});

describe('Instance: failures', () => {
  it('a put over quota writes nothing, leaves usage as it was, and is audited as an error', () => {
    const { inst, dir } = create({ tier: 'enterprise', quotaBytes: 100_000 });
    expect(inst.info().quotaBytes).toBe(100_000);
    inst.put(me, 'files', 'small', pattern(1, 60_000));
    const before = inst.usage();
    const entriesBefore = inst.auditEntries().length;
    const blobsBefore = readdirSync(join(dir, 'blobs')).length;

    expect(errorOf(() => inst.put(me, 'files', 'big', pattern(2, INLINE_MAX + 1)))).toEqual({
      type: 'InstanceError',
      code: 'quota_exceeded',
    });
    expect(inst.usage()).toEqual(before);
    expect(readdirSync(join(dir, 'blobs')).length).toBe(blobsBefore);
    const entries = inst.auditEntries();
    expect(entries.length).toBe(entriesBefore + 1);
    expect(fields(entries.at(-1)!)).toEqual({
      actor: DID,
      app: null,
      scope: 'storage:files:write',
      action: 'data.put.quota_exceeded',
      object: 'person/files/big',
      outcome: 'error',
    });
    expect(errorOf(() => inst.get(me, 'files', 'big'))).toEqual({ type: 'InstanceError', code: 'not_found' });
    expect(inst.auditVerify()).toMatchObject({ ok: true, entries: entriesBefore + 2 });
  });

  it('invalid names and conflicts are audited as errors with the store code', () => {
    const { inst } = create();
    expect(errorOf(() => inst.put(me, 'notes', ' padded', text('x')))).toEqual({
      type: 'InstanceError',
      code: 'invalid_key',
    });
    expect(errorOf(() => inst.put(me, 'Bad Name', 'k', text('x')))).toEqual({
      type: 'InstanceError',
      code: 'invalid_name',
    });
    const first = inst.put(me, 'notes', 'k', text('one'));
    expect(errorOf(() => inst.put(me, 'notes', 'k', text('two'), { ifMatch: '00'.repeat(32) }))).toEqual({
      type: 'InstanceError',
      code: 'conflict',
    });
    expect(str(inst.get(me, 'notes', 'k', {}).value)).toBe('one');
    expect(inst.put(me, 'notes', 'k', text('two'), { ifMatch: first.etag }).version).toBe(2);
    expect(inst.auditEntries().map((e) => [e.scope, e.action, e.object, e.outcome])).toEqual([
      ['storage:notes:write', 'data.put.invalid_key', 'person/notes/<invalid>', 'error'],
      ['storage:<invalid>:write', 'data.put.invalid_name', 'person/<invalid>/k', 'error'],
      ['storage:notes:write', 'data.put', 'person/notes/k', 'ok'],
      ['storage:notes:write', 'data.put.conflict', 'person/notes/k', 'error'],
      ['storage:notes:read', 'data.get', 'person/notes/k', 'ok'],
      ['storage:notes:write', 'data.put', 'person/notes/k', 'ok'],
    ]);
  });

  it('a closed instance refuses every call', () => {
    const { inst } = create();
    inst.close();
    expect(errorOf(() => inst.get(me, 'notes', 'k'))).toEqual({ type: 'InstanceError', code: 'closed' });
    expect(errorOf(() => inst.usage())).toEqual({ type: 'InstanceError', code: 'closed' });
    inst.close(); // idempotent
  });
});

describe('Instance: large values', () => {
  it('removes the file of a replaced or deleted large value right after the write, not at the next open', () => {
    const { inst, dir } = create();
    const big = (fill: number): Uint8Array => new Uint8Array(70_000).fill(fill);
    for (const fill of [1, 2, 3, 4]) inst.put(me, 'files', 'photo', big(fill));
    expect(readdirSync(join(dir, 'blobs'))).toHaveLength(1);
    expect(inst.get(me, 'files', 'photo').value).toEqual(big(4));
    inst.delete(me, 'files', 'photo');
    expect(readdirSync(join(dir, 'blobs'))).toHaveLength(0);
    expect(inst.usage().bytes).toBe(0);
    inst.close();
  });
});

describe('Instance: reopening, modes and creation safety', () => {
  it('reopens with the host key: data is there and the audit chain continues', () => {
    const { inst, dir } = create();
    inst.put(me, 'notes', 'a', text('one'));
    inst.put(me, 'files', 'big', pattern(3, INLINE_MAX + 100));
    inst.get(me, 'notes', 'a');
    const headBefore = inst.info().auditHead;
    inst.close();

    expect(errorOf(() => Instance.open({ dir, hostKey: generateHostKey() }))).toEqual({
      type: 'VaultError',
      code: 'wrong_key',
    });
    const again = track(Instance.open({ dir, hostKey, now: () => T0 + 1 }));
    expect(again.info()).toMatchObject({ did: DID, mode: 'always-on', auditHead: headBefore });
    expect(str(again.get(me, 'notes', 'a').value)).toBe('one');
    assertSameBytes(again.get(me, 'files', 'big').value, pattern(3, INLINE_MAX + 100));
    again.put(me, 'notes', 'b', text('two'));
    const entries = again.auditEntries();
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(equalBytes(entries[3]!.prev, entryHash(entries[2]!))).toBe(true);
    expect(entries.slice(3).every((e) => e.time === T0 + 1)).toBe(true);
    expect(again.auditVerify()).toMatchObject({ ok: true, entries: 6 });
  });

  it('a sovereign instance opens only with the person key', () => {
    const { inst, dir } = create({ mode: 'sovereign', hostKey: undefined });
    expect(readFileSync(join(dir, 'keys.json'), 'utf8')).not.toContain('"host"');
    inst.put(me, 'memory', 'm', text('remember'));
    inst.close();

    expect(errorOf(() => Instance.open({ dir, hostKey }))).toEqual({ type: 'VaultError', code: 'locked' });
    const stranger = encryptionKeysFromSeed(recoveryPhraseToSeed(newRecoveryPhrase()));
    expect(errorOf(() => Instance.openWithPersonKey({ dir, personSecretKey: stranger.secretKey }))).toEqual({
      type: 'VaultError',
      code: 'wrong_key',
    });
    const session = track(Instance.openWithPersonKey({ dir, personSecretKey: person.secretKey }));
    expect(session.mode).toBe('sovereign');
    expect(str(session.get(me, 'memory', 'm').value)).toBe('remember');
    expect(session.auditVerify()).toMatchObject({ ok: true, entries: 2 });
  });

  it('an always-on instance also opens with the person key (recovery)', () => {
    const { inst, dir } = create();
    inst.put(me, 'notes', 'a', text('x'));
    inst.close();
    const recovered = track(Instance.openWithPersonKey({ dir, personSecretKey: person.secretKey }));
    expect(str(recovered.get(me, 'notes', 'a').value)).toBe('x');
  });

  it('never creates over an existing instance or a non-empty directory', () => {
    const { inst, dir } = create();
    inst.put(me, 'notes', 'a', text('keep me'));
    inst.close();
    const files = ['instance.json', 'keys.json'].map((f) => readFileSync(join(dir, f)));

    const again = errorOf(() => create({ dir, instanceId: 'other' }));
    expect(again).toEqual({ type: 'InstanceError', code: 'invalid_argument' });
    let message = '';
    try {
      create({ dir, instanceId: 'other' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('already holds an instance');
    expect(['instance.json', 'keys.json'].map((f) => readFileSync(join(dir, f)))).toEqual(files);
    const reopened = track(Instance.open({ dir, hostKey }));
    expect(reopened.instanceId).not.toBe('other');
    expect(str(reopened.get(me, 'notes', 'a').value)).toBe('keep me');

    // A directory holding anything else is refused too, and left as it was.
    const other = newDir();
    mkdirSync(other);
    writeFileSync(join(other, 'unrelated.txt'), 'hi');
    expect(errorOf(() => create({ dir: other }))).toEqual({
      type: 'InstanceError',
      code: 'invalid_argument',
    });
    expect(readdirSync(other)).toEqual(['unrelated.txt']);

    // An existing empty directory is taken (and made private).
    const empty = newDir();
    mkdirSync(empty, { mode: 0o755 });
    const { inst: fresh } = create({ dir: empty });
    expect(statSync(empty).mode & 0o777).toBe(0o700);
    expect(fresh.usage().objects).toBe(0);
  });

  it('refuses bad creation arguments before touching the disk', () => {
    const dir = newDir();
    expect(errorOf(() => create({ dir, hostKey: undefined }))).toEqual({
      type: 'VaultError',
      code: 'no_host_wrap',
    });
    expect(errorOf(() => create({ dir, tier: 'enterprise' }))).toEqual({
      type: 'InstanceError',
      code: 'invalid_argument',
    });
    expect(errorOf(() => create({ dir, tier: 'pro', quotaBytes: 5 }))).toEqual({
      type: 'InstanceError',
      code: 'invalid_argument',
    });
    expect(errorOf(() => create({ dir, did: 'alice' }))).toEqual({
      type: 'InstanceError',
      code: 'invalid_argument',
    });
    expect(() => statSync(dir)).toThrow();
    expect(errorOf(() => Instance.open({ dir, hostKey }))).toEqual({
      type: 'InstanceError',
      code: 'not_found',
    });
  });
});

describe('Instance: audit segments and proofs', () => {
  it('closeAuditSegment returns the anchor body whose root the proofs verify against', () => {
    const { inst } = create();
    inst.put(me, 'notes', 'a', text('1'));
    inst.put(me, 'notes', 'b', text('2'));
    inst.get(me, 'notes', 'a');
    expect(errorOf(() => inst.get(app('x'), 'notes', 'a', { target: 'person' })).code).toBe('forbidden');
    inst.list(me, 'notes');
    expect(errorOf(() => inst.auditProof(1))).toEqual({ type: 'AuditError', code: 'not_segmented' });

    const body = inst.closeAuditSegment();
    expect(body).not.toBeNull();
    const entries = inst.auditEntries();
    expect(body).toMatchObject({ did: DID, kind: 'audit', seq: 1, count: 5 });
    expect(equalBytes(body!.root, merkleRoot(entries.map(entryHash)))).toBe(true);
    for (const e of entries) {
      const proof = inst.auditProof(e.seq);
      expect(verifyAuditProof(proof)).toBe(true);
      expect(proof.segment.root).toBe(toHex(body!.root));
      expect(proof.entry.outcome).toBe(e.outcome);
    }
    expect(inst.closeAuditSegment()).toBeNull();

    // The chain commits it; the proof then names the anchor and matches the chain's record.
    const txHash = 'ab'.repeat(32);
    inst.markAnchored(1, txHash, 42);
    const proof = inst.auditProof(4);
    expect(proof.segment).toMatchObject({ anchor_tx: txHash, anchor_height: 42 });
    expect(
      auditAnchorMatches(proof, DID, {
        ...body!,
        height: 42,
        tx_hash: Uint8Array.from(Buffer.from(txHash, 'hex')),
      }),
    ).toBe(true);

    // The next segment starts where the first ended.
    inst.delete(me, 'notes', 'b');
    const second = inst.closeAuditSegment();
    expect(second).toMatchObject({ seq: 2, count: 1 });
    const last = inst.auditProof(6);
    expect(verifyAuditProof(last)).toBe(true);
    expect(last.segment).toMatchObject({ id: 2, first_seq: 6, last_seq: 6, root: toHex(second!.root) });
    expect(inst.auditVerify()).toMatchObject({ ok: true, entries: 6, segments: 2 });
    expect(lastEntry(inst).action).toBe('data.delete');
  });
});
