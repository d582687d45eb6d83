import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256, utf8 } from '@self/crypto';
import { encode } from '../src/encoding.js';
import { StateTree } from '../src/merkle.js';
import { STORE_SCHEMA_SQL } from '../src/store-schema.js';
import { ChainStore, StoreError, type BlockCommit } from '../src/store.js';
import type { Block, CommitCertificate } from '../src/types.js';

const GENESIS = sha256(utf8('genesis'));
const tmp = mkdtempSync(join(tmpdir(), 'self-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function genesisChanges(): Map<string, Uint8Array | null> {
  return new Map([
    ['account/a', encode({ balance: 1000 })],
    ['account/b', encode({ balance: 0 })],
  ]);
}

/** A realistic commit: an encoded Block and certificate, two tx hashes, a set and a delete. */
function makeCommit(
  height: number,
  changes?: Map<string, Uint8Array | null>,
): BlockCommit & { header: Uint8Array } {
  const block: Block = {
    header: {
      v: 1,
      chain_id: 'self-test',
      height,
      prev_hash: sha256(utf8(`block-${height - 1}`)),
      timestamp: 1_700_000_000_000 + height,
      state_root: sha256(utf8(`state-${height}`)),
      tx_root: sha256(utf8(`txs-${height}`)),
      colour_root: new Uint8Array(32),
      last_commit_hash: new Uint8Array(32),
      proposer: 'self1proposer',
      round: 0,
      efficiency: 1000,
      point_price: 10,
    },
    txs: [utf8(`tx-${height}-0`), utf8(`tx-${height}-1`)],
    colours: [],
    last_commit: null,
  };
  const hash = sha256(utf8(`block-${height}`));
  const cert: CommitCertificate = { height, round: 0, block_hash: hash, votes: [utf8('vote')] };
  return {
    height,
    hash,
    block: encode(block),
    header: encode(block.header),
    cert: encode(cert),
    txHashes: block.txs.map((t) => sha256(t)),
    changes:
      changes ??
      new Map<string, Uint8Array | null>([
        [`account/h${height}`, encode({ height })],
        ['account/b', encode({ balance: height })],
        [`account/h${height - 1}`, null],
      ]),
  };
}

function openFresh(path = ':memory:'): ChainStore {
  const s = ChainStore.open(path);
  s.initGenesis({ chainId: 'self-test', genesisHash: GENESIS, changes: genesisChanges() });
  return s;
}

function snapshot(s: ChainStore): unknown {
  return {
    latest: s.latestHeight(),
    blocks: Array.from({ length: s.latestHeight() }, (_, i) => s.blockByHeight(i + 1)),
    state: [...s.stateEntries()],
  };
}

function expectStoreError(fn: () => unknown, reason: StoreError['reason']): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).reason).toBe(reason);
    return err as StoreError;
  }
  throw new Error(`expected StoreError ${reason}`);
}

describe('ChainStore', () => {
  it('stores genesis at height 0 and refuses another chain in the same directory', () => {
    const s = ChainStore.open(':memory:');
    expect(s.genesisHash()).toBeUndefined();
    expect(s.latestHeight()).toBe(0);
    expect(s.initGenesis({ chainId: 'self-test', genesisHash: GENESIS, changes: genesisChanges() })).toBe(
      'created',
    );
    expect(s.initGenesis({ chainId: 'self-test', genesisHash: GENESIS, changes: genesisChanges() })).toBe(
      'existing',
    );
    const err = expectStoreError(
      () => s.initGenesis({ chainId: 'self-other', genesisHash: sha256(utf8('other')), changes: new Map() }),
      'wrong_chain',
    );
    expect(err.message).toMatch(/this data directory belongs to chain self-test/);
    expect(s.chainId()).toBe('self-test');
    expect(s.genesisHash()).toEqual(GENESIS);
    expect(s.getState('account/a')).toEqual(encode({ balance: 1000 }));
    expect(s.stateCount()).toBe(2);
    s.close();
  });

  it('refuses a commit before genesis', () => {
    const s = ChainStore.open(':memory:');
    expectStoreError(() => s.commitBlock(makeCommit(1)), 'no_genesis');
    expect(s.blockByHeight(1)).toBeUndefined();
    s.close();
  });

  it('round-trips blocks, certificates, the tx index and state byte for byte', () => {
    const s = openFresh();
    const c1 = makeCommit(1);
    s.commitBlock(c1);
    const { header: _h, ...withoutHeader } = makeCommit(2);
    s.commitBlock(withoutHeader); // the store derives the header from the block
    const c2 = makeCommit(2);
    expect(s.latestHeight()).toBe(2);
    for (const c of [c1, c2]) {
      const stored = s.blockByHeight(c.height)!;
      expect(stored).toEqual({
        height: c.height,
        hash: c.hash,
        header: c.header,
        block: c.block,
        cert: c.cert,
      });
      expect(stored.block).toBeInstanceOf(Uint8Array);
      expect(Buffer.isBuffer(stored.block)).toBe(false);
      expect(s.blockByHash(c.hash)).toEqual(stored);
      expect(s.certByHeight(c.height)).toEqual(c.cert);
      expect(s.headerByHeight(c.height)).toEqual(c.header);
      c.txHashes.forEach((h, index) => expect(s.txLocation(h)).toEqual({ height: c.height, index }));
    }
    expect(s.blocksFrom(1, 10).map((b) => b.height)).toEqual([1, 2]);
    expect(s.blocksFrom(2, 1).map((b) => b.height)).toEqual([2]);
    expect(s.blockByHeight(3)).toBeUndefined();
    expect(s.blockByHash(sha256(utf8('nope')))).toBeUndefined();
    expect(s.txLocation(sha256(utf8('nope')))).toBeUndefined();
    expect(s.get('account/h2')).toEqual(encode({ height: 2 }));
    expect(s.get('account/h1')).toBeUndefined(); // deleted by block 2
    expect(s.get('account/b')).toEqual(encode({ balance: 2 }));
    expect(new Map(s.stateEntries())).toEqual(
      new Map([
        ['account/a', encode({ balance: 1000 })],
        ['account/b', encode({ balance: 2 })],
        ['account/h2', encode({ height: 2 })],
      ]),
    );
    s.close();
  });

  it('refuses a wrong height, a duplicate block or a duplicate tx, writing nothing', () => {
    const s = openFresh();
    s.commitBlock(makeCommit(1));
    const before = snapshot(s);
    expectStoreError(() => s.commitBlock(makeCommit(1)), 'bad_height');
    expectStoreError(() => s.commitBlock(makeCommit(3)), 'bad_height');
    expectStoreError(() => s.commitBlock(makeCommit(0)), 'bad_height');
    expectStoreError(() => s.commitBlock({ ...makeCommit(2), hash: makeCommit(1).hash }), 'duplicate_block');
    // Tx index conflicts are found after the block row and some state are written: all must roll back.
    const dupTx = makeCommit(2);
    expectStoreError(
      () => s.commitBlock({ ...dupTx, txHashes: [sha256(utf8('fresh')), makeCommit(1).txHashes[0]!] }),
      'duplicate_tx',
    );
    expectStoreError(
      () => s.commitBlock({ ...dupTx, txHashes: [dupTx.txHashes[0]!, dupTx.txHashes[0]!] }),
      'duplicate_tx',
    );
    expectStoreError(() => s.commitBlock({ ...dupTx, hash: new Uint8Array(31) }), 'invalid_argument');
    const { header: _h, ...noHeader } = dupTx;
    expectStoreError(() => s.commitBlock({ ...noHeader, block: utf8('not cbor') }), 'invalid_argument');
    expectStoreError(() => s.commitBlock({ ...noHeader, block: encode({ txs: [] }) }), 'invalid_argument');
    expect(snapshot(s)).toEqual(before);
    expect(s.txLocation(sha256(utf8('fresh')))).toBeUndefined();
    s.commitBlock(makeCommit(2));
    expect(s.latestHeight()).toBe(2);
    s.close();
  });

  it('keeps meta, and guards the keys it owns', () => {
    const s = openFresh();
    s.putMeta('consensus/last_vote', utf8('x'));
    expect(s.getMeta('consensus/last_vote')).toEqual(utf8('x'));
    expect(s.getMeta('missing')).toBeUndefined();
    expectStoreError(() => s.putMeta('genesis_hash', new Uint8Array(32)), 'invalid_argument');
    expect(s.getMeta('schema_version')).toEqual(utf8('1'));
    s.close();
  });

  it('reopens a file with everything committed, and rebuilds the same state root', () => {
    const path = join(tmp, 'restart', 'chain.sqlite');
    const s = openFresh(path);
    let tree = StateTree.fromEntries(s.stateEntries());
    for (let h = 1; h <= 5; h++) {
      const c = makeCommit(h);
      s.commitBlock(c);
      tree = tree.withChanges(c.changes);
    }
    const before = snapshot(s);
    s.close();
    const again = ChainStore.open(path);
    expect(again.initGenesis({ chainId: 'self-test', genesisHash: GENESIS, changes: genesisChanges() })).toBe(
      'existing',
    );
    expect(snapshot(again)).toEqual(before);
    expect(again.latestHeight()).toBe(5);
    expect(StateTree.fromEntries(again.stateEntries()).root()).toEqual(tree.root());
    again.close();
  });

  it('a second connection sees committed blocks while the first is still open', () => {
    const path = join(tmp, 'second.sqlite');
    const s = openFresh(path);
    s.commitBlock(makeCommit(1));
    const reader = ChainStore.open(path);
    expect(reader.latestHeight()).toBe(1);
    expect(reader.blockByHeight(1)).toEqual(s.blockByHeight(1));
    expect(reader.get('account/h1')).toEqual(encode({ height: 1 }));
    s.commitBlock(makeCommit(2));
    expect(reader.latestHeight()).toBe(2);
    reader.close();
    s.close();
  });

  it('acknowledged commits survive a killed process', async () => {
    const path = join(tmp, 'killed.sqlite');
    const child = join(tmp, 'child.mts');
    const storeUrl = pathToFileURL(fileURLToPath(new URL('../src/store.ts', import.meta.url))).href;
    writeFileSync(
      child,
      `import { ChainStore } from ${JSON.stringify(storeUrl)};
const s = ChainStore.open(${JSON.stringify(path)});
s.initGenesis({ chainId: 'self-test', genesisHash: new Uint8Array(32).fill(7), changes: new Map([['k', new Uint8Array([1])]]) });
const block = new Uint8Array([0xa0]);
for (let h = 1; h <= 3; h++) {
  s.commitBlock({ height: h, hash: new Uint8Array(32).fill(h), block, header: block, cert: block, txHashes: [new Uint8Array(32).fill(100 + h)], changes: new Map([['k', new Uint8Array([h])]]) });
}
process.stdout.write('committed\\n');
setInterval(() => {}, 1000); // stay alive, connection open, until killed
`,
    );
    const proc = spawn(process.execPath, ['--import', 'tsx', child], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('committed')) resolve();
      });
      proc.on('exit', (code) => reject(new Error(`child exited ${code}: ${err}`)));
    });
    proc.kill('SIGKILL');
    await new Promise((resolve) => proc.on('exit', resolve));
    const s = ChainStore.open(path);
    expect(s.latestHeight()).toBe(3);
    expect(s.get('k')).toEqual(new Uint8Array([3]));
    expect(s.txLocation(new Uint8Array(32).fill(103))).toEqual({ height: 3, index: 0 });
    s.close();
  });

  it('refuses a data directory written by another schema version', () => {
    const path = join(tmp, 'future.sqlite');
    ChainStore.open(path).close();
    const raw = new Database(path);
    raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(utf8('99'));
    raw.close();
    expectStoreError(() => ChainStore.open(path), 'schema_version');
  });

  it('docs/protocol/state.md shows the schema exactly as the code creates it', () => {
    const doc = readFileSync(
      fileURLToPath(new URL('../../../docs/protocol/state.md', import.meta.url)),
      'utf8',
    );
    expect(doc).toContain('```sql\n' + STORE_SCHEMA_SQL + '\n```');
  });
});
