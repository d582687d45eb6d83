import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3-multiple-ciphers';
import { sameHash, tokenHash } from '../auth/tokens.js';
import type { RateClass } from '../config/tiers.js';
import type { ControlDatabase } from '../db/database.js';
import type { ChainApp } from './chain-app.js';

export type ClientType = 'public' | 'confidential';

/** An OAuth client: an app registered on chain by a developer of this cloud. */
export interface RegisteredApp {
  /** The chain's app id (`app_` + 32 hex), which is also the OAuth client_id. */
  appId: string;
  developerId: string;
  /** `did:self:<owner>`: the developer, whose account key signed the registration. */
  ownerDid: string;
  clientType: ClientType;
  name: string;
  /** '' when the app has no logo. */
  logoUri: string;
  redirectUris: string[];
  scopes: string[];
  active: boolean;
  rateClass: RateClass;
  /** The chain height of the last registration or update the cloud mirrors. */
  height: number;
}

/** What the developer routes show besides: where on chain, and when. */
export interface StoredApp extends RegisteredApp {
  txHash: string;
  createdAt: number;
  updatedAt: number;
}

/** Client secrets of confidential clients: `self_cs_` + base64url of 32 random bytes. */
export const CLIENT_SECRET_PREFIX = 'self_cs_';
const CLIENT_SECRET_RE = /^self_cs_[A-Za-z0-9_-]{43}$/;
export const newClientSecret = (): string => CLIENT_SECRET_PREFIX + randomBytes(32).toString('base64url');

interface AppRow {
  app_id: string;
  developer_id: string;
  owner_did: string;
  client_type: ClientType;
  secret_hash: Buffer | null;
  name: string;
  logo_uri: string;
  redirect_uris: string;
  scopes: string;
  active: number;
  rate_class: RateClass;
  tx_hash: string;
  height: number;
  created_at: number;
  updated_at: number;
}

const SELECT = `SELECT a.*, d.did AS owner_did FROM apps a JOIN developers d ON d.id = a.developer_id`;

const fromRow = (r: AppRow): StoredApp => ({
  appId: r.app_id,
  developerId: r.developer_id,
  ownerDid: r.owner_did,
  clientType: r.client_type,
  name: r.name,
  logoUri: r.logo_uri,
  redirectUris: JSON.parse(r.redirect_uris) as string[],
  scopes: JSON.parse(r.scopes) as string[],
  active: r.active === 1,
  rateClass: r.rate_class,
  height: r.height,
  txHash: r.tx_hash,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** A hash to compare against when there is none, so unknown clients cost what known ones do. */
const NO_SECRET = tokenHash('');

/**
 * The OAuth clients of developers' apps. The chain is the record of name, owner, redirect URIs,
 * scopes and logo; rows mirror the last registration or update the cloud relayed and saw commit,
 * so the authorization server reads them without asking a node.
 */
export class AppStore {
  private readonly byId: Statement<[string], AppRow>;

  constructor(
    private readonly db: ControlDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.byId = db.prepare(`${SELECT} WHERE a.app_id = ?`);
  }

  get(appId: string): StoredApp | undefined {
    const row = this.byId.get(appId);
    return row && fromRow(row);
  }

  /** True only for a confidential client's current secret (compared in constant time). */
  verifySecret(appId: string, secret: string): boolean {
    const stored = this.byId.get(appId)?.secret_hash ?? null;
    const presented = tokenHash(secret);
    const match = sameHash(stored ?? NO_SECRET, presented);
    return stored !== null && CLIENT_SECRET_RE.test(secret) && match;
  }

  /** The developer's apps, newest first. */
  list(developerId: string): StoredApp[] {
    const rows = this.db
      .prepare(`${SELECT} WHERE a.developer_id = ? ORDER BY a.created_at DESC, a.app_id`)
      .all(developerId) as AppRow[];
    return rows.map(fromRow);
  }

  /**
   * Records an app the chain just committed. Null when a row exists already (a concurrent relay
   * of the same registration won). A confidential client's secret is returned here only.
   */
  insert(input: {
    app: ChainApp;
    developerId: string;
    clientType: ClientType;
    txHash: string;
  }): { app: StoredApp; secret: string | null } | null {
    const secret = input.clientType === 'confidential' ? newClientSecret() : null;
    const now = this.now();
    const { app } = input;
    const inserted = this.db
      .prepare(
        `INSERT INTO apps (app_id, developer_id, client_type, secret_hash, name, logo_uri, redirect_uris,
                           scopes, active, tx_hash, height, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id) DO NOTHING`,
      )
      .run(
        app.app_id,
        input.developerId,
        input.clientType,
        secret === null ? null : tokenHash(secret),
        app.name,
        app.logo_uri,
        JSON.stringify(app.redirect_uris),
        JSON.stringify(app.scopes),
        app.active ? 1 : 0,
        input.txHash,
        app.updated_height,
        now,
        now,
      );
    if (inserted.changes === 0) return null;
    return { app: this.get(app.app_id)!, secret };
  }

  /** Mirrors a committed update. A row never moves back to an older height. */
  update(app: ChainApp, txHash: string): StoredApp | undefined {
    this.db
      .prepare(
        `UPDATE apps SET name = ?, logo_uri = ?, redirect_uris = ?, scopes = ?, active = ?, tx_hash = ?,
                         height = ?, updated_at = ?
          WHERE app_id = ? AND height <= ?`,
      )
      .run(
        app.name,
        app.logo_uri,
        JSON.stringify(app.redirect_uris),
        JSON.stringify(app.scopes),
        app.active ? 1 : 0,
        txHash,
        app.updated_height,
        this.now(),
        app.app_id,
        app.updated_height,
      );
    return this.get(app.app_id);
  }

  /** A new secret for a confidential client; the old one stops working at once. */
  rotateSecret(appId: string): string | null {
    const secret = newClientSecret();
    const changed = this.db
      .prepare(
        `UPDATE apps SET secret_hash = ?, updated_at = ? WHERE app_id = ? AND client_type = 'confidential'`,
      )
      .run(tokenHash(secret), this.now(), appId);
    return changed.changes === 0 ? null : secret;
  }
}
