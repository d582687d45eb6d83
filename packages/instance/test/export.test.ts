import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, toHex } from '@self/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryHash, entryToJson, type AuditEntry } from '../src/audit/index.js';
import {
  ExportError,
  exportInstance,
  readExport,
  readExportRecords,
  type ExportedObject,
} from '../src/export.js';
import { Instance, type Actor } from '../src/instance.js';
import { INLINE_MAX } from '../src/store/blob-files.js';
import { T0, TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';
import { assertSameBytes, pattern } from './fixtures/store-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'self-export-'));
const keys = testKeys();
const DID = TEST_DID;
const me: Actor = { kind: 'person', did: DID };
const appA: Actor = { kind: 'app', did: DID, appId: 'app-a', scopes: ['storage:read', 'storage:write'] };
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Expected {
  ns: string;
  collection: string;
  key: string;
  contentType: string;
  value: Uint8Array;
}

let inst: Instance;
const expected: Expected[] = [];
/** Enough objects in one collection to need more than one list page (1000). */
const MANY = 1005;

beforeAll(() => {
  inst = createTestInstance(keys, { dir: join(root, 'inst'), instanceId: 'inst-export', now: () => T0 });
  const add = (actor: Actor, collection: string, key: string, value: Uint8Array, contentType: string) => {
    inst.put(actor, collection, key, value, { contentType });
    expected.push({
      ns: actor.kind === 'person' ? 'person' : `app:${actor.appId}`,
      collection,
      key,
      contentType,
      value,
    });
  };
  add(me, 'notes', 'hello', text('hello, world'), 'text/plain; charset=utf-8');
  add(me, 'notes', 'empty', new Uint8Array(0), 'application/octet-stream');
  add(me, 'notes', 'résumé 📄', text('ünïcödé'), 'text/plain');
  add(me, 'files', 'inline-max', pattern(1, INLINE_MAX), 'application/x-test');
  add(me, 'files', 'blob-small', pattern(2, INLINE_MAX + 1), 'application/x-test');
  add(me, 'files', 'blob-large', pattern(3, 300 * 1024 + 7), 'image/png');
  for (let i = 0; i < MANY; i++) {
    add(me, 'memory', `m-${String(i).padStart(5, '0')}`, text(`memory ${i}`), 'text/plain');
  }
  add(appA, 'cache', 'k', pattern(4, 100), 'application/json');
  add(appA, 'files', 'big', pattern(5, 2 * INLINE_MAX), 'application/octet-stream');
  // An overwrite: the archive carries the current version only.
  inst.put(me, 'notes', 'hello', text('hello, again'), { contentType: 'text/plain; charset=utf-8' });
  expected[0]!.value = text('hello, again');
  // A denied access is part of the log too.
  expect(() => inst.get(appA, 'notes', 'hello', { target: 'person' })).toThrow();
});

afterAll(() => {
  inst.close();
  rmSync(root, { recursive: true, force: true });
});

const byKey = (o: { ns: string; collection: string; key: string }) =>
  `${o.ns}\u0000${o.collection}\u0000${o.key}`;

const fieldsOf = (e: AuditEntry) => ({
  seq: e.seq,
  actor: e.actor,
  app: e.app,
  scope: e.scope,
  action: e.action,
  object: e.object,
  outcome: e.outcome,
});

function exportErrorOf(fn: () => unknown): { code: string; reason: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ExportError) return { code: err.code, reason: err.details.reason };
    throw err;
  }
  throw new Error('expected an ExportError');
}

describe('exportInstance / readExport', () => {
  let out: string;
  let auditBefore: AuditEntry[];

  it('writes every object and audit entry; readExport round-trips them byte for byte', () => {
    auditBefore = [];
    for (let from = 1; ; from += 1000) {
      const page = inst.auditEntries(from, 1000);
      auditBefore.push(...page);
      if (page.length < 1000) break;
    }
    expect(auditBefore.length).toBeGreaterThan(1000);

    out = join(root, 'archive.jsonl');
    const result = exportInstance(inst, out, { now: () => T0 + 5 });
    expect(result).toMatchObject({ path: out, objects: expected.length, auditEntries: auditBefore.length });
    expect(result.bytes).toBe(statSync(out).size);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(root).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // The export itself is audited, right after the entries it exported.
    const exportEntries = inst.auditEntries(auditBefore.length + 1, 10);
    expect(exportEntries).toHaveLength(1);
    expect(fieldsOf(exportEntries[0]!)).toEqual({
      seq: auditBefore.length + 1,
      actor: DID,
      app: null,
      scope: 'storage:*:read',
      action: 'instance.export',
      object: `sha256:${result.sha256}`,
      outcome: 'ok',
    });
    expect(inst.auditVerify().ok).toBe(true);

    const objects: ExportedObject[] = [];
    const audit: { entry: AuditEntry; hash: string }[] = [];
    const summary = readExport(out, {
      onObject: (o) => objects.push(o),
      onAuditEntry: (entry, hash) => audit.push({ entry, hash }),
    });
    expect(summary).toEqual({
      header: { format: 'self-export', v: 3, did: DID, instance_id: 'inst-export', exported_at: T0 + 5 },
      objects: expected.length,
      auditEntries: auditBefore.length,
      aiThreads: 0,
      aiMessages: 0,
      aiMemory: 0,
      aiUsage: 0,
      grants: 0,
      sha256: result.sha256,
      bytes: result.bytes,
    });

    // Every object, once, with its bytes, content type and current version.
    expect(objects.map(byKey).sort()).toEqual(expected.map(byKey).sort());
    const want = new Map(expected.map((e) => [byKey(e), e]));
    for (const o of objects) {
      const e = want.get(byKey(o))!;
      assertSameBytes(o.value, e.value);
      expect(o.contentType).toBe(e.contentType);
      expect(o.etag).toBe(toHex(sha256(e.value)));
      expect(o.updatedAt).toBe(T0);
      expect(o.version).toBe(o.key === 'hello' ? 2 : 1);
      // And the instance still holds the same bytes.
      const actor = o.ns === 'person' ? me : appA;
      assertSameBytes(inst.get(actor, o.collection, o.key).value, e.value);
    }
    // Order: the person's namespace first, collections by name, keys in byte order.
    const order = objects.map((o) => `${o.ns}/${o.collection}`);
    expect([...new Set(order)]).toEqual([
      'person/files',
      'person/memory',
      'person/notes',
      'app:app-a/cache',
      'app:app-a/files',
    ]);
    const notes = objects.filter((o) => o.ns === 'person' && o.collection === 'notes').map((o) => o.key);
    expect(notes).toEqual(['empty', 'hello', 'résumé 📄']);

    // The whole audit log as it was before the export, with its hashes.
    expect(audit.map((a) => entryToJson(a.entry))).toEqual(auditBefore.map(entryToJson));
    expect(audit.map((a) => a.hash)).toEqual(auditBefore.map((e) => toHex(entryHash(e))));
    expect(audit.some((a) => a.entry.outcome === 'denied')).toBe(true);

    // The archive's lines, as documented.
    const lines = readFileSync(out, 'utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    expect(JSON.parse(lines[0]!)).toEqual(summary.header);
    expect(Object.keys(JSON.parse(lines[1]!))).toEqual([
      'ns',
      'collection',
      'key',
      'content_type',
      'version',
      'updated_at',
      'etag',
      'value_b64',
    ]);
    const end = JSON.parse(lines.at(-2)!);
    expect(end).toEqual({
      end: true,
      objects: expected.length,
      audit_entries: auditBefore.length,
      ai_threads: 0,
      ai_messages: 0,
      ai_memory: 0,
      ai_usage: 0,
      grants: 0,
      sha256: result.sha256,
    });
    const before = Buffer.from(lines.slice(0, -2).join('\n') + '\n', 'utf8');
    expect(toHex(sha256(before))).toBe(result.sha256);
  });

  it('readExportRecords yields the same records as an iterator', () => {
    let objects = 0;
    let audit = 0;
    const it = readExportRecords(out);
    for (;;) {
      const next = it.next();
      if (next.done === true) {
        expect(next.value).toMatchObject({ objects, auditEntries: audit });
        break;
      }
      if (next.value.type === 'object') objects++;
      else audit++;
    }
    expect(objects).toBe(expected.length);
  });

  it('a modified line fails the final sha256; other damage is caught too', () => {
    const original = readFileSync(out, 'utf8');
    const lines = original.split('\n');
    const write = (name: string, content: string): string => {
      const path = join(root, name);
      writeFileSync(path, content);
      return path;
    };

    // A metadata field no per-line check covers: only the archive's sha256 catches it.
    const i = lines.findIndex((l) => l.includes('"key":"hello"'));
    expect(i).toBeGreaterThan(0);
    const edited = [...lines];
    edited[i] = edited[i]!.replace('"updated_at":' + T0, '"updated_at":' + (T0 + 1));
    expect(edited[i]).not.toBe(lines[i]);
    expect(exportErrorOf(() => readExport(write('edited.jsonl', edited.join('\n'))))).toEqual({
      code: 'checksum_mismatch',
      reason: 'sha256',
    });

    // A value that no longer matches its etag.
    const value = [...lines];
    const hello = Buffer.from('hello, again').toString('base64');
    value[i] = value[i]!.replace(hello, Buffer.from('hello, agaiN').toString('base64'));
    expect(value[i]).not.toBe(lines[i]);
    expect(exportErrorOf(() => readExport(write('value.jsonl', value.join('\n'))))).toEqual({
      code: 'checksum_mismatch',
      reason: 'etag',
    });

    // Truncations and trailing data.
    expect(
      exportErrorOf(() => readExport(write('no-end.jsonl', lines.slice(0, -2).join('\n') + '\n'))),
    ).toEqual({ code: 'malformed_archive', reason: 'truncated' });
    expect(
      exportErrorOf(() => readExport(write('cut.jsonl', original.slice(0, original.length - 10)))),
    ).toEqual({
      code: 'malformed_archive',
      reason: 'truncated',
    });
    expect(exportErrorOf(() => readExport(write('after.jsonl', original + '{"x":1}\n')))).toEqual({
      code: 'malformed_archive',
      reason: 'after_end',
    });
    // A dropped object line: the sha256 no longer matches.
    const dropped = [...lines];
    dropped.splice(i, 1);
    expect(exportErrorOf(() => readExport(write('dropped.jsonl', dropped.join('\n'))))).toEqual({
      code: 'checksum_mismatch',
      reason: 'sha256',
    });
    // The unchanged file still reads.
    expect(readExport(write('copy.jsonl', original)).objects).toBe(expected.length);
  });

  it('a failed export leaves no file and is audited as an error', () => {
    const head = inst.info().auditHead!.seq;
    const nowhere = join(root, 'missing-dir', 'archive.jsonl');
    expect(() => exportInstance(inst, nowhere)).toThrow();
    const [entry] = inst.auditEntries(head + 1, 10);
    expect(entry).toMatchObject({
      actor: DID,
      app: null,
      action: 'instance.export.internal',
      outcome: 'error',
    });
    expect(inst.auditVerify().ok).toBe(true);
  });
});
