import {
  accountKeysFromPhrase,
  identityFromPhrase,
  newRecoveryPhrase,
  type AccountKeys,
  type DeviceIdentity,
} from '@self/crypto';
import { encodeSignedTransaction, signTransaction, type Transaction } from '@self/chain';
import type { Tier } from '../config/tiers.js';
import type { ControlDatabase } from '../db/database.js';
import type { SignupChain, SignupResult, SignupService } from '../signup/signup.js';

/** A synthetic person a developer's test harness drives (testnet only). */
export interface TestUser {
  did: string;
  developerId: string;
  tier: Tier;
  createdAt: number;
}

interface TestUserRow {
  did: string;
  developer_id: string;
  tier: Tier;
  recovery_phrase: string;
  created_at: number;
}

const fromRow = (r: TestUserRow): TestUser => ({
  did: r.did,
  developerId: r.developer_id,
  tier: r.tier,
  createdAt: r.created_at,
});

/**
 * Test users of each developer. Their recovery phrases are kept because the cloud acts as their
 * device (it signs their consents); they are fixtures on a testnet, never people.
 */
export class TestUserStore {
  constructor(
    private readonly db: ControlDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  add(input: { did: string; developerId: string; tier: Tier; recoveryPhrase: string }): TestUser {
    const createdAt = this.now();
    this.db
      .prepare(
        'INSERT INTO test_users (did, developer_id, tier, recovery_phrase, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(input.did, input.developerId, input.tier, input.recoveryPhrase, createdAt);
    return { did: input.did, developerId: input.developerId, tier: input.tier, createdAt };
  }

  /** The developer's test users, newest first. */
  list(developerId: string): TestUser[] {
    const rows = this.db
      .prepare('SELECT * FROM test_users WHERE developer_id = ? ORDER BY created_at DESC, did')
      .all(developerId) as TestUserRow[];
    return rows.map(fromRow);
  }

  count(developerId: string): number {
    const row = this.db
      .prepare('SELECT count(*) AS n FROM test_users WHERE developer_id = ?')
      .get(developerId) as { n: number };
    return row.n;
  }

  /** Whether `did` is a test user (of any developer): the cloud marks them wherever it shows them. */
  isTestUser(did: string): boolean {
    return this.db.prepare('SELECT 1 FROM test_users WHERE did = ?').get(did) !== undefined;
  }

  /**
   * The account key of a test user, for signing as their device would; null unless `did` is a
   * test user of that developer (a developer drives only their own fixtures).
   */
  signingKeyOf(did: string, developerId: string): AccountKeys | null {
    const row = this.db
      .prepare('SELECT recovery_phrase FROM test_users WHERE did = ? AND developer_id = ?')
      .get(did, developerId) as { recovery_phrase: string } | undefined;
    return row ? accountKeysFromPhrase(row.recovery_phrase) : null;
  }
}

/** The first transaction of a new identity, as the CLI's sign-up signs it (device/did.ts). */
function signedDidCreate(identity: DeviceIdentity, chain: SignupChain): Uint8Array {
  const tx: Transaction<'did.create'> = {
    v: 1,
    chain_id: chain.chainId,
    kind: 'did.create',
    nonce: 1,
    point_price: chain.pointPrice,
    body: {
      document: {
        root_key: identity.rootPublicKey,
        encryption_key: identity.encryptionPublicKey,
        delegates: [],
        services: [],
      },
    },
  };
  return encodeSignedTransaction(signTransaction(tx, identity.account));
}

/**
 * Makes a test user the way a device signs up: a new recovery phrase, the keys from it, a signed
 * did.create, then the ordinary sign-up (DID on chain, instance, session). Nothing is delegated to
 * the instance, so it does not anchor; the row is written only once the sign-up succeeded.
 */
export async function createTestUser(
  deps: { signup: SignupService; chain: SignupChain; store: TestUserStore },
  developerId: string,
  tier: Tier,
): Promise<{ user: TestUser; signup: SignupResult }> {
  const recoveryPhrase = newRecoveryPhrase();
  const identity = identityFromPhrase(recoveryPhrase);
  const signup = await deps.signup.signup({
    tier,
    mode: 'always-on',
    transaction: signedDidCreate(identity, deps.chain),
  });
  const user = deps.store.add({ did: identity.did, developerId, tier, recoveryPhrase });
  return { user, signup };
}
