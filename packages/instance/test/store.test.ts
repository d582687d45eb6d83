import { createHash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { INLINE_MAX } from '../src/store/blob-files.js';
import { appNamespace, type Namespace } from '../src/store/names.js';
import type { InstanceStore } from '../src/store/store.js';
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

const opened: InstanceStore[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

function fresh(
  name: string,
  opts: Parameters<typeof openStore>[2] = {},
): { store: InstanceStore; dir: string } {
  const dir = tmpDir(root, name);
  const store = openStore(dir, newDataKey(), opts);
  opened.push(store);
  return { store, dir };
}

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('InstanceStore: objects', () => {
  it('round-trips small and blob-sized values byte for byte, with versions and etags', () => {
    const { store, dir } = fresh('roundtrip');
    const sizes = [0, 1, 100, INLINE_MAX, INLINE_MAX + 1, 3 * INLINE_MAX + 17];
    for (const size of sizes) {
      const value = pattern(size, size);
      const put = store.put('person', 'files', `v-${size}`, value, { contentType: 'application/x-test' });
      expect(put).toEqual({ version: 1, etag: sha256Hex(value), size });
      const got = store.get('person', 'files', `v-${size}`);
      expect(got).not.toBeNull();
      assertSameBytes(got?.value, value);
      expect(got).toMatchObject({
        contentType: 'application/x-test',
        version: 1,
        etag: sha256Hex(value),
        size,
      });
    }
    // Exactly the values over INLINE_MAX live in blob files.
    expect(blobFiles(dir)).toHaveLength(2);
    expect(blobFiles(dir).every((f) => /^[0-9a-f]{32}$/.test(f))).toBe(true);
    expect(store.get('person', 'files', 'missing')).toBeNull();
    expect(store.usage()).toEqual({
      bytes: sizes.reduce((a, b) => a + b, 0),
      quotaBytes: 1 << 30,
      objects: sizes.length,
    });
  });

  it('counts versions across overwrites, defaults the content type and keeps updatedAt from the clock', () => {
    let clock = 1_000;
    const { store } = fresh('versions', { now: () => clock });
    expect(store.put('person', 'notes', 'n', text('one')).version).toBe(1);
    clock = 2_000;
    const second = store.put('person', 'notes', 'n', text('two'));
    expect(second).toEqual({ version: 2, etag: sha256Hex(text('two')), size: 3 });
    expect(store.get('person', 'notes', 'n')).toMatchObject({
      contentType: 'application/octet-stream',
      version: 2,
      updatedAt: 2_000,
    });
    // Same bytes, same etag: etags name content.
    expect(store.put('person', 'notes', 'n', text('two')).etag).toBe(second.etag);
    expect(store.get('person', 'notes', 'n')!.version).toBe(3);
    expect(store.usage()).toMatchObject({ bytes: 3, objects: 1 });
  });

  it('ifMatch: writes only over the etag the writer read, else conflict and nothing changes', () => {
    const { store } = fresh('ifmatch');
    const first = store.put('person', 'notes', 'n', text('first'));
    const second = store.put('person', 'notes', 'n', text('second'), { ifMatch: first.etag });
    expect(second.version).toBe(2);

    const stale = instanceErrorOf(() =>
      store.put('person', 'notes', 'n', text('lost'), { ifMatch: first.etag }),
    );
    expect(stale.code).toBe('conflict');
    expect(stale.details).toEqual({ ifMatch: first.etag, current: second.etag });
    expect(store.get('person', 'notes', 'n')).toMatchObject({ value: text('second'), version: 2 });

    // ifMatch on an object that does not exist never creates it.
    expect(codeOf(() => store.put('person', 'notes', 'new', text('x'), { ifMatch: first.etag }))).toBe(
      'conflict',
    );
    expect(store.get('person', 'notes', 'new')).toBeNull();
    expect(store.usage()).toMatchObject({ bytes: 6, objects: 1 });
  });

  it('delete removes the row and its blob file and gives back its bytes', () => {
    const { store, dir } = fresh('delete');
    store.put('person', 'files', 'small', text('abc'));
    store.put('person', 'files', 'big', pattern(1, INLINE_MAX + 10));
    expect(blobFiles(dir)).toHaveLength(1);
    expect(store.delete('person', 'files', 'big')).toBe(true);
    expect(blobFiles(dir)).toEqual([]);
    expect(store.delete('person', 'files', 'big')).toBe(false);
    expect(store.get('person', 'files', 'big')).toBeNull();
    expect(store.usage()).toMatchObject({ bytes: 3, objects: 1 });
    expect(store.delete('person', 'files', 'small')).toBe(true);
    expect(store.usage()).toMatchObject({ bytes: 0, objects: 0 });
    // A re-created object starts a new history.
    expect(store.put('person', 'files', 'small', text('abc')).version).toBe(1);
  });

  it('overwrites move values between the row and blob files, leaving exactly one file per large value', () => {
    const { store, dir } = fresh('overwrite');
    store.put('person', 'files', 'f', pattern(1, INLINE_MAX + 1));
    const firstFile = blobFiles(dir);
    store.put('person', 'files', 'f', pattern(2, INLINE_MAX + 2));
    expect(blobFiles(dir)).toHaveLength(1);
    expect(blobFiles(dir)).not.toEqual(firstFile);
    assertSameBytes(store.get('person', 'files', 'f')?.value, pattern(2, INLINE_MAX + 2));
    store.put('person', 'files', 'f', text('small now'));
    expect(blobFiles(dir)).toEqual([]);
    expect(store.get('person', 'files', 'f')!.value).toEqual(text('small now'));
    store.put('person', 'files', 'f', pattern(3, 2 * INLINE_MAX));
    expect(blobFiles(dir)).toHaveLength(1);
    assertSameBytes(store.get('person', 'files', 'f')?.value, pattern(3, 2 * INLINE_MAX));
    expect(store.usage()).toMatchObject({ bytes: 2 * INLINE_MAX, objects: 1 });
  });

  it('commits that orphan a blob file run with synchronous = FULL, all others with NORMAL', () => {
    const seen: number[] = [];
    // The clock is read inside the write transaction: a window onto the level each commit uses.
    const holder: { store?: InstanceStore } = {};
    const { store } = fresh('sync-levels', {
      now: () => {
        seen.push(holder.store!.database.pragma('synchronous', { simple: true }) as number);
        return 1;
      },
    });
    holder.store = store;
    store.put('person', 'files', 'a', text('small')); // new, inline
    store.put('person', 'files', 'a', pattern(1, INLINE_MAX + 1)); // inline → blob
    store.put('person', 'files', 'a', pattern(2, INLINE_MAX + 1)); // blob → blob: orphans a file
    store.put('person', 'files', 'a', text('small')); // blob → inline: orphans a file
    store.put('person', 'files', 'b', pattern(3, INLINE_MAX + 1)); // new blob
    expect(seen).toEqual([1, 1, 2, 2, 1]);
    store.delete('person', 'files', 'b');
    expect(store.database.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('collections() counts objects and bytes per collection of one namespace', () => {
    const { store } = fresh('collections');
    store.put('person', 'notes', 'a', text('12345'));
    store.put('person', 'notes', 'b', text('123'));
    store.put('person', 'recipes', 'x', pattern(1, INLINE_MAX + 1));
    store.put('app:todo', 'notes', 'a', text('1'));
    expect(store.collections('person')).toEqual([
      { name: 'notes', objects: 2, bytes: 8 },
      { name: 'recipes', objects: 1, bytes: INLINE_MAX + 1 },
    ]);
    expect(store.collections('app:todo')).toEqual([{ name: 'notes', objects: 1, bytes: 1 }]);
    expect(store.collections('app:other')).toEqual([]);
  });

  it("joins a caller's transaction on its connection: commits or rolls back with it", () => {
    const dir = tmpDir(root, 'nested');
    const key = newDataKey();
    const store = openStore(dir, key);
    store.put('person', 'files', 'f', pattern(1, INLINE_MAX + 1));
    const usage = store.usage();
    const db = store.database;
    db.exec('CREATE TABLE side (x INTEGER NOT NULL) STRICT');
    const addSide = db.prepare('INSERT INTO side (x) VALUES (?)');

    expect(() =>
      db.transaction(() => {
        store.put('person', 'files', 'f', pattern(2, INLINE_MAX + 1));
        store.put('person', 'notes', 'n', text('x'));
        addSide.run(1);
        throw new Error('abort');
      })(),
    ).toThrow('abort');
    assertSameBytes(store.get('person', 'files', 'f')?.value, pattern(1, INLINE_MAX + 1));
    expect(store.get('person', 'notes', 'n')).toBeNull();
    expect(store.usage()).toEqual(usage);
    expect(db.prepare('SELECT count(*) FROM side').pluck().get()).toBe(0);

    db.transaction(() => {
      store.put('person', 'files', 'f', pattern(3, INLINE_MAX + 1));
      addSide.run(2);
    })();
    assertSameBytes(store.get('person', 'files', 'f')?.value, pattern(3, INLINE_MAX + 1));
    expect(db.prepare('SELECT x FROM side').pluck().all()).toEqual([2]);
    // Files the caller's transaction orphaned (rolled back, or replaced) wait for the next open.
    expect(blobFiles(dir)).toHaveLength(3);
    store.close();
    const again = openStore(dir, key);
    opened.push(again);
    expect(blobFiles(dir)).toHaveLength(1);
    assertSameBytes(again.get('person', 'files', 'f')?.value, pattern(3, INLINE_MAX + 1));
    expect(codeOf(() => store.database)).toBe('closed');
  });

  it('a closed store refuses every call with closed', () => {
    const dir = tmpDir(root, 'closed');
    const store = openStore(dir, newDataKey());
    store.close();
    store.close(); // idempotent
    expect(codeOf(() => store.get('person', 'notes', 'a'))).toBe('closed');
    expect(codeOf(() => store.put('person', 'notes', 'a', text('x')))).toBe('closed');
    expect(codeOf(() => store.usage())).toBe('closed');
  });
});

describe('InstanceStore: listing', () => {
  // 250 keys, including ones whose UTF-8 byte order differs from JavaScript's UTF-16 order
  // ('\uff61' sorts after '😀' in UTF-16, before it in UTF-8).
  const keys = [
    ...Array.from({ length: 240 }, (_, i) => `k-${String(i).padStart(3, '0')}`),
    'k-\uff61',
    'k-😀',
    'k-é',
    'k-z',
    'k-~',
    'k- space inside',
    'l-after',
    'j-before',
    'k',
    'kk',
  ];
  const sorted = [...keys].sort(byUtf8);

  function filled(name: string): InstanceStore {
    const { store } = fresh(name);
    for (const [i, k] of keys.entries()) store.put('person', 'notes', k, pattern(i, i % 50));
    return store;
  }

  it('pages through 250 keys: every key exactly once, in UTF-8 byte order', () => {
    const store = filled('list');
    for (const limit of [1, 7, 37, 100, 249, 250, 1000]) {
      const all = listAll(store, 'person', 'notes', undefined, limit);
      expect(all.map((o) => o.key)).toEqual(sorted);
    }
    const page = store.list('person', 'notes');
    expect(page.items).toHaveLength(100); // default limit
    expect(page.cursor).not.toBeNull();
    const item = page.items.find((o) => o.key === 'k-007')!;
    const value = pattern(keys.indexOf('k-007'), keys.indexOf('k-007') % 50);
    expect(item).toMatchObject({ size: value.length, etag: sha256Hex(value), version: 1 });
    expect(item.contentType).toBe('application/octet-stream');
    // A page of exactly the remaining keys ends the listing.
    expect(store.list('person', 'notes', { limit: 250 }).cursor).toBeNull();
    // Limits above the maximum are capped; others are refused.
    expect(store.list('person', 'notes', { limit: 5000 }).items).toHaveLength(250);
    expect(codeOf(() => store.list('person', 'notes', { limit: 0 }))).toBe('invalid_argument');
    expect(codeOf(() => store.list('person', 'notes', { limit: 1.5 }))).toBe('invalid_argument');
  });

  it('filters by prefix, with and without cursors', () => {
    const store = filled('prefix');
    const expectPrefix = (prefix: string): void => {
      const want = sorted.filter((k) => k.startsWith(prefix));
      expect(listAll(store, 'person', 'notes', prefix, 9).map((o) => o.key)).toEqual(want);
      expect(listAll(store, 'person', 'notes', prefix).map((o) => o.key)).toEqual(want);
    };
    for (const prefix of ['k-1', 'k-', 'k', 'k-0', 'k-23', 'k-😀', 'k-\uff61', 'k- ', 'nothing', 'l', 'j']) {
      expectPrefix(prefix);
    }
    expect(listAll(store, 'person', 'notes', 'k-1').length).toBe(100);
  });

  it('a cursor is stable under writes: it resumes strictly after the last key it returned', () => {
    const store = filled('cursor');
    const first = store.list('person', 'notes', { limit: 10 });
    const last = first.items.at(-1)!.key;
    store.put('person', 'notes', 'a-new-lower-key', text('x'));
    store.put('person', 'notes', 'zz-new-higher-key', text('x'));
    store.delete('person', 'notes', last);
    const rest = listAll(store, 'person', 'notes', undefined, 50);
    const seen = [...first.items.map((o) => o.key)];
    let cursor = first.cursor!;
    for (;;) {
      const page = store.list('person', 'notes', { cursor, limit: 50 });
      seen.push(...page.items.map((o) => o.key));
      if (page.cursor === null) break;
      cursor = page.cursor;
    }
    expect(seen).not.toContain('a-new-lower-key');
    expect(seen).toContain('zz-new-higher-key');
    expect(new Set(seen).size).toBe(seen.length);
    expect(rest.map((o) => o.key)).toContain('a-new-lower-key');
  });

  it('refuses cursors it did not make', () => {
    const store = filled('badcursor');
    for (const cursor of ['', '!!', 'a+b/', 'AA', Buffer.from(' lead').toString('base64url'), 'YQ=']) {
      expect(codeOf(() => store.list('person', 'notes', { cursor }))).toBe('invalid_argument');
    }
  });
});

describe('InstanceStore: namespaces', () => {
  it("isolates namespaces: an app's list never sees the person's objects or another app's, and vice versa", () => {
    const { store } = fresh('namespaces');
    const spaces: Namespace[] = ['person', appNamespace('x'), appNamespace('y'), 'app:x.y'];
    for (const ns of spaces) {
      for (let i = 0; i < 30; i++) store.put(ns, 'notes', `shared-${i}`, text(`${ns}/${i}`));
      store.put(ns, 'notes', `only-${ns}`, text(ns));
    }
    for (const ns of spaces) {
      const items = listAll(store, ns, 'notes', undefined, 7);
      expect(items.map((o) => o.key).sort(byUtf8)).toEqual(
        [...Array.from({ length: 30 }, (_, i) => `shared-${i}`), `only-${ns}`].sort(byUtf8),
      );
      expect(store.get(ns, 'notes', 'shared-3')!.value).toEqual(text(`${ns}/3`));
      for (const other of spaces.filter((o) => o !== ns))
        expect(store.get(ns, 'notes', `only-${other}`)).toBeNull();
      expect(store.collections(ns)).toEqual([{ name: 'notes', objects: 31, bytes: expect.any(Number) }]);
    }
    expect(store.delete('app:x', 'notes', 'shared-0')).toBe(true);
    expect(store.get('person', 'notes', 'shared-0')!.value).toEqual(text('person/0'));
    expect(store.get('app:y', 'notes', 'shared-0')!.value).toEqual(text('app:y/0'));
  });

  it('binds a blob to its namespace: the same key in two namespaces holds two files', () => {
    const { store, dir } = fresh('ns-blobs');
    store.put('person', 'files', 'photo', pattern(1, INLINE_MAX + 1));
    store.put('app:x', 'files', 'photo', pattern(2, INLINE_MAX + 1));
    expect(blobFiles(dir)).toHaveLength(2);
    assertSameBytes(store.get('person', 'files', 'photo')?.value, pattern(1, INLINE_MAX + 1));
    assertSameBytes(store.get('app:x', 'files', 'photo')?.value, pattern(2, INLINE_MAX + 1));
  });
});

describe('InstanceStore: names and keys', () => {
  it('accepts the standard and custom collections, and path-like keys as plain keys', () => {
    const { store, dir } = fresh('names-ok');
    for (const c of [
      'notes',
      'contacts',
      'files',
      'chat',
      'memory',
      'recipes',
      'a',
      'a-b_c9',
      'x'.repeat(32),
    ]) {
      store.put('person', c, 'k', text(c));
    }
    const pathKeys = [
      '../x',
      'a/../../b',
      '/etc/passwd',
      '..',
      'C:\\Windows\\x',
      'é'.repeat(256),
      'a b',
      '😀',
    ];
    for (const k of pathKeys) store.put('person', 'files', k, pattern(k.length, INLINE_MAX + 1));
    for (const k of pathKeys)
      assertSameBytes(store.get('person', 'files', k)?.value, pattern(k.length, INLINE_MAX + 1));
    // Blob files are named by random ids, whatever the key: nothing lands outside blobs/.
    expect(blobFiles(dir)).toHaveLength(pathKeys.length);
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['blobs', 'instance.db']));
    expect(readdirSync(dir).filter((f) => !f.startsWith('instance.db') && f !== 'blobs')).toEqual([]);
  });

  it('refuses bad namespaces, collections and keys with the right code, and writes nothing', () => {
    const { store, dir } = fresh('names-bad');
    store.put('person', 'notes', 'existing', text('x'));
    const before = store.usage();
    const v = pattern(1, INLINE_MAX + 1); // blob-sized, so a leak would show as a file

    const badNamespaces = [
      '',
      'Person',
      'people',
      'app:',
      'app:X',
      'app:-x',
      'apps:x',
      `app:${'a'.repeat(129)}`,
      'app:a/b',
      'app:a b',
    ];
    for (const ns of badNamespaces) {
      const err = instanceErrorOf(() => store.put(ns as Namespace, 'notes', 'k', v));
      expect(err.code).toBe('invalid_name');
      expect(err.details).toEqual({ namespace: ns });
      expect(codeOf(() => store.list(ns as Namespace, 'notes'))).toBe('invalid_name');
      expect(codeOf(() => store.collections(ns as Namespace))).toBe('invalid_name');
    }
    const badCollections = [
      '',
      'Notes',
      '1abc',
      '_x',
      '-x',
      'x'.repeat(33),
      'a b',
      'a/b',
      '../x',
      'a.b',
      'é',
    ];
    for (const c of badCollections) {
      const err = instanceErrorOf(() => store.put('person', c, 'k', v));
      expect(err.code).toBe('invalid_name');
      expect(err.details).toEqual({ collection: c });
      expect(codeOf(() => store.get('person', c, 'k'))).toBe('invalid_name');
      expect(codeOf(() => store.list('person', c))).toBe('invalid_name');
      expect(codeOf(() => store.delete('person', c, 'k'))).toBe('invalid_name');
    }
    const badKeys: Array<[string, string]> = [
      ['', 'empty'],
      ['a'.repeat(513), 'too_long'],
      ['é'.repeat(257), 'too_long'], // 514 bytes in 257 characters
      ['a\u0000b', 'control_character'],
      ['a\nb', 'control_character'],
      ['tab\there', 'control_character'],
      ['\u007f', 'control_character'],
      ['\u001f', 'control_character'],
      ['\ud800', 'unpaired_surrogate'],
      ['a\udc00b', 'unpaired_surrogate'],
      [' lead', 'edge_whitespace'],
      ['trail ', 'edge_whitespace'],
      ['\u00a0nbsp', 'edge_whitespace'],
    ];
    for (const [k, problem] of badKeys) {
      const err = instanceErrorOf(() => store.put('person', 'notes', k, v));
      expect(err.code).toBe('invalid_key');
      expect(err.details).toMatchObject({ problem });
      expect(codeOf(() => store.get('person', 'notes', k))).toBe('invalid_key');
      expect(codeOf(() => store.delete('person', 'notes', k))).toBe('invalid_key');
    }
    expect(codeOf(() => store.put('person', 'notes', 42 as unknown as string, v))).toBe('invalid_key');
    expect(codeOf(() => store.list('person', 'notes', { prefix: 'a\u0000' }))).toBe('invalid_key');
    expect(codeOf(() => store.list('person', 'notes', { prefix: 'a'.repeat(513) }))).toBe('invalid_key');
    expect(codeOf(() => store.put('person', 'notes', 'k', 'text' as unknown as Uint8Array))).toBe(
      'invalid_argument',
    );
    expect(codeOf(() => store.put('person', 'notes', 'k', v, { contentType: 'not a type' }))).toBe(
      'invalid_argument',
    );
    expect(codeOf(() => store.put('person', 'notes', 'k', v, { contentType: 'text/plain\r\nX: y' }))).toBe(
      'invalid_argument',
    );

    expect(store.usage()).toEqual(before);
    expect(blobFiles(dir)).toEqual([]);
    expect(listAll(store, 'person', 'notes').map((o) => o.key)).toEqual(['existing']);
    expect(store.collections('person')).toEqual([{ name: 'notes', objects: 1, bytes: 1 }]);
  });

  it('keeps content types that are media types', () => {
    const { store } = fresh('ctype');
    store.put('person', 'notes', 'a', text('x'), { contentType: 'text/markdown; charset=utf-8' });
    expect(store.get('person', 'notes', 'a')!.contentType).toBe('text/markdown; charset=utf-8');
    expect(store.list('person', 'notes').items[0]!.contentType).toBe('text/markdown; charset=utf-8');
  });
});

describe('InstanceStore: quota and limits', () => {
  it('a write over quota throws quota_exceeded, changes no usage and leaves no blob file', () => {
    const { store, dir } = fresh('quota', { quotaBytes: 200_000 });
    store.put('person', 'files', 'a', pattern(1, 150_000));
    const before = store.usage();
    const filesBefore = blobFiles(dir);
    expect(before).toEqual({ bytes: 150_000, quotaBytes: 200_000, objects: 1 });

    const err = instanceErrorOf(() => store.put('person', 'files', 'b', pattern(2, 100_000)));
    expect(err.code).toBe('quota_exceeded');
    expect(err.details).toEqual({ used: 150_000, quota: 200_000, needed: 100_000 });
    // Small (inline) values are held to the same quota.
    expect(instanceErrorOf(() => store.put('person', 'notes', 'c', pattern(3, 50_001))).details).toEqual({
      used: 150_000,
      quota: 200_000,
      needed: 50_001,
    });
    expect(store.usage()).toEqual(before);
    expect(blobFiles(dir)).toEqual(filesBefore);
    expect(store.get('person', 'files', 'b')).toBeNull();
    expect(store.get('person', 'notes', 'c')).toBeNull();
    // Exactly up to the quota is fine.
    store.put('person', 'notes', 'c', pattern(3, 50_000));
    expect(store.usage()).toEqual({ bytes: 200_000, quotaBytes: 200_000, objects: 2 });
    expect(codeOf(() => store.put('person', 'notes', 'd', new Uint8Array(1)))).toBe('quota_exceeded');
    // An empty value needs nothing.
    store.put('person', 'notes', 'd', new Uint8Array(0));
  });

  it('an overwrite counts only the difference; shrinking is allowed even at the quota', () => {
    const { store, dir } = fresh('quota-overwrite', { quotaBytes: 200_000 });
    store.put('person', 'files', 'x', pattern(1, 150_000));
    store.put('person', 'files', 'x', pattern(2, 190_000)); // needs 40 000
    expect(store.usage()).toMatchObject({ bytes: 190_000, objects: 1 });
    const files = blobFiles(dir);
    const err = instanceErrorOf(() => store.put('person', 'files', 'x', pattern(3, 210_000)));
    expect(err.code).toBe('quota_exceeded');
    expect(err.details).toEqual({ used: 190_000, quota: 200_000, needed: 20_000 });
    expect(blobFiles(dir)).toEqual(files);
    assertSameBytes(store.get('person', 'files', 'x')?.value, pattern(2, 190_000));
    expect(store.get('person', 'files', 'x')!.version).toBe(2);
    store.put('person', 'files', 'x', pattern(4, 200_000));
    store.put('person', 'files', 'x', text('tiny'));
    expect(store.usage()).toMatchObject({ bytes: 4, objects: 1 });
    expect(blobFiles(dir)).toEqual([]);
  });

  it('a lowered quota still lets the person shrink and delete', () => {
    const dir = tmpDir(root, 'quota-lowered');
    const key = newDataKey();
    const big = openStore(dir, key, { quotaBytes: 1_000_000 });
    big.put('person', 'files', 'x', pattern(1, 500_000));
    big.put('person', 'files', 'y', pattern(2, 500_000));
    big.close();
    const small = openStore(dir, key, { quotaBytes: 100_000 });
    opened.push(small);
    expect(small.usage()).toEqual({ bytes: 1_000_000, quotaBytes: 100_000, objects: 2 });
    expect(codeOf(() => small.put('person', 'files', 'z', new Uint8Array(1)))).toBe('quota_exceeded');
    small.put('person', 'files', 'x', pattern(3, 400_000));
    expect(small.delete('person', 'files', 'y')).toBe(true);
    expect(small.usage()).toMatchObject({ bytes: 400_000, objects: 1 });
  });

  it('values over maxValueBytes are refused with too_large', () => {
    const { store, dir } = fresh('too-large', { maxValueBytes: INLINE_MAX * 2 });
    store.put('person', 'files', 'ok', pattern(1, INLINE_MAX * 2));
    const err = instanceErrorOf(() => store.put('person', 'files', 'big', pattern(2, INLINE_MAX * 2 + 1)));
    expect(err.code).toBe('too_large');
    expect(err.details).toEqual({ size: INLINE_MAX * 2 + 1, max: INLINE_MAX * 2 });
    expect(store.get('person', 'files', 'big')).toBeNull();
    expect(blobFiles(dir)).toHaveLength(1);
  });

  it('a transaction that fails after its blob file was written removes the file and writes no row', () => {
    let failClock = false;
    const { store, dir } = fresh('rollback', {
      now: () => {
        if (failClock) throw new Error('clock failure');
        return 1;
      },
    });
    store.put('person', 'files', 'kept', pattern(1, INLINE_MAX + 1));
    const files = blobFiles(dir);
    const usage = store.usage();
    failClock = true;
    expect(() => store.put('person', 'files', 'new', pattern(2, INLINE_MAX + 1))).toThrow('clock failure');
    expect(() => store.put('person', 'files', 'kept', pattern(3, INLINE_MAX + 1))).toThrow('clock failure');
    failClock = false;
    expect(blobFiles(dir)).toEqual(files);
    expect(store.usage()).toEqual(usage);
    expect(store.get('person', 'files', 'new')).toBeNull();
    assertSameBytes(store.get('person', 'files', 'kept')?.value, pattern(1, INLINE_MAX + 1));
  });

  it('refuses bad options at open', () => {
    const dir = tmpDir(root, 'bad-open');
    expect(codeOf(() => openStore(dir, newDataKey(), { quotaBytes: -1 }))).toBe('invalid_argument');
    expect(codeOf(() => openStore(dir, newDataKey(), { maxValueBytes: 0 }))).toBe('invalid_argument');
    expect(codeOf(() => openStore(dir, new Uint8Array(16)))).toBe('bad_key');
  });
});
