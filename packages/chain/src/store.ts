import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { equalBytes, fromUtf8, toHex, utf8 } from '@self/crypto';
import { decode, encode } from './encoding.js';
import type { StateReader } from './state-view.js';
import { RESERVED_META, STORE_SCHEMA_SQL, STORE_SCHEMA_VERSION, StoreError } from './store-schema.js';
import type { Block } from './types.js';

export { StoreError, type StoreErrorReason, STORE_SCHEMA_VERSION } from './store-schema.js';

/** A committed block as stored: encodings exactly as they were written. */
export interface StoredBlock {
  height: number;
  hash: Uint8Array;
  /** Canonical CBOR of the BlockHeader. */
  header: Uint8Array;
  /** Canonical CBOR of the Block. */
  block: Uint8Array;
  /** Canonical CBOR of the block's CommitCertificate. */
  cert: Uint8Array;
}

export interface BlockCommit {
  height: number;
  hash: Uint8Array;
  /** Canonical CBOR of the Block. */
  block: Uint8Array;
  /** Canonical CBOR of the BlockHeader; derived from `block` when omitted (costs a decode). */
  header?: Uint8Array;
  /** Canonical CBOR of the CommitCertificate. */
  cert: Uint8Array;
  /** Transaction hashes in block order. */
  txHashes: readonly Uint8Array[];
  changes: ReadonlyMap<string, Uint8Array | null>;
}

export interface GenesisInit {
  chainId: string;
  genesisHash: Uint8Array;
  /** Genesis state; genesis only creates records, so no value may be null. */
  changes: ReadonlyMap<string, Uint8Array | null>;
}

export interface StoreOptions {
  /**
   * FULL (the default) fsyncs the WAL at every commit, so an acknowledged block survives power loss
   * as well as a killed process. NORMAL survives a killed process only (the WAL sits in the OS cache),
   * which suits simulators and benchmarks that run many nodes on one disk.
   */
  synchronous?: 'FULL' | 'NORMAL';
}

type Row = Record<string, unknown>;

/** better-sqlite3 returns Buffers; hand out plain Uint8Array views so every byte string has one type. */
function bytes(v: unknown): Uint8Array {
  const b = v as Buffer;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function toStoredBlock(row: Row | undefined): StoredBlock | undefined {
  if (row === undefined) return undefined;
  return {
    height: row.height as number,
    hash: bytes(row.hash),
    header: bytes(row.header),
    block: bytes(row.body),
    cert: bytes(row.cert),
  };
}

function isConstraint(err: unknown): boolean {
  return err instanceof Database.SqliteError && err.code.startsWith('SQLITE_CONSTRAINT');
}

function requireBytes(name: string, v: unknown, length?: number): void {
  if (!(v instanceof Uint8Array) || (length !== undefined ? v.length !== length : v.length === 0)) {
    throw new StoreError('invalid_argument', `${name} must be ${length ?? 'non-empty'} bytes`);
  }
}

/** The header's canonical encoding, cut out of an encoded Block. */
function headerOf(block: Uint8Array): Uint8Array {
  let decoded: Partial<Block> | null;
  try {
    decoded = decode(block) as Partial<Block> | null;
  } catch (err) {
    throw new StoreError('invalid_argument', `block does not decode: ${(err as Error).message}`);
  }
  if (typeof decoded !== 'object' || decoded === null || typeof decoded.header !== 'object') {
    throw new StoreError('invalid_argument', 'block is not an encoded Block');
  }
  return encode(decoded.header);
}

const BLOCK_COLUMNS = 'height, hash, header, body, cert';

/** Prepared once per connection: parsing SQL costs more than running these statements. */
function prepare(db: Database.Database) {
  return {
    latest: db.prepare('SELECT MAX(height) FROM blocks').pluck(),
    blockByHeight: db.prepare(`SELECT ${BLOCK_COLUMNS} FROM blocks WHERE height = ?`),
    blockByHash: db.prepare(`SELECT ${BLOCK_COLUMNS} FROM blocks WHERE hash = ?`),
    blocksFrom: db.prepare(`SELECT ${BLOCK_COLUMNS} FROM blocks WHERE height >= ? ORDER BY height LIMIT ?`),
    headerByHeight: db.prepare('SELECT header FROM blocks WHERE height = ?').pluck(),
    certByHeight: db.prepare('SELECT cert FROM blocks WHERE height = ?').pluck(),
    hashExists: db.prepare('SELECT 1 FROM blocks WHERE hash = ?').pluck(),
    insertBlock: db.prepare('INSERT INTO blocks (height, hash, header, body, cert) VALUES (?, ?, ?, ?, ?)'),
    insertTx: db.prepare('INSERT INTO txs (hash, height, idx) VALUES (?, ?, ?)'),
    txLocation: db.prepare('SELECT height, idx FROM txs WHERE hash = ?').raw(),
    getState: db.prepare('SELECT value FROM state WHERE key = ?').pluck(),
    putState: db.prepare(
      'INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    deleteState: db.prepare('DELETE FROM state WHERE key = ?'),
    stateEntries: db.prepare('SELECT key, value FROM state ORDER BY key').raw(),
    stateRange: db
      .prepare('SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key LIMIT ?')
      .raw(),
    stateCount: db.prepare('SELECT COUNT(*) FROM state').pluck(),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
    putMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
  };
}

/**
 * Blocks, certificates, the transaction index and the current state in one SQLite file (WAL mode).
 * Each block commits in one transaction: after a crash the file holds every acknowledged block and
 * its state changes, or none of a block. One writer per file; other connections may read.
 */
export class ChainStore implements StateReader {
  private readonly stmt: ReturnType<typeof prepare>;

  private constructor(private readonly db: Database.Database) {
    this.stmt = prepare(db);
  }

  static open(path: string, opts: StoreOptions = {}): ChainStore {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      // A reader in another connection (a CLI, a backup) may hold a lock briefly; wait instead of failing.
      db.pragma('busy_timeout = 5000');
      db.transaction(() => {
        db.exec(STORE_SCHEMA_SQL);
        const row = db
          .prepare('SELECT value FROM meta WHERE key = ?')
          .pluck()
          .get(RESERVED_META.schemaVersion);
        if (row === undefined) {
          db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(
            RESERVED_META.schemaVersion,
            utf8(String(STORE_SCHEMA_VERSION)),
          );
        } else if (fromUtf8(bytes(row)) !== String(STORE_SCHEMA_VERSION)) {
          throw new StoreError(
            'schema_version',
            `store schema version ${fromUtf8(bytes(row))}, this build reads ${STORE_SCHEMA_VERSION}`,
          );
        }
      }).immediate();
      return new ChainStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  close(): void {
    this.db.close();
  }

  // ---- genesis and meta ----

  chainId(): string | undefined {
    const v = this.getMeta(RESERVED_META.chainId);
    return v === undefined ? undefined : fromUtf8(v);
  }

  genesisHash(): Uint8Array | undefined {
    return this.getMeta(RESERVED_META.genesisHash);
  }

  /**
   * Writes the genesis state (height 0) into a fresh store. Opening an initialised store with the
   * same genesis is a no-op ('existing'); with another genesis it is refused, so a node can never
   * mix two chains in one data directory.
   */
  initGenesis(init: GenesisInit): 'created' | 'existing' {
    requireBytes('genesisHash', init.genesisHash, 32);
    if (init.chainId.length === 0) throw new StoreError('invalid_argument', 'chainId must be non-empty');
    return this.db
      .transaction((): 'created' | 'existing' => {
        const known = this.genesisHash();
        if (known !== undefined) {
          if (equalBytes(known, init.genesisHash)) return 'existing';
          throw new StoreError(
            'wrong_chain',
            `this data directory belongs to chain ${this.chainId() ?? '?'} (genesis ${toHex(known)}), not ${init.chainId} (genesis ${toHex(init.genesisHash)})`,
          );
        }
        if (
          (this.stmt.latest.get() as number | null) !== null ||
          (this.stmt.stateCount.get() as number) > 0
        ) {
          throw new StoreError(
            'wrong_chain',
            'this data directory holds blocks or state but no genesis; refusing to mix chains',
          );
        }
        this.stmt.putMeta.run(RESERVED_META.chainId, utf8(init.chainId));
        this.stmt.putMeta.run(RESERVED_META.genesisHash, init.genesisHash);
        for (const [key, value] of init.changes) {
          if (value === null) throw new StoreError('invalid_argument', `genesis cannot delete ${key}`);
          this.stmt.putState.run(key, value);
        }
        return 'created';
      })
      .immediate();
  }

  getMeta(key: string): Uint8Array | undefined {
    const v = this.stmt.getMeta.get(key);
    return v === undefined ? undefined : bytes(v);
  }

  /** Free-form metadata for other components; the store's own keys (RESERVED_META) are refused. */
  putMeta(key: string, value: Uint8Array): void {
    if ((Object.values(RESERVED_META) as string[]).includes(key)) {
      throw new StoreError('invalid_argument', `meta key ${key} belongs to the store`);
    }
    requireBytes('value', value);
    this.stmt.putMeta.run(key, value);
  }

  // ---- blocks ----

  /**
   * Commits a block for height latestHeight()+1 with its certificate, transaction index and state
   * changes (null deletes), atomically: on any refusal nothing is written.
   */
  commitBlock(c: BlockCommit): void {
    requireBytes('hash', c.hash, 32);
    requireBytes('block', c.block);
    requireBytes('cert', c.cert);
    for (const h of c.txHashes) requireBytes('tx hash', h, 32);
    const header = c.header ?? headerOf(c.block);
    this.db
      .transaction(() => {
        if (this.genesisHash() === undefined) throw new StoreError('no_genesis', 'commit before initGenesis');
        const latest = this.latestHeight();
        if (c.height !== latest + 1) {
          throw new StoreError('bad_height', `block height ${c.height}, expected ${latest + 1}`);
        }
        if (this.stmt.hashExists.get(c.hash) !== undefined) {
          throw new StoreError('duplicate_block', `block ${toHex(c.hash)} is already stored`);
        }
        this.stmt.insertBlock.run(c.height, c.hash, header, c.block, c.cert);
        c.txHashes.forEach((h, i) => {
          try {
            this.stmt.insertTx.run(h, c.height, i);
          } catch (err) {
            if (isConstraint(err))
              throw new StoreError('duplicate_tx', `transaction ${toHex(h)} is already stored`);
            throw err;
          }
        });
        for (const [key, value] of c.changes) {
          if (value === null) this.stmt.deleteState.run(key);
          else this.stmt.putState.run(key, value);
        }
      })
      .immediate();
  }

  /** Height of the last committed block; 0 when only genesis (or nothing) is stored. */
  latestHeight(): number {
    return (this.stmt.latest.get() as number | null) ?? 0;
  }

  blockByHeight(height: number): StoredBlock | undefined {
    return toStoredBlock(this.stmt.blockByHeight.get(height) as Row | undefined);
  }

  blockByHash(hash: Uint8Array): StoredBlock | undefined {
    return toStoredBlock(this.stmt.blockByHash.get(hash) as Row | undefined);
  }

  /** Up to `max` consecutive blocks from `fromHeight`, for peers that sync. */
  blocksFrom(fromHeight: number, max: number): StoredBlock[] {
    return (this.stmt.blocksFrom.all(fromHeight, max) as Row[]).map((r) => toStoredBlock(r)!);
  }

  headerByHeight(height: number): Uint8Array | undefined {
    const v = this.stmt.headerByHeight.get(height);
    return v === undefined ? undefined : bytes(v);
  }

  certByHeight(height: number): Uint8Array | undefined {
    const v = this.stmt.certByHeight.get(height);
    return v === undefined ? undefined : bytes(v);
  }

  txLocation(hash: Uint8Array): { height: number; index: number } | undefined {
    const row = this.stmt.txLocation.get(hash) as [number, number] | undefined;
    return row === undefined ? undefined : { height: row[0], index: row[1] };
  }

  // ---- state ----

  /** StateReader over the committed state. */
  get(key: string): Uint8Array | undefined {
    const v = this.stmt.getState.get(key);
    return v === undefined ? undefined : bytes(v);
  }

  getState(key: string): Uint8Array | undefined {
    return this.get(key);
  }

  stateCount(): number {
    return this.stmt.stateCount.get() as number;
  }

  /** Committed records whose key starts with `prefix`, ordered by key, at most `limit`. */
  stateWithPrefix(prefix: string, limit = 10_000): Array<[string, Uint8Array]> {
    // Keys are ASCII, so every key with the prefix sorts below prefix + U+FFFF.
    const rows = this.stmt.stateRange.all(prefix, `${prefix}\uffff`, limit) as Array<[string, Buffer]>;
    return rows.map((row) => [row[0], bytes(row[1])]);
  }

  /**
   * Every committed record, ordered by key (e.g. to rebuild the state tree at start-up). The
   * connection is busy until the iteration ends: finish it before other calls on this store.
   */
  *stateEntries(): IterableIterator<[string, Uint8Array]> {
    for (const row of this.stmt.stateEntries.iterate() as IterableIterator<[string, Buffer]>) {
      yield [row[0], bytes(row[1])];
    }
  }
}
