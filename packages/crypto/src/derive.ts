import { utf8 } from './bytes.js';
import { CryptoError } from './errors.js';
import { hkdfSha512 } from './hash.js';

/** HKDF salt for every key derived from the BIP39 seed. Pinned in docs/protocol/crypto.md. */
export const DERIVATION_SALT = 'self-key-derivation-v1';

/** HKDF info labels and output lengths. Changing any of these changes every person's keys. */
export const DERIVATION_LABELS = {
  accountEd25519: { info: 'self/account/ed25519/v1', length: 32 },
  accountMlDsa65: { info: 'self/account/ml-dsa-65/v1', length: 32 },
  rootEd25519: { info: 'self/identity-root/ed25519/v1', length: 32 },
  rootSlhDsaSha2128s: { info: 'self/identity-root/slh-dsa-sha2-128s/v1', length: 48 },
  encryptionX25519: { info: 'self/encryption/x25519/v1', length: 32 },
  encryptionMlKem768: { info: 'self/encryption/ml-kem-768/v1', length: 64 },
} as const;
export type DerivationLabel = keyof typeof DERIVATION_LABELS;

/** HKDF-SHA-512(ikm = BIP39 seed, salt = DERIVATION_SALT, info = label). */
export function deriveSeed(bip39Seed: Uint8Array, label: DerivationLabel): Uint8Array {
  if (bip39Seed.length !== 64) throw new CryptoError('bad_key', 'BIP39 seed must be 64 bytes');
  const { info, length } = DERIVATION_LABELS[label];
  return hkdfSha512(bip39Seed, utf8(DERIVATION_SALT), utf8(info), length);
}
