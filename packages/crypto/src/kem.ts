import { randomBytes } from 'node:crypto';
import { concatBytes, utf8 } from './bytes.js';
import { deriveSeed } from './derive.js';
import { CryptoError, isCryptoError } from './errors.js';
import { hkdfSha512, sha256 } from './hash.js';
import {
  MLKEM768_CIPHERTEXT_BYTES,
  MLKEM768_PUBLIC_KEY_BYTES,
  MLKEM768_SECRET_KEY_BYTES,
  MLKEM768_SEED_BYTES,
  mlkem768Decapsulate,
  mlkem768Encapsulate,
  mlkem768EncapsulateForTestVectorsOnly,
  mlkem768KeyPairFromSeed,
  type MlKemEncapsulation,
} from './mlkem.js';
import {
  X25519_PUBLIC_KEY_BYTES,
  X25519_SECRET_KEY_BYTES,
  x25519EphemeralKeyPair,
  x25519PrivateKeyObject,
  x25519PublicKey,
  x25519SharedSecret,
} from './x25519.js';

/**
 * KEM schemes, identified on the wire by their first byte. The ids share one space with
 * SignatureSchemeId (0x01–0x03), so an encryption key can never be mistaken for a signing key.
 */
export const KemSchemeId = { 'hybrid-x25519-ml-kem-768': 0x04 } as const;
export type KemScheme = keyof typeof KemSchemeId;

const SCHEME = KemSchemeId['hybrid-x25519-ml-kem-768'];

/** `0x04 || X25519 public key (32) || ML-KEM-768 encapsulation key (1184)`. */
export const HYBRID_KEM_PUBLIC_KEY_BYTES = 1 + X25519_PUBLIC_KEY_BYTES + MLKEM768_PUBLIC_KEY_BYTES;
/** `0x04 || X25519 secret (32) || ML-KEM-768 decapsulation key (2400)`. */
export const HYBRID_KEM_SECRET_KEY_BYTES = 1 + X25519_SECRET_KEY_BYTES + MLKEM768_SECRET_KEY_BYTES;
/** `0x04 || ephemeral X25519 public key (32) || ML-KEM-768 ciphertext (1088)`. */
export const HYBRID_KEM_CIPHERTEXT_BYTES = 1 + X25519_PUBLIC_KEY_BYTES + MLKEM768_CIPHERTEXT_BYTES;
export const HYBRID_KEM_SHARED_SECRET_BYTES = 32;
/** HKDF salt of the combiner. Pinned in docs/protocol/crypto.md. */
export const HYBRID_KEM_SALT = 'self-hybrid-kem-v1';

export interface HybridKemKeyPair {
  /** Encoded public key (scheme byte first): what others encrypt to. */
  publicKey: Uint8Array;
  /** Encoded secret key (scheme byte first). Re-derivable from the recovery phrase; never sent. */
  secretKey: Uint8Array;
}

export interface HybridKemEncapsulation {
  /** Encoded ciphertext (scheme byte first), sent to the key holder. */
  ciphertext: Uint8Array;
  /** 32 bytes shared with the key holder. */
  sharedSecret: Uint8Array;
}

export interface HybridKemSeeds {
  x25519: Uint8Array;
  mlkem768: Uint8Array;
}

export function hybridKemKeyPairFromSeeds(seeds: HybridKemSeeds): HybridKemKeyPair {
  if (seeds.x25519.length !== X25519_SECRET_KEY_BYTES) {
    throw new CryptoError('bad_key', `X25519 seed must be ${X25519_SECRET_KEY_BYTES} bytes`);
  }
  const pq = mlkem768KeyPairFromSeed(seeds.mlkem768);
  const prefix = new Uint8Array([SCHEME]);
  return {
    publicKey: concatBytes(prefix, x25519PublicKey(seeds.x25519), pq.publicKey),
    secretKey: concatBytes(prefix, seeds.x25519, pq.secretKey),
  };
}

/** The person's encryption key from their BIP39 seed (64 bytes), with the pinned HKDF labels. */
export function encryptionKeysFromSeed(bip39Seed: Uint8Array): HybridKemKeyPair {
  return hybridKemKeyPairFromSeeds({
    x25519: deriveSeed(bip39Seed, 'encryptionX25519'),
    mlkem768: deriveSeed(bip39Seed, 'encryptionMlKem768'),
  });
}

/** A fresh random key pair (for keys that are not derived from a recovery phrase). */
export function generateHybridKemKeyPair(): HybridKemKeyPair {
  return hybridKemKeyPairFromSeeds({
    x25519: new Uint8Array(randomBytes(X25519_SECRET_KEY_BYTES)),
    mlkem768: new Uint8Array(randomBytes(MLKEM768_SEED_BYTES)),
  });
}

interface PublicKeyParts {
  x25519: Uint8Array;
  mlkem: Uint8Array;
}

/** Splits an encoded hybrid KEM public key; throws CryptoError on a wrong scheme or length. */
export function decodeHybridKemPublicKey(publicKey: Uint8Array): PublicKeyParts {
  if (publicKey.length === 0 || publicKey[0] !== SCHEME) {
    throw new CryptoError('unsupported_scheme', 'not a hybrid-x25519-ml-kem-768 public key');
  }
  if (publicKey.length !== HYBRID_KEM_PUBLIC_KEY_BYTES) {
    throw new CryptoError('bad_key', `hybrid KEM public key must be ${HYBRID_KEM_PUBLIC_KEY_BYTES} bytes`);
  }
  return {
    x25519: publicKey.subarray(1, 1 + X25519_PUBLIC_KEY_BYTES),
    mlkem: publicKey.subarray(1 + X25519_PUBLIC_KEY_BYTES),
  };
}

function decodeSecretKey(secretKey: Uint8Array): { x25519: Uint8Array; mlkem: Uint8Array } {
  if (secretKey.length === 0 || secretKey[0] !== SCHEME) {
    throw new CryptoError('unsupported_scheme', 'not a hybrid-x25519-ml-kem-768 secret key');
  }
  if (secretKey.length !== HYBRID_KEM_SECRET_KEY_BYTES) {
    throw new CryptoError('bad_key', `hybrid KEM secret key must be ${HYBRID_KEM_SECRET_KEY_BYTES} bytes`);
  }
  return {
    x25519: secretKey.subarray(1, 1 + X25519_SECRET_KEY_BYTES),
    mlkem: secretKey.subarray(1 + X25519_SECRET_KEY_BYTES),
  };
}

function decodeCiphertext(ciphertext: Uint8Array): { x25519: Uint8Array; mlkem: Uint8Array } {
  if (ciphertext.length === 0 || ciphertext[0] !== SCHEME) {
    throw new CryptoError('unsupported_scheme', 'not a hybrid-x25519-ml-kem-768 ciphertext');
  }
  if (ciphertext.length !== HYBRID_KEM_CIPHERTEXT_BYTES) {
    throw new CryptoError(
      'bad_ciphertext',
      `hybrid KEM ciphertext must be ${HYBRID_KEM_CIPHERTEXT_BYTES} bytes`,
    );
  }
  return {
    x25519: ciphertext.subarray(1, 1 + X25519_PUBLIC_KEY_BYTES),
    mlkem: ciphertext.subarray(1 + X25519_PUBLIC_KEY_BYTES),
  };
}

export interface HybridKemCombinerInput {
  mlkemSharedSecret: Uint8Array;
  x25519SharedSecret: Uint8Array;
  /** The ephemeral X25519 public key sent in the ciphertext. */
  x25519Ciphertext: Uint8Array;
  /** The recipient's static X25519 public key. */
  x25519PublicKey: Uint8Array;
  mlkemCiphertext: Uint8Array;
}

/**
 * HKDF-SHA-512(ikm = ss_mlkem || ss_x25519, salt = "self-hybrid-kem-v1",
 * info = ct_x25519 || pk_x25519 || SHA-256(ct_mlkem), L = 32).
 *
 * Why not the raw concatenation: an X25519 shared secret does not commit to the ciphertext that
 * produced it (several encodings of an ephemeral key give the same secret), so an attacker could
 * alter a ciphertext without changing the secret; hashing the X25519 ciphertext and recipient key
 * into the KDF binds them, as X-Wing does. ML-KEM already binds its own ciphertext and key (FIPS
 * 203 hashes H(ek) into K and re-encrypts on decapsulation); hashing its ciphertext too costs
 * little and leaves the output secure as long as either half is. HKDF-Extract keyed by both
 * secrets is a PRF of whichever one stays unbroken.
 */
export function combineHybridKemSecrets(input: HybridKemCombinerInput): Uint8Array {
  return hkdfSha512(
    concatBytes(input.mlkemSharedSecret, input.x25519SharedSecret),
    utf8(HYBRID_KEM_SALT),
    concatBytes(input.x25519Ciphertext, input.x25519PublicKey, sha256(input.mlkemCiphertext)),
    HYBRID_KEM_SHARED_SECRET_BYTES,
  );
}

/** Fixed randomness for a reproducible encapsulation: for pinned test vectors only. */
export interface HybridKemEncapsulationRandomness {
  x25519EphemeralSecret: Uint8Array;
  mlkemRandomness: Uint8Array;
}

function fixedEphemeral(secret: Uint8Array): ReturnType<typeof x25519EphemeralKeyPair> {
  const privateKey = x25519PrivateKeyObject(secret);
  return { privateKey, publicKey: x25519PublicKey(privateKey) };
}

function encapsulate(
  publicKey: Uint8Array,
  fixed?: HybridKemEncapsulationRandomness,
): HybridKemEncapsulation {
  const recipient = decodeHybridKemPublicKey(publicKey);
  const ephemeral = fixed ? fixedEphemeral(fixed.x25519EphemeralSecret) : x25519EphemeralKeyPair();
  const ephemeralPublic = ephemeral.publicKey;
  const x25519Shared = x25519SharedSecret(ephemeral.privateKey, recipient.x25519);
  const pq: MlKemEncapsulation = fixed
    ? mlkem768EncapsulateForTestVectorsOnly(recipient.mlkem, fixed.mlkemRandomness)
    : mlkem768Encapsulate(recipient.mlkem);
  const sharedSecret = combineHybridKemSecrets({
    mlkemSharedSecret: pq.sharedSecret,
    x25519SharedSecret: x25519Shared,
    x25519Ciphertext: ephemeralPublic,
    x25519PublicKey: recipient.x25519,
    mlkemCiphertext: pq.ciphertext,
  });
  return { ciphertext: concatBytes(new Uint8Array([SCHEME]), ephemeralPublic, pq.ciphertext), sharedSecret };
}

/**
 * A fresh shared secret and the ciphertext that conveys it to the holder of `publicKey`.
 * Throws CryptoError ('unsupported_scheme' | 'bad_key') on a malformed or invalid public key.
 */
export function hybridKemEncapsulate(publicKey: Uint8Array): HybridKemEncapsulation {
  return encapsulate(publicKey);
}

/**
 * Reproducible encapsulation with caller-chosen randomness. ONLY for pinned test vectors: anyone
 * who knows the randomness knows the shared secret.
 */
export function hybridKemEncapsulateForTestVectorsOnly(
  publicKey: Uint8Array,
  randomness: HybridKemEncapsulationRandomness,
): HybridKemEncapsulation {
  return encapsulate(publicKey, randomness);
}

/**
 * Recovers the shared secret. A malformed ciphertext or key throws CryptoError; an altered but
 * well-formed ciphertext yields an unrelated secret (ML-KEM implicit rejection), so callers must
 * authenticate what they derive from it, as the sealed box does with its AEAD.
 */
export function hybridKemDecapsulate(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const own = decodeSecretKey(secretKey);
  const ct = decodeCiphertext(ciphertext);
  const ownX25519 = x25519PrivateKeyObject(own.x25519); // the slow import, done once
  const ownX25519Public = x25519PublicKey(ownX25519);
  let x25519Shared: Uint8Array;
  try {
    x25519Shared = x25519SharedSecret(ownX25519, ct.x25519);
  } catch (error) {
    // The only peer key here is the ephemeral one, so a small-order point is a bad ciphertext.
    if (isCryptoError(error, 'bad_key')) throw new CryptoError('bad_ciphertext', error.message);
    throw error;
  }
  return combineHybridKemSecrets({
    mlkemSharedSecret: mlkem768Decapsulate(own.mlkem, ct.mlkem),
    x25519SharedSecret: x25519Shared,
    x25519Ciphertext: ct.x25519,
    x25519PublicKey: ownX25519Public,
    mlkemCiphertext: ct.mlkem,
  });
}

/** The encoded public key that belongs to an encoded secret key (the ML-KEM half embeds `ek`). */
export function hybridKemPublicKeyFromSecretKey(secretKey: Uint8Array): Uint8Array {
  const own = decodeSecretKey(secretKey);
  const ekStart = 1152; // FIPS 203 dk = dk_PKE (1152) || ek (1184) || H(ek) || z
  return concatBytes(
    new Uint8Array([SCHEME]),
    x25519PublicKey(own.x25519),
    own.mlkem.subarray(ekStart, ekStart + MLKEM768_PUBLIC_KEY_BYTES),
  );
}
