import { createRequire } from 'node:module';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { equalBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import { sha3_256 } from './hash.js';

export const MLKEM768_SEED_BYTES = 64;
export const MLKEM768_PUBLIC_KEY_BYTES = 1184;
export const MLKEM768_SECRET_KEY_BYTES = 2400;
export const MLKEM768_CIPHERTEXT_BYTES = 1088;
export const MLKEM768_SHARED_SECRET_BYTES = 32;
/** Encapsulation randomness `m` (FIPS 203 Algorithm 20). */
export const MLKEM768_ENCAPSULATION_RANDOMNESS_BYTES = 32;

const Q = 3329;
const ENCODED_VECTOR_BYTES = 1152; // ByteEncode12 of k = 3 polynomials

interface PqcleanKem {
  keypair(): { publicKey: Uint8Array; privateKey: Uint8Array };
  generateKey(publicKey: Uint8Array): { key: Uint8Array; encryptedKey: Uint8Array };
  decryptKey(secretKey: Uint8Array, encryptedKey: Uint8Array): Uint8Array;
}

/**
 * The native PQClean binding is several times faster than pure JS. It is optional: where it failed
 * to build (or in a browser bundle) noble's implementation is used instead. Both implement final
 * FIPS 203, so keys and ciphertexts cross freely, which the interop test checks in both directions.
 * PQClean has no seeded key generation, so keys always come from noble.
 */
function loadNative(): PqcleanKem | null {
  if (process.env.SELF_CRYPTO_NO_NATIVE === '1') return null;
  try {
    const require = createRequire(import.meta.url);
    const pqclean = require('pqclean') as { KEM: new (alg: string) => PqcleanKem };
    return new pqclean.KEM('ml-kem-768');
  } catch {
    return null;
  }
}

const native = loadNative();

export const mlkemBackend: 'pqclean' | 'noble' = native ? 'pqclean' : 'noble';

export interface MlKemKeyPair {
  /** Encapsulation key `ek` (1184 bytes). */
  publicKey: Uint8Array;
  /** Decapsulation key `dk` (2400 bytes, FIPS 203 expanded form: it embeds `ek` and H(ek)). */
  secretKey: Uint8Array;
}

export interface MlKemEncapsulation {
  ciphertext: Uint8Array;
  sharedSecret: Uint8Array;
}

/** Deterministic FIPS 203 ML-KEM.KeyGen_internal from a 64-byte seed `d || z`. */
export function mlkem768KeyPairFromSeed(seed: Uint8Array): MlKemKeyPair {
  if (seed.length !== MLKEM768_SEED_BYTES) {
    throw new CryptoError('bad_key', `ML-KEM-768 seed must be ${MLKEM768_SEED_BYTES} bytes`);
  }
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  return { publicKey, secretKey };
}

/**
 * FIPS 203 §7.2 encapsulation key check: right length, and every 12-bit coefficient of t̂ reduced
 * mod q. PQClean skips the modulus check, so we run it for both backends.
 */
export function isValidMlKem768PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== MLKEM768_PUBLIC_KEY_BYTES) return false;
  for (let i = 0; i < ENCODED_VECTOR_BYTES; i += 3) {
    const b0 = publicKey[i]!;
    const b1 = publicKey[i + 1]!;
    const b2 = publicKey[i + 2]!;
    if ((b0 | ((b1 & 0x0f) << 8)) >= Q || ((b1 >> 4) | (b2 << 4)) >= Q) return false;
  }
  return true;
}

/**
 * FIPS 203 §7.3 decapsulation key check: right length, and the embedded H(ek) matches the
 * embedded ek, so a corrupted stored key fails loudly instead of deriving wrong secrets.
 */
export function isValidMlKem768SecretKey(secretKey: Uint8Array): boolean {
  if (secretKey.length !== MLKEM768_SECRET_KEY_BYTES) return false;
  const ek = secretKey.subarray(ENCODED_VECTOR_BYTES, ENCODED_VECTOR_BYTES + MLKEM768_PUBLIC_KEY_BYTES);
  const hashAt = ENCODED_VECTOR_BYTES + MLKEM768_PUBLIC_KEY_BYTES;
  return equalBytes(sha3_256(ek), secretKey.subarray(hashAt, hashAt + 32));
}

export function mlkem768Encapsulate(publicKey: Uint8Array): MlKemEncapsulation {
  if (!isValidMlKem768PublicKey(publicKey)) throw new CryptoError('bad_key', 'invalid ML-KEM-768 public key');
  if (native) {
    const { key, encryptedKey } = native.generateKey(publicKey);
    return { ciphertext: new Uint8Array(encryptedKey), sharedSecret: new Uint8Array(key) };
  }
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey);
  return { ciphertext: cipherText, sharedSecret };
}

/**
 * Never fails on a well-formed but altered ciphertext: ML-KEM's implicit rejection returns a
 * pseudorandom secret instead, and the AEAD that uses the secret is what detects tampering.
 */
export function mlkem768Decapsulate(secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  if (!isValidMlKem768SecretKey(secretKey)) throw new CryptoError('bad_key', 'invalid ML-KEM-768 secret key');
  if (ciphertext.length !== MLKEM768_CIPHERTEXT_BYTES) {
    throw new CryptoError(
      'bad_ciphertext',
      `ML-KEM-768 ciphertext must be ${MLKEM768_CIPHERTEXT_BYTES} bytes`,
    );
  }
  if (native) return new Uint8Array(native.decryptKey(secretKey, ciphertext));
  return ml_kem768.decapsulate(ciphertext, secretKey);
}

/**
 * Encapsulation with caller-chosen randomness `m`. Only for pinned test vectors: reusing `m` with
 * the same public key gives the same shared secret to anyone who reuses it. Always noble (PQClean
 * cannot take external randomness).
 */
export function mlkem768EncapsulateForTestVectorsOnly(
  publicKey: Uint8Array,
  randomness: Uint8Array,
): MlKemEncapsulation {
  if (!isValidMlKem768PublicKey(publicKey)) throw new CryptoError('bad_key', 'invalid ML-KEM-768 public key');
  if (randomness.length !== MLKEM768_ENCAPSULATION_RANDOMNESS_BYTES) {
    throw new RangeError(
      `ML-KEM-768 encapsulation randomness must be ${MLKEM768_ENCAPSULATION_RANDOMNESS_BYTES} bytes`,
    );
  }
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, randomness);
  return { ciphertext: cipherText, sharedSecret };
}

/** noble only: used by tests and the benchmark to compare and cross-check the two backends. */
export const nobleMlKem768 = {
  encapsulate: (publicKey: Uint8Array): MlKemEncapsulation => {
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey);
    return { ciphertext: cipherText, sharedSecret };
  },
  decapsulate: (secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array =>
    ml_kem768.decapsulate(ciphertext, secretKey),
};

/** PQClean only, or null where the native binding is unavailable: for the same comparisons. */
export const nativeMlKem768 = native
  ? {
      /** PQClean's own (random) key generation, so interop tests can start from either side. */
      keyPair: (): MlKemKeyPair => {
        const { publicKey, privateKey } = native.keypair();
        return { publicKey: new Uint8Array(publicKey), secretKey: new Uint8Array(privateKey) };
      },
      encapsulate: (publicKey: Uint8Array): MlKemEncapsulation => {
        const { key, encryptedKey } = native.generateKey(publicKey);
        return { ciphertext: new Uint8Array(encryptedKey), sharedSecret: new Uint8Array(key) };
      },
      decapsulate: (secretKey: Uint8Array, ciphertext: Uint8Array): Uint8Array =>
        new Uint8Array(native.decryptKey(secretKey, ciphertext)),
    }
  : null;
