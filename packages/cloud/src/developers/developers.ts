import { randomBytes } from 'node:crypto';
import type { ControlDatabase } from '../db/database.js';
import { ApiKeyStore, type ApiKeyInfo } from './api-keys.js';

/** A developer account: a SELF person (their DID) who registers apps. */
export interface Developer {
  /** `dev_` + base64url of 16 random bytes. */
  id: string;
  did: string;
  email: string;
  project: string;
  createdAt: number;
}

interface DeveloperRow {
  id: string;
  did: string;
  email: string;
  project: string;
  created_at: number;
}

const fromRow = (r: DeveloperRow): Developer => ({
  id: r.id,
  did: r.did,
  email: r.email,
  project: r.project,
  createdAt: r.created_at,
});

export const newDeveloperId = (): string => `dev_${randomBytes(16).toString('base64url')}`;

export class DeveloperStore {
  readonly keys: ApiKeyStore;

  constructor(
    private readonly db: ControlDatabase,
    private readonly now: () => number = Date.now,
  ) {
    this.keys = new ApiKeyStore(db, now);
  }

  /**
   * Registers `did` as a developer with a first API key, in one transaction; null when the DID is
   * a developer already (one account per person, so keys and apps never split between two).
   */
  register(input: {
    did: string;
    email: string;
    project: string;
  }): { developer: Developer; apiKey: string; key: ApiKeyInfo } | null {
    return this.db.transaction(() => {
      const developer: Developer = { id: newDeveloperId(), ...input, createdAt: this.now() };
      const inserted = this.db
        .prepare(
          `INSERT INTO developers (id, did, email, project, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (did) DO NOTHING`,
        )
        .run(developer.id, developer.did, developer.email, developer.project, developer.createdAt);
      if (inserted.changes === 0) return null;
      const { key, info } = this.keys.create(developer.id);
      return { developer, apiKey: key, key: info };
    })();
  }

  byId(id: string): Developer | undefined {
    const row = this.db.prepare('SELECT * FROM developers WHERE id = ?').get(id) as DeveloperRow | undefined;
    return row && fromRow(row);
  }

  byDid(did: string): Developer | undefined {
    const row = this.db.prepare('SELECT * FROM developers WHERE did = ?').get(did) as
      DeveloperRow | undefined;
    return row && fromRow(row);
  }
}
