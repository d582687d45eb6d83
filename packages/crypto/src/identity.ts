import { accountKeysFromSeed } from './account.js';
import { encryptionKeysFromSeed, type HybridKemKeyPair } from './kem.js';
import { recoveryPhraseToSeed } from './mnemonic.js';
import { rootKeyFromSeed } from './root-key.js';
import type { SigningKey } from './signature.js';

/** What a device publishes about a person: enough to build their DID document. No secrets. */
export interface PublicIdentity {
  address: string;
  did: string;
  /** Encoded account public key (scheme 0x02, or 0x01 in `ed25519` mode). */
  accountPublicKey: Uint8Array;
  /** Encoded identity root public key (scheme 0x03). */
  rootPublicKey: Uint8Array;
  /** Encoded hybrid KEM public key (scheme 0x04): what the instance wraps the data key to. */
  encryptionPublicKey: Uint8Array;
}

/** Every key a device derives from the recovery phrase. Keep it on the device. */
export interface DeviceIdentity extends PublicIdentity {
  account: SigningKey;
  root: SigningKey;
  encryption: HybridKemKeyPair;
}

export type AccountScheme = 'hybrid-ed25519-ml-dsa-65' | 'ed25519';

/**
 * All of a person's keys from their BIP39 seed (64 bytes). Takes about a second, most of it
 * SLH-DSA key generation for the root key.
 */
export function identityFromSeed(
  bip39Seed: Uint8Array,
  scheme: AccountScheme = 'hybrid-ed25519-ml-dsa-65',
): DeviceIdentity {
  const { account, address, did } = accountKeysFromSeed(bip39Seed, scheme);
  const root = rootKeyFromSeed(bip39Seed);
  const encryption = encryptionKeysFromSeed(bip39Seed);
  return {
    address,
    did,
    accountPublicKey: account.publicKey,
    rootPublicKey: root.publicKey,
    encryptionPublicKey: encryption.publicKey,
    account,
    root,
    encryption,
  };
}

/** All of a person's keys from their 24-word recovery phrase. Throws CryptoError('bad_phrase'). */
export function identityFromPhrase(
  phrase: string,
  scheme: AccountScheme = 'hybrid-ed25519-ml-dsa-65',
): DeviceIdentity {
  return identityFromSeed(recoveryPhraseToSeed(phrase), scheme);
}

/** The public part of an identity, safe to send to an instance or put on chain. */
export function publicIdentity(identity: PublicIdentity): PublicIdentity {
  return {
    address: identity.address,
    did: identity.did,
    accountPublicKey: identity.accountPublicKey,
    rootPublicKey: identity.rootPublicKey,
    encryptionPublicKey: identity.encryptionPublicKey,
  };
}
