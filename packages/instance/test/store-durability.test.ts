import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex } from '@self/crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { INLINE_MAX } from '../src/store/blob-files.js';
import {
  assertSameBytes,
  blobFiles,
  listAll,
  makeRoot,
  newDataKey,
  openStore,
  tmpDir,
} from './fixtures/store-helpers.js';
import { killWriterCounter, killWriterKey, killWriterValue } from './fixtures/store-kill-values.js';

const root = makeRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const WRITER = fileURLToPath(new URL('./fixtures/store-kill-writer.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ACKS_BEFORE_KILL = 200;

/** Runs the writer until it has acknowledged `acks` steps, kills it with SIGKILL; returns the last ack seen. */
async function writeThenKill(dir: string, dataKey: Uint8Array, acks: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, toHex(dataKey)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let buffered = '';
  let lastAck = 0;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const m = /^ack (\d+)$/.exec(line);
        if (m) lastAck = Number(m[1]);
      }
      if (lastAck >= acks) {
        // Kill while it is still writing: acks read after this point are not counted.
        child.kill('SIGKILL');
        resolve();
      }
    });
    void exited.then((how) =>
      reject(new Error(`writer exited (${String(how)}) after ${lastAck} acks: ${stderr}`)),
    );
  });
  expect(await exited).toBe('SIGKILL');
  return lastAck;
}

describe('InstanceStore durability', () => {
  it('every acknowledged put survives kill -9 of the writing process', async () => {
    const dir = tmpDir(root, 'kill');
    const dataKey = newDataKey();
    const lastAck = await writeThenKill(dir, dataKey, ACKS_BEFORE_KILL);
    expect(lastAck).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);

    const store = openStore(dir, dataKey);
    try {
      // Every acknowledged key is present and reads back byte for byte.
      for (let n = 1; n <= lastAck; n++) {
        const got = store.get('person', 'notes', killWriterKey(n));
        expect(got, killWriterKey(n)).not.toBeNull();
        assertSameBytes(got!.value, killWriterValue(n));
      }
      // The overwritten blob-backed object holds the last acknowledged version or a later one.
      const counter = store.get('person', 'notes', 'counter')!;
      const n = new DataView(counter.value.buffer, counter.value.byteOffset).getUint32(0);
      expect(n).toBeGreaterThanOrEqual(Math.floor(lastAck / 10) * 10);
      assertSameBytes(counter.value, killWriterCounter(n));

      // Writes the writer made but never acknowledged are whole or absent, and the bookkeeping
      // agrees with what is there: counters, one blob file per large value, no temporary files.
      const all = listAll(store, 'person', 'notes', undefined, 1000);
      for (const item of all) {
        if (item.key === 'counter') continue;
        const step = Number(item.key.slice(2));
        assertSameBytes(store.get('person', 'notes', item.key)?.value, killWriterValue(step));
      }
      expect(all.length - 1).toBeGreaterThanOrEqual(lastAck);
      expect(store.usage()).toMatchObject({
        objects: all.length,
        bytes: all.reduce((sum, o) => sum + o.size, 0),
      });
      expect(blobFiles(dir)).toHaveLength(all.filter((o) => o.size > INLINE_MAX).length);
      expect(readdirSync(join(dir, 'blobs')).filter((f) => f.endsWith('.tmp'))).toEqual([]);

      // And the store takes writes again.
      store.put('person', 'notes', 'after-restart', new Uint8Array([1, 2, 3]));
      expect(store.get('person', 'notes', 'after-restart')!.value).toEqual(new Uint8Array([1, 2, 3]));
    } finally {
      store.close();
    }
  });
});
