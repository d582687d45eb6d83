import type { Statement } from 'better-sqlite3-multiple-ciphers';
import type { Tier } from '../config/tiers.js';
import type { ControlDatabase } from './database.js';

export type AccountState = 'pending' | 'active' | 'failed' | 'deactivated';
export type InstanceMode = 'always-on' | 'sovereign';

/** Where a person's instance lives: the provisioner's Placement, bytes as hex. */
export interface StoredPlacement {
  instanceId: string;
  provisioner: string;
  location: string;
  /** Encoded instance public key, hex. */
  instancePublicKey: string;
  instanceAddress: string;
}

export interface Account {
  did: string;
  address: string;
  tier: Tier;
  mode: InstanceMode;
  quotaBytes: number;
  state: AccountState;
  encryptionKeyHash: string;
  placement: StoredPlacement | null;
  didTxHash: string | null;
  didHeight: number | null;
  failure: string | null;
  createdAt: number;
  updatedAt: number;
}

interface AccountRow {
  did: string;
  address: string;
  tier: Tier;
  mode: InstanceMode;
  quota_bytes: number;
  state: AccountState;
  encryption_key_hash: string;
  placement: string | null;
  did_tx_hash: string | null;
  did_height: number | null;
  failure: string | null;
  created_at: number;
  updated_at: number;
}

function fromRow(row: AccountRow): Account {
  return {
    did: row.did,
    address: row.address,
    tier: row.tier,
    mode: row.mode,
    quotaBytes: row.quota_bytes,
    state: row.state,
    encryptionKeyHash: row.encryption_key_hash,
    placement: row.placement === null ? null : (JSON.parse(row.placement) as StoredPlacement),
    didTxHash: row.did_tx_hash,
    didHeight: row.did_height,
    failure: row.failure,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface NewAccount {
  did: string;
  address: string;
  tier: Tier;
  mode: InstanceMode;
  quotaBytes: number;
  encryptionKeyHash: string;
}

export type Reservation = { ok: true; account: Account; resumed: boolean } | { ok: false; existing: Account };

/** Accounts kept in memory at most; the forwarding path reads an account on every request. */
const CACHE_LIMIT = 100_000;

/**
 * The accounts table. Reads go through an in-memory cache that every write here refreshes, so
 * the hot path (a forwarded request) reads no SQLite; nothing else writes the table.
 */
export class AccountStore {
  private readonly cache = new Map<string, Account>();
  private readonly byDid: Statement<[string], AccountRow>;

  constructor(private readonly db: ControlDatabase) {
    this.byDid = db.prepare('SELECT * FROM accounts WHERE did = ?');
  }

  get(did: string): Account | undefined {
    const cached = this.cache.get(did);
    if (cached) return cached;
    const row = this.byDid.get(did);
    if (!row) return undefined;
    return this.remember(fromRow(row));
  }

  list(): Account[] {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY created_at, did').all() as AccountRow[]).map(
      fromRow,
    );
  }

  /**
   * Claims the DID for a sign-up: a new `pending` row, or a `failed` one taken over to resume
   * (its placement kept). Anything else (pending, active, deactivated) is returned as the conflict.
   * One SQLite transaction, so two concurrent sign-ups of one DID cannot both win.
   */
  reserve(input: NewAccount, now: number): Reservation {
    return this.db.transaction((): Reservation => {
      const row = this.byDid.get(input.did);
      if (!row) {
        this.db
          .prepare(
            `INSERT INTO accounts (did, address, tier, mode, quota_bytes, state, encryption_key_hash,
               created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
          )
          .run(
            input.did,
            input.address,
            input.tier,
            input.mode,
            input.quotaBytes,
            input.encryptionKeyHash,
            now,
            now,
          );
        return { ok: true, account: this.reload(input.did), resumed: false };
      }
      const existing = fromRow(row);
      if (existing.state !== 'failed') return { ok: false, existing };
      // Without a placement nothing was provisioned: the retry may choose again.
      if (existing.placement === null) {
        this.db
          .prepare(
            `UPDATE accounts SET tier = ?, mode = ?, quota_bytes = ?, encryption_key_hash = ?, state = 'pending',
               failure = NULL, updated_at = ? WHERE did = ?`,
          )
          .run(input.tier, input.mode, input.quotaBytes, input.encryptionKeyHash, now, input.did);
      } else {
        this.db
          .prepare(`UPDATE accounts SET state = 'pending', failure = NULL, updated_at = ? WHERE did = ?`)
          .run(now, input.did);
      }
      return { ok: true, account: this.reload(input.did), resumed: true };
    })();
  }

  setPlacement(did: string, placement: StoredPlacement, now: number): Account {
    this.db
      .prepare('UPDATE accounts SET placement = ?, updated_at = ? WHERE did = ?')
      .run(JSON.stringify(placement), now, did);
    return this.reload(did);
  }

  markActive(did: string, tx: { hash: string; height: number }, now: number): Account {
    this.db
      .prepare(
        `UPDATE accounts SET state = 'active', did_tx_hash = ?, did_height = ?, failure = NULL, updated_at = ?
           WHERE did = ?`,
      )
      .run(tx.hash, tx.height, now, did);
    return this.reload(did);
  }

  markFailed(did: string, failure: string, now: number): Account {
    this.db
      .prepare(`UPDATE accounts SET state = 'failed', failure = ?, updated_at = ? WHERE did = ?`)
      .run(failure.slice(0, 500), now, did);
    return this.reload(did);
  }

  markDeactivated(did: string, now: number): Account {
    this.db.prepare(`UPDATE accounts SET state = 'deactivated', updated_at = ? WHERE did = ?`).run(now, did);
    return this.reload(did);
  }

  /**
   * At start-up: sign-ups left `pending` by a previous process did not finish; they become
   * `failed`, which a retry of the same sign-up resumes.
   */
  failInterrupted(now: number): number {
    const result = this.db
      .prepare(
        `UPDATE accounts SET state = 'failed', failure = 'interrupted by a restart', updated_at = ?
           WHERE state = 'pending'`,
      )
      .run(now);
    this.cache.clear();
    return result.changes;
  }

  private reload(did: string): Account {
    const row = this.byDid.get(did);
    if (!row) throw new Error(`account ${did} vanished`);
    return this.remember(fromRow(row));
  }

  private remember(account: Account): Account {
    this.cache.delete(account.did);
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(account.did, account);
    return account;
  }
}
