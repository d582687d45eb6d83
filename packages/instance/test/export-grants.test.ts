import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, toHex } from '@self/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportError, exportInstance, readExport } from '../src/export.js';
import type { GrantExportJson } from '../src/grants/export-record.js';
import type { Instance } from '../src/instance.js';
import { tempRoot } from './fixtures/ai-helpers.js';
import { grantApp, testAppId } from './fixtures/app-tokens.js';
import { T0, TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';

/** Grants in the export archive (format version 3): written whole, checked on reading, v2 still read. */

const { root, remove } = tempRoot('self-export-grants-');
const enc = (s: string) => new TextEncoder().encode(s);
let inst: Instance;
let lines: string[];
let ids: string[];

const write = (name: string, body: string[]): string => {
  const path = join(root, name);
  writeFileSync(path, body.map((l) => `${l}\n`).join(''));
  return path;
};
/** Every line but the end line, with an end line whose sha256 is recomputed over them. */
const resealed = (body: string[], end: Record<string, unknown>): string[] => {
  const digest = toHex(sha256(enc(body.map((l) => `${l}\n`).join(''))));
  return [...body, JSON.stringify({ ...end, sha256: digest })];
};
function reasonOf(fn: () => unknown): { code: string; reason: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ExportError) return { code: err.code, reason: err.details.reason };
    throw err;
  }
  throw new Error('expected an ExportError');
}

beforeAll(() => {
  let clock = T0;
  inst = createTestInstance(testKeys(), { dir: join(root, 'inst'), instanceId: 'grants', now: () => clock });
  const a = grantApp(inst, { app: testAppId('a'), scopes: ['storage:read', 'profile:read'] }, clock);
  clock += 1000;
  const b = grantApp(inst, { app: testAppId('b'), scopes: ['ai:chat'] }, clock);
  clock += 1000;
  inst.grants().revoke(a.id, 'person');
  inst.grants().noteUse(b.id);
  ids = [a.id, b.id];
  const out = join(root, 'archive.jsonl');
  expect(exportInstance(inst, out, { now: () => clock }).grants).toBe(2);
  lines = readFileSync(out, 'utf8').split('\n').slice(0, -1);
});
afterAll(() => {
  inst.close();
  remove();
});

describe('grants in the export', () => {
  it('writes every grant, revoked ones included, with the signed consent, and reads them back', () => {
    const grants: GrantExportJson[] = [];
    const summary = readExport(write('copy.jsonl', lines), { onGrant: (g) => grants.push(g) });
    expect(summary.header.v).toBe(3);
    expect(summary.grants).toBe(2);
    expect(grants.map((g) => g.id)).toEqual(ids);
    expect(grants[0]).toMatchObject({
      app_id: testAppId('a'),
      scopes: ['profile:read', 'storage:read'],
      revoked_by: 'person',
      revoked_at: T0 + 2000,
      created_at: T0,
    });
    expect(grants[1]).toMatchObject({ app_id: testAppId('b'), revoked_at: null, uses: 1 });
    // The grant lines come after the assistant's and before the end line, which counts them.
    expect(Object.keys(JSON.parse(lines.at(-3)!))).toEqual(['grant']);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ grants: 2 });
    const stored = inst.grants().get(ids[0]!)!;
    expect(Buffer.from(grants[0]!.signature, 'base64url')).toEqual(Buffer.from(stored.signature));
  });

  it('refuses a grant whose consent the person did not sign, even resealed', () => {
    const body = lines.slice(0, -1);
    const end = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    const at = body.findIndex((l) => l.startsWith('{"grant"'));
    const edited = JSON.parse(body[at]!) as { grant: GrantExportJson };
    edited.grant.scopes = [...edited.grant.scopes, 'storage:write'];
    const copy = [...body];
    copy[at] = JSON.stringify(edited);
    expect(reasonOf(() => readExport(write('edited.jsonl', resealed(copy, end))))).toEqual({
      code: 'checksum_mismatch',
      reason: 'grant_signature',
    });
  });

  it('refuses malformed, repeated and misplaced grant lines', () => {
    const body = lines.slice(0, -1);
    const end = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    const at = body.findIndex((l) => l.startsWith('{"grant"'));
    const malformed = [...body];
    malformed[at] = JSON.stringify({ grant: { ...JSON.parse(body[at]!).grant, uses: -1 } });
    expect(reasonOf(() => readExport(write('bad.jsonl', resealed(malformed, end)))).reason).toBe('grant');
    const twice = [...body, body[at]!];
    expect(
      reasonOf(() => readExport(write('twice.jsonl', resealed(twice, { ...end, grants: 3 })))).reason,
    ).toBe('order');
    const early = [body[0]!, body[at]!, ...body.slice(1, at), ...body.slice(at + 1)];
    expect(reasonOf(() => readExport(write('early.jsonl', resealed(early, end)))).reason).toBe('order');
    expect(
      reasonOf(() => readExport(write('count.jsonl', resealed(body, { ...end, grants: 1 })))).reason,
    ).toBe('counts');
  });

  it('still reads version 2 (no grants), and refuses grant lines in it', () => {
    const body = lines.slice(0, -1);
    const { grants: _grants, ...endV2 } = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    const header = body[0]!.replace('"v":3', '"v":2');
    const v2 = [header, ...body.slice(1).filter((l) => !l.startsWith('{"grant"'))];
    const summary = readExport(write('v2.jsonl', resealed(v2, endV2)));
    expect(summary).toMatchObject({ header: { v: 2, did: TEST_DID }, grants: 0 });
    expect(
      reasonOf(() => readExport(write('v2-grants.jsonl', resealed([header, ...body.slice(1)], endV2))))
        .reason,
    ).toBe('version');
  });
});
