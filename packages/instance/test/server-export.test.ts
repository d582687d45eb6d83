import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readExport, type ExportedObject } from '../src/export.js';
import { createInstanceServer } from '../src/server/index.js';
import { appAccess, testAppId, testIssuer } from './fixtures/app-tokens.js';
import { TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'self-server-export-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PERSON = { 'x-self-actor': 'person', 'x-self-did': TEST_DID };

describe('GET /v1/export', () => {
  const dir = join(root, 'inst');
  const instance = createTestInstance(testKeys(), { dir, instanceId: 'export-route' });
  const issuer = testIssuer();
  const server = createInstanceServer(instance, { exportDir: dir, appTokens: null });
  afterAll(async () => {
    await server.close();
    instance.close();
  });

  it('sends the person a whole archive that the reference reader accepts, and leaves no file behind', async () => {
    const value = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251); // a blob file
    await server.inject({ method: 'PUT', url: '/v1/data/notes/a', headers: PERSON, payload: 'first' });
    await server.inject({
      method: 'PUT',
      url: '/v1/data/files/big',
      headers: { ...PERSON, 'content-type': 'application/octet-stream' },
      payload: Buffer.from(value),
    });
    const before = readdirSync(dir).sort();

    const res = await server.inject({ method: 'GET', url: '/v1/export', headers: PERSON });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    const copy = join(root, 'received.jsonl');
    writeFileSync(copy, res.rawPayload);
    const objects: ExportedObject[] = [];
    const summary = readExport(copy, { onObject: (o) => objects.push(o) });
    expect(summary.objects).toBe(2);
    expect(objects.map((o) => `${o.collection}/${o.key}`).sort()).toEqual(['files/big', 'notes/a']);
    expect(objects.find((o) => o.key === 'big')!.value).toEqual(value);
    expect(readdirSync(dir).sort()).toEqual(before);
    // The export itself is audited, after the snapshot it wrote.
    expect(instance.auditEntries().at(-1)).toMatchObject({ action: 'instance.export', outcome: 'ok' });
  });

  it('is the person’s alone: an app is refused and nothing is written', async () => {
    const headers = await appAccess(await issuer, instance, testAppId('nosy'), ['storage:read']);
    const withTokens = createInstanceServer(instance, { exportDir: dir, appTokens: (await issuer).config });
    const before = instance.auditEntries().length;
    const res = await withTokens.inject({ method: 'GET', url: '/v1/export', headers });
    await withTokens.close();
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: 'forbidden', details: { scope: 'export' } });
    expect(instance.auditEntries().length).toBe(before);
  });
});
