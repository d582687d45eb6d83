import { createRequire } from 'node:module';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { CryptoError } from './errors.js';

export const MLDSA65_SEED_BYTES = 32;
export const MLDSA65_PUBLIC_KEY_BYTES = 1952;
export const MLDSA65_SECRET_KEY_BYTES = 4032;
export const MLDSA65_SIGNATURE_BYTES = 3309;

interface PqcleanSign {
  keypair(): { publicKey: Uint8Array; privateKey: Uint8Array };
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * The native PQClean binding verifies ML-DSA-65 about 9x faster than pure JS. It is optional:
 * where it failed to build (or in a browser bundle) noble's implementation is used instead; the
 * two are byte-compatible (FIPS 204, empty context), which the interop test checks.
 */
function loadNative(): PqcleanSign | null {
  if (process.env.SELF_CRYPTO_NO_NATIVE === '1') return null;
  try {
    const require = createRequire(import.meta.url);
    const pqclean = require('pqclean') as { Sign: new (alg: string) => PqcleanSign };
    return new pqclean.Sign('ml-dsa-65');
  } catch {
    return null;
  }
}

const native = loadNative();

export const mldsaBackend: 'pqclean' | 'noble' = native ? 'pqclean' : 'noble';

export interface MlDsaKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** Deterministic FIPS 204 key generation from a 32-byte seed (noble; PQClean has no seeded keygen). */
export function mldsa65KeyPairFromSeed(seed: Uint8Array): MlDsaKeyPair {
  if (seed.length !== MLDSA65_SEED_BYTES) throw new CryptoError('bad_key', 'ML-DSA-65 seed must be 32 bytes');
  const { publicKey, secretKey } = ml_dsa65.keygen(seed);
  return { publicKey, secretKey };
}

/** Hedged signing (FIPS 204 default): fresh randomness each time, so signatures differ per call. */
export function mldsa65Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (secretKey.length !== MLDSA65_SECRET_KEY_BYTES)
    throw new CryptoError('bad_key', 'ML-DSA-65 secret key must be 4032 bytes');
  if (native) return new Uint8Array(native.sign(secretKey, message));
  return ml_dsa65.sign(message, secretKey);
}

export function mldsa65Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== MLDSA65_PUBLIC_KEY_BYTES || signature.length !== MLDSA65_SIGNATURE_BYTES)
    return false;
  try {
    if (native) return native.verify(publicKey, message, signature);
    return ml_dsa65.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** noble only: used by tests to prove the two backends accept each other. */
export const nobleMlDsa65 = {
  sign: (secretKey: Uint8Array, message: Uint8Array): Uint8Array => ml_dsa65.sign(message, secretKey),
  verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean =>
    ml_dsa65.verify(signature, message, publicKey),
};

/** PQClean only, or null where the native binding is unavailable: for the same interop checks. */
export const nativeMlDsa65 = native
  ? {
      /** PQClean's own (random) key generation, so interop tests can start from either side. */
      keyPair: (): MlDsaKeyPair => {
        const { publicKey, privateKey } = native.keypair();
        return { publicKey: new Uint8Array(publicKey), secretKey: new Uint8Array(privateKey) };
      },
      sign: (secretKey: Uint8Array, message: Uint8Array): Uint8Array =>
        new Uint8Array(native.sign(secretKey, message)),
      verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean =>
        native.verify(publicKey, message, signature),
    }
  : null;
