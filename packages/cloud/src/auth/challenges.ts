import type { ControlDatabase } from '../db/database.js';
import { newChallenge } from './tokens.js';

export interface IssuedChallenge {
  challenge: string;
  did: string;
  expiresAt: number;
}

/** How often expired challenges are swept, at most. */
const SWEEP_EVERY_MS = 60_000;

/**
 * Sign-in challenges: random, bound to one DID, short-lived and single-use. A challenge is deleted
 * by the first attempt to use it, whether that attempt succeeds or not, so a signature can never
 * be replayed and a wrong guess costs the caller a new challenge.
 */
export class ChallengeStore {
  private lastSweep = 0;

  constructor(
    private readonly db: ControlDatabase,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  issue(did: string): IssuedChallenge {
    const now = this.now();
    if (now - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now;
      this.db.prepare('DELETE FROM challenges WHERE expires_at <= ?').run(now);
    }
    const challenge = newChallenge();
    const expiresAt = now + this.ttlMs;
    this.db
      .prepare('INSERT INTO challenges (challenge, did, expires_at) VALUES (?, ?, ?)')
      .run(challenge, did, expiresAt);
    return { challenge, did, expiresAt };
  }

  /** Removes the challenge and returns what it was issued for; null when unknown or already used. */
  consume(challenge: string): IssuedChallenge | null {
    const row = this.db
      .prepare('DELETE FROM challenges WHERE challenge = ? RETURNING did, expires_at')
      .get(challenge) as { did: string; expires_at: number } | undefined;
    return row ? { challenge, did: row.did, expiresAt: row.expires_at } : null;
  }
}
