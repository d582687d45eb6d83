import { addressFromPublicKey, didFromAddress } from './address.js';
import { deriveSeed } from './derive.js';
import { recoveryPhraseToSeed } from './mnemonic.js';
import { signingKeyFromSeeds, type SigningKey } from './signature.js';

export interface AccountKeys {
  /** Signs chain transactions. Hybrid Ed25519 + ML-DSA-65 unless `ed25519` was asked for. */
  account: SigningKey;
  address: string;
  did: string;
}

/** The account key from a BIP39 seed (64 bytes), with the pinned HKDF labels. */
export function accountKeysFromSeed(
  bip39Seed: Uint8Array,
  scheme: 'hybrid-ed25519-ml-dsa-65' | 'ed25519' = 'hybrid-ed25519-ml-dsa-65',
): AccountKeys {
  const account = signingKeyFromSeeds({
    ed25519: deriveSeed(bip39Seed, 'accountEd25519'),
    ...(scheme === 'hybrid-ed25519-ml-dsa-65' ? { mldsa65: deriveSeed(bip39Seed, 'accountMlDsa65') } : {}),
  });
  const address = addressFromPublicKey(account.publicKey);
  return { account, address, did: didFromAddress(address) };
}

export function accountKeysFromPhrase(
  phrase: string,
  scheme: 'hybrid-ed25519-ml-dsa-65' | 'ed25519' = 'hybrid-ed25519-ml-dsa-65',
): AccountKeys {
  return accountKeysFromSeed(recoveryPhraseToSeed(phrase), scheme);
}
