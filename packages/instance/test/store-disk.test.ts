import {
  copyFileSync,
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { toHex } from '@self/crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { INLINE_MAX } from '../src/store/blob-files.js';
import { openInstanceDatabase } from '../src/store/database.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { DB_FILE } from '../src/store/store.js';
import {
  assertSameBytes,
  blobFiles,
  codeOf,
  instanceErrorOf,
  listAll,
  makeRoot,
  newDataKey,
  openStore,
  pattern,
  tmpDir,
} from './fixtures/store-helpers.js';

const root = makeRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const PAGE_BYTES = 4096; // SQLCipher 4 (legacy = 4)

/** Every file under `dir`, recursively, with its bytes. */
function filesUnder(dir: string): Array<[string, Buffer]> {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => [path, readFileSync(path)]);
}

describe('InstanceStore on disk', () => {
  it('reopening with the right key sees everything: values, versions, etags, usage', () => {
    const dir = tmpDir(root, 'reopen');
    const key = newDataKey();
    const store = openStore(dir, key);
    const written = new Map<string, Uint8Array>();
    for (let i = 0; i < 60; i++) {
      const value = pattern(i, i % 10 === 0 ? INLINE_MAX + i : i * 37);
      store.put('person', 'files', `f-${i}`, value, { contentType: 'application/x-test' });
      written.set(`f-${i}`, value);
    }
    store.put('person', 'files', 'f-1', pattern(1000, 10)); // version 2
    written.set('f-1', pattern(1000, 10));
    store.put('app:x', 'notes', 'n', text('app data'));
    const usage = store.usage();
    const list = listAll(store, 'person', 'files');
    store.close();

    const again = openStore(dir, key);
    try {
      expect(again.usage()).toEqual(usage);
      expect(listAll(again, 'person', 'files')).toEqual(list);
      for (const [k, v] of written) assertSameBytes(again.get('person', 'files', k)?.value, v);
      expect(again.get('person', 'files', 'f-1')!.version).toBe(2);
      expect(again.get('app:x', 'notes', 'n')!.value).toEqual(text('app data'));
    } finally {
      again.close();
    }
  });

  it('the wrong key is bad_key, the error never shows a key, and the right key still opens', () => {
    const dir = tmpDir(root, 'wrong-key');
    const key = newDataKey();
    const store = openStore(dir, key);
    store.put('person', 'notes', 'a', text('x'));
    store.close();
    const wrong = newDataKey();
    const err = instanceErrorOf(() => openStore(dir, wrong));
    expect(err.code).toBe('bad_key');
    const shown = `${err.message} ${JSON.stringify(err.details)} ${String(err.stack)}`;
    for (const k of [key, wrong]) {
      expect(shown).not.toContain(toHex(k));
      expect(shown).not.toContain(Buffer.from(k).toString('base64'));
    }
    const again = openStore(dir, key);
    expect(again.get('person', 'notes', 'a')!.value).toEqual(text('x'));
    again.close();
  });

  it('keeps no plaintext on disk: not in the database, its WAL, or blob files', () => {
    const dir = tmpDir(root, 'plaintext');
    const store = openStore(dir, newDataKey());
    const canary = 'CANARY-7f3a9c-plaintext-must-not-appear';
    const small = text(`${canary} small value`);
    const large = new Uint8Array(INLINE_MAX * 2);
    for (let i = 0; i + canary.length <= large.length; i += canary.length + 1) large.set(text(canary), i);
    store.put('person', 'notes', `key-${canary}`, small, { contentType: 'text/x-canary-type' });
    store.put('person', 'files', 'big', large);
    store.put('app:canary-app', 'secret-collection-canary', 'k', text('x'));

    const needles = [canary, 'key-CANARY', 'text/x-canary-type', 'canary-app', 'secret-collection-canary'];
    const check = (): void => {
      const files = filesUnder(dir);
      expect(files.length).toBeGreaterThan(0);
      for (const [path, bytes] of files) {
        if (path.endsWith('-shm')) continue; // the WAL index: page numbers and checksums only
        for (const needle of needles) expect(bytes.includes(needle), `${needle} in ${path}`).toBe(false);
      }
    };
    expect(existsSync(join(dir, `${DB_FILE}-wal`))).toBe(true);
    check(); // while the writes still sit in the WAL
    store.close(); // checkpoints the WAL into the database file
    check();
    // Not an SQLite file anybody can read: the header is SQLCipher's random salt.
    expect(readFileSync(join(dir, DB_FILE)).subarray(0, 16).toString('latin1')).not.toBe('SQLite format 3\0');
  });

  it('a flipped byte inside a database page fails its SQLCipher HMAC: reading it is corrupt', () => {
    const dir = tmpDir(root, 'flip-page');
    const key = newDataKey();
    const store = openStore(dir, key);
    const keys = Array.from({ length: 300 }, (_, i) => `n-${String(i).padStart(3, '0')}`);
    for (const [i, k] of keys.entries()) store.put('person', 'notes', k, pattern(i, 3000));
    store.close();

    const path = join(dir, DB_FILE);
    const bytes = readFileSync(path);
    const pages = bytes.length / PAGE_BYTES;
    expect(pages).toBeGreaterThan(200);
    const page = Math.floor(pages / 2);
    bytes[page * PAGE_BYTES + PAGE_BYTES / 2]! ^= 0x01;
    writeFileSync(path, bytes);

    const codes: string[] = [];
    let readable = 0;
    try {
      const damaged = openStore(dir, key);
      try {
        for (const [i, k] of keys.entries()) {
          try {
            assertSameBytes(damaged.get('person', 'notes', k)?.value, pattern(i, 3000));
            readable++;
          } catch (err) {
            codes.push((err as { code?: string }).code ?? String(err));
          }
        }
        try {
          listAll(damaged, 'person', 'notes');
        } catch (err) {
          codes.push((err as { code?: string }).code ?? String(err));
        }
      } finally {
        damaged.close();
      }
    } catch (err) {
      codes.push((err as { code?: string }).code ?? String(err));
    }
    // The damage is found and reported as corrupt; values on intact pages still read back.
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set(['corrupt']));
    expect(readable).toBeGreaterThan(0);
  });

  it('a tampered, truncated, swapped or missing blob file is corrupt', () => {
    const dir = tmpDir(root, 'blob-tamper');
    const store = openStore(dir, newDataKey());
    const blobs = join(dir, 'blobs');
    const filesBefore = (): Set<string> => new Set(blobFiles(dir));
    const newFile = (before: Set<string>): string => blobFiles(dir).find((f) => !before.has(f))!;

    let before = filesBefore();
    store.put('person', 'files', 'a', pattern(1, INLINE_MAX + 1));
    const fileA = newFile(before);
    before = filesBefore();
    store.put('person', 'files', 'b', pattern(2, INLINE_MAX + 1));
    const fileB = newFile(before);
    before = filesBefore();
    store.put('person', 'files', 'c', pattern(3, INLINE_MAX + 1));
    const fileC = newFile(before);
    before = filesBefore();
    store.put('person', 'files', 'd', pattern(4, INLINE_MAX + 1));
    const fileD = newFile(before);
    const originalA = readFileSync(join(blobs, fileA));

    // One flipped bit in the middle.
    const flipped = Buffer.from(originalA);
    flipped[flipped.length >> 1]! ^= 0x80;
    writeFileSync(join(blobs, fileA), flipped);
    const err = instanceErrorOf(() => store.get('person', 'files', 'a'));
    expect(err.code).toBe('corrupt');
    expect(err.details).toEqual({ blobId: fileA });

    // Truncated.
    writeFileSync(join(blobs, fileA), originalA.subarray(0, originalA.length - 1));
    expect(codeOf(() => store.get('person', 'files', 'a'))).toBe('corrupt');
    writeFileSync(join(blobs, fileA), originalA);
    assertSameBytes(store.get('person', 'files', 'a')?.value, pattern(1, INLINE_MAX + 1));

    // Another object's blob, intact, under this object's file name.
    copyFileSync(join(blobs, fileC), join(blobs, fileB));
    expect(codeOf(() => store.get('person', 'files', 'b'))).toBe('corrupt');
    // c itself still reads.
    assertSameBytes(store.get('person', 'files', 'c')?.value, pattern(3, INLINE_MAX + 1));

    // Missing.
    rmSync(join(blobs, fileD));
    expect(instanceErrorOf(() => store.get('person', 'files', 'd')).details).toEqual({ blobId: fileD });
    store.close();
  });

  it('sweeps what a crash leaves in blobs/: temporary files and unreferenced blobs, nothing else', () => {
    const dir = tmpDir(root, 'sweep');
    const key = newDataKey();
    const store = openStore(dir, key);
    store.put('person', 'files', 'kept', pattern(1, INLINE_MAX + 1));
    const kept = blobFiles(dir);
    store.close();
    const blobs = join(dir, 'blobs');
    const orphan = 'ab'.repeat(16);
    writeFileSync(join(blobs, orphan), 'written before a commit that never happened');
    writeFileSync(join(blobs, `${'cd'.repeat(16)}.tmp`), 'cut short');
    writeFileSync(join(blobs, 'README'), 'not ours to remove');
    const again = openStore(dir, key);
    expect(blobFiles(dir)).toEqual([...kept, 'README'].sort());
    assertSameBytes(again.get('person', 'files', 'kept')?.value, pattern(1, INLINE_MAX + 1));
    again.close();
  });

  it('creates the database at the current schema version and refuses one from a newer build', () => {
    const dir = tmpDir(root, 'schema');
    const key = newDataKey();
    openStore(dir, key).close();
    const db = openInstanceDatabase(join(dir, DB_FILE), key);
    expect(db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get()).toBe(
      SCHEMA_VERSION,
    );
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('cache_size', { simple: true })).toBe(-65536);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(SCHEMA_VERSION + 1);
    db.close();
    const err = instanceErrorOf(() => openStore(dir, key));
    expect(err.code).toBe('unsupported_version');
    expect(err.details).toEqual({ schemaVersion: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION });
  });
});
