import { slh_dsa_sha2_128s } from '@noble/post-quantum/slh-dsa.js';
import { CryptoError } from './errors.js';

/**
 * SLH-DSA-SHA2-128s (FIPS 205, pure mode, empty context), for the identity root key only. Its
 * security rests on hash functions alone, which is why it guards the key that can rotate all the
 * others; the price is slow signing (seconds in JS) and 7856-byte signatures, acceptable for a key
 * used only for rotation and recovery. PQClean's "sphincs" is the pre-FIPS round-3 scheme and is
 * not compatible, so noble is the only backend.
 */
export const SLHDSA_SHA2_128S_SEED_BYTES = 48;
export const SLHDSA_SHA2_128S_PUBLIC_KEY_BYTES = 32;
export const SLHDSA_SHA2_128S_SECRET_KEY_BYTES = 64;
export const SLHDSA_SHA2_128S_SIGNATURE_BYTES = 7856;

export interface SlhDsaKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** Deterministic FIPS 205 key generation from a 48-byte seed `SK.seed || SK.prf || PK.seed`. */
export function slhDsaSha2128sKeyPairFromSeed(seed: Uint8Array): SlhDsaKeyPair {
  if (seed.length !== SLHDSA_SHA2_128S_SEED_BYTES) {
    throw new CryptoError('bad_key', `SLH-DSA-SHA2-128s seed must be ${SLHDSA_SHA2_128S_SEED_BYTES} bytes`);
  }
  const { publicKey, secretKey } = slh_dsa_sha2_128s.keygen(seed);
  return { publicKey, secretKey };
}

/** Hedged signing (fresh randomness mixed in, FIPS 205 §10.2). Takes seconds: call rarely. */
export function slhDsaSha2128sSign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return slh_dsa_sha2_128s.sign(message, secretKey);
}

export function slhDsaSha2128sVerify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (
    publicKey.length !== SLHDSA_SHA2_128S_PUBLIC_KEY_BYTES ||
    signature.length !== SLHDSA_SHA2_128S_SIGNATURE_BYTES
  ) {
    return false;
  }
  try {
    return slh_dsa_sha2_128s.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}
