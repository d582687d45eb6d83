import { randomBytes } from 'node:crypto';
import { addressFromPublicKey, signingKeyFromSeeds, type SigningKey } from '@self/crypto';
import type { InstanceMeta } from './instance-meta.js';
import { InstanceError } from './store/errors.js';

/**
 * The instance key (design §3): a hybrid Ed25519 + ML-DSA-65 signing key the instance generates for
 * itself. The person's did.update delegates it (delegate id `instance`, purposes `anchor` and
 * `node.announce`), so it signs audit anchors and node records for the DID and can never move the
 * person's funds; the fees of what it signs are paid from its own address.
 *
 * Its secret is the two 32-byte seeds (Ed25519 || ML-DSA-65), kept in `instance_meta` inside the
 * encrypted database: it exists only while the instance is unlocked. The public key is kept next
 * to it so that opening the instance never pays for ML-DSA key generation; the signing key is
 * derived on first use.
 */

export const INSTANCE_KEY_SCHEME = 'hybrid-ed25519-ml-dsa-65' as const;
/** The delegate id the person's DID document gives the instance key. */
export const INSTANCE_DELEGATE_ID = 'instance';
export const INSTANCE_DELEGATE_PURPOSES = ['anchor', 'node.announce'] as const;

const SEED_BYTES = 32;
const SECRET_KEY = 'instance_key.seeds';
const PUBLIC_KEY = 'instance_key.public';
const ADDRESS = 'instance_key.address';

export function instanceKeyFromSeeds(seeds: Uint8Array): SigningKey {
  if (seeds.length !== 2 * SEED_BYTES) {
    throw new InstanceError(
      'corrupt',
      'the stored instance key is malformed; restore the instance from a backup',
    );
  }
  return signingKeyFromSeeds({
    ed25519: seeds.subarray(0, SEED_BYTES),
    mldsa65: seeds.subarray(SEED_BYTES),
  });
}

/** The encoded public key and `self1…` address of an instance key. */
export interface InstanceKeyInfo {
  publicKey: Uint8Array;
  address: string;
}

/**
 * The instance key's public half, generating the key first if this instance has none (instances
 * created before instance keys existed get theirs on their first open). Generation and both writes
 * run in one IMMEDIATE transaction that looks again inside it, so two openers cannot make two keys.
 */
export function ensureInstanceKey(meta: InstanceMeta): InstanceKeyInfo {
  const stored = readKeyInfo(meta);
  if (stored !== null) return stored;
  return meta.db
    .transaction(() => {
      const again = readKeyInfo(meta);
      if (again !== null) return again;
      const seeds = new Uint8Array(randomBytes(2 * SEED_BYTES));
      try {
        const { publicKey } = instanceKeyFromSeeds(seeds);
        // The address too, so that an open needs no hashing (a cold start counts milliseconds).
        const address = addressFromPublicKey(publicKey);
        meta.set(SECRET_KEY, seeds);
        meta.set(PUBLIC_KEY, publicKey);
        meta.set(ADDRESS, address);
        return { publicKey, address };
      } finally {
        seeds.fill(0);
      }
    })
    .immediate();
}

function readKeyInfo(meta: InstanceMeta): InstanceKeyInfo | null {
  const publicKey = meta.get(PUBLIC_KEY);
  if (!(publicKey instanceof Uint8Array)) return null;
  const address = meta.get(ADDRESS);
  return { publicKey, address: typeof address === 'string' ? address : addressFromPublicKey(publicKey) };
}

/** The instance signing key from its stored seeds. */
export function loadInstanceKey(meta: InstanceMeta): SigningKey {
  const seeds = meta.get(SECRET_KEY);
  if (!(seeds instanceof Uint8Array)) {
    throw new InstanceError('corrupt', 'the instance key is missing; restore the instance from a backup');
  }
  try {
    return instanceKeyFromSeeds(seeds);
  } finally {
    seeds.fill(0);
  }
}
