import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InstanceError } from '../src/store/index.js';
import { GroupCommit, type BatchRunner } from '../src/server/group-commit.js';
import { TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';
import { thrown } from './fixtures/thrown.js';

const root = mkdtempSync(join(tmpdir(), 'self-group-commit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const person = { kind: 'person', did: TEST_DID } as const;
const stranger = { kind: 'app', did: TEST_DID, appId: 'stranger', scopes: [] } as const;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('GroupCommit over a real instance', () => {
  it('runs requests submitted together in one transaction, each with its own outcome and audit entry', async () => {
    const instance = createTestInstance(testKeys(), { dir: join(root, 'a'), instanceId: 'a' });
    let batches = 0;
    const runner: BatchRunner = {
      batch: (fn) => {
        batches++;
        return instance.batch(fn);
      },
    };
    const group = new GroupCommit(runner);
    const before = instance.auditEntries().length;

    const results = await Promise.allSettled([
      group.submit(() => instance.put(person, 'notes', 'a', bytes('one'))),
      group.submit(() => instance.put(person, 'notes', 'b', bytes('two'))),
      // refused: an app without scopes; audited as denied, the others unaffected
      group.submit(() => instance.get(stranger, 'notes', 'a', { target: 'person' })),
      group.submit(() => instance.get(person, 'notes', 'missing')),
      group.submit(() => instance.put(person, 'notes', 'c', bytes('three'))),
    ]);

    expect(batches).toBe(1);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'forbidden' });
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(InstanceError);
    expect(new TextDecoder().decode(instance.get(person, 'notes', 'c').value)).toBe('three');

    const entries = instance.auditEntries().slice(before);
    // five requests in submission order, then the check above
    expect(entries.map((e) => e.outcome)).toEqual(['ok', 'ok', 'denied', 'error', 'ok', 'ok']);
    expect(instance.auditVerify().ok).toBe(true);
    instance.close();
  });

  it('a single request runs alone, as without grouping', async () => {
    const instance = createTestInstance(testKeys(), { dir: join(root, 'b'), instanceId: 'b' });
    let batches = 0;
    const group = new GroupCommit({
      batch: (fn) => {
        batches++;
        return instance.batch(fn);
      },
    });
    const put = await group.submit(() => instance.put(person, 'notes', 'x', bytes('x')));
    expect(put.version).toBe(1);
    expect(batches).toBe(0);
    instance.close();
  });

  it('rejects every request of a batch whose commit fails, and none of it is stored', async () => {
    const instance = createTestInstance(testKeys(), { dir: join(root, 'c'), instanceId: 'c' });
    const before = instance.auditEntries().length;
    const diskFull = new Error('SQLITE_FULL: database or disk is full');
    const group = new GroupCommit({
      batch: (fn) =>
        instance.batch(() => {
          fn();
          // what a failed commit looks like to the caller: the transaction function throws
          throw diskFull;
        }),
    });
    const results = await Promise.allSettled([
      group.submit(() => instance.put(person, 'notes', 'p', bytes('p'))),
      group.submit(() => instance.put(person, 'notes', 'q', bytes('q'))),
    ]);
    expect(results.map((r) => (r as PromiseRejectedResult).reason)).toEqual([diskFull, diskFull]);
    expect(thrown(InstanceError, () => instance.get(person, 'notes', 'p')).code).toBe('not_found');
    // the read above is the only new entry
    expect(instance.auditEntries().length).toBe(before + 1);
    instance.close();
  });

  it('caps a batch at maxBatch and runs the rest in the next one', async () => {
    const instance = createTestInstance(testKeys(), { dir: join(root, 'd'), instanceId: 'd' });
    const sizes: number[] = [];
    const group = new GroupCommit(
      {
        batch: (fn) => {
          const out = instance.batch(fn);
          sizes.push((out as unknown[]).length);
          return out;
        },
      },
      3,
    );
    await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        group.submit(() => instance.put(person, 'notes', `k${i}`, bytes('v'))),
      ),
    );
    expect(sizes).toEqual([3, 3]);
    expect(instance.list(person, 'notes').items.map((i) => i.key)).toEqual([
      'k0',
      'k1',
      'k2',
      'k3',
      'k4',
      'k5',
      'k6',
    ]);
    instance.close();
  });
});
