import { concatBytes, utf8 } from './bytes.js';
import { CryptoError, isCryptoError } from './errors.js';
import { hkdfSha512 } from './hash.js';
import {
  HYBRID_KEM_CIPHERTEXT_BYTES,
  KemSchemeId,
  hybridKemDecapsulate,
  hybridKemEncapsulate,
  hybridKemEncapsulateForTestVectorsOnly,
  type HybridKemEncapsulation,
  type HybridKemEncapsulationRandomness,
} from './kem.js';
import { type AeadAlg, open, seal, sealWithFixedNonceForTestVectorsOnly } from './envelope.js';

/**
 * Public-key encryption to a hybrid KEM key, in the manner of HPKE base mode:
 *
 *   "SLK" (3) || version 0x01 || KEM ciphertext (1121, scheme byte 0x04 first) || envelope
 *
 * `envelope` is an ordinary "SLF" envelope under
 *   key = HKDF-SHA-512(ikm = KEM shared secret, salt = "self-sealed-box-v1", info = "aead-key", 32)
 * whose AAD is `"SLK" || version || KEM ciphertext || caller AAD`. Every box has a fresh KEM
 * secret and so a fresh AEAD key, used exactly once. The instance uses this to wrap its data key
 * to the person's encryption key, so the recovery phrase alone can always recover it.
 */
export const SEALED_BOX_MAGIC = 'SLK';
export const SEALED_BOX_VERSION = 0x01;
export const SEALED_BOX_SALT = 'self-sealed-box-v1';
export const SEALED_BOX_KEY_INFO = 'aead-key';

const MAGIC_BYTES = utf8(SEALED_BOX_MAGIC);
const PREFIX_BYTES = MAGIC_BYTES.length + 1;
const EMPTY = new Uint8Array(0);

export interface SealToPublicKeyOptions {
  /** AEAD of the inner envelope. Each key is used once, so AES-256-GCM's nonce limit never applies. */
  alg?: AeadAlg;
}

function boxKey(sharedSecret: Uint8Array): Uint8Array {
  return hkdfSha512(sharedSecret, utf8(SEALED_BOX_SALT), utf8(SEALED_BOX_KEY_INFO), 32);
}

function prefix(): Uint8Array {
  return concatBytes(MAGIC_BYTES, new Uint8Array([SEALED_BOX_VERSION]));
}

export interface SealedBoxTestRandomness extends HybridKemEncapsulationRandomness {
  nonce: Uint8Array;
}

function sealBox(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  alg: AeadAlg,
  fixed?: SealedBoxTestRandomness,
): Uint8Array {
  const kem: HybridKemEncapsulation = fixed
    ? hybridKemEncapsulateForTestVectorsOnly(recipientPublicKey, fixed)
    : hybridKemEncapsulate(recipientPublicKey);
  const head = concatBytes(prefix(), kem.ciphertext);
  const key = boxKey(kem.sharedSecret);
  const options = { alg, aad: concatBytes(head, aad) };
  const envelope = fixed
    ? sealWithFixedNonceForTestVectorsOnly(key, plaintext, fixed.nonce, options)
    : seal(key, plaintext, options);
  key.fill(0);
  return concatBytes(head, envelope);
}

/**
 * Encrypts `plaintext` so that only the holder of the hybrid KEM secret key can read it.
 * Throws CryptoError ('unsupported_scheme' | 'bad_key') on a malformed or invalid public key.
 */
export function sealToPublicKey(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
  options: SealToPublicKeyOptions = {},
): Uint8Array {
  return sealBox(recipientPublicKey, plaintext, aad, options.alg ?? 'xchacha20-poly1305');
}

/** Reproducible `sealToPublicKey`. ONLY for pinned test vectors: the randomness decrypts the box. */
export function sealToPublicKeyForTestVectorsOnly(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  randomness: SealedBoxTestRandomness,
  aad: Uint8Array = EMPTY,
  options: SealToPublicKeyOptions = {},
): Uint8Array {
  return sealBox(recipientPublicKey, plaintext, aad, options.alg ?? 'xchacha20-poly1305', randomness);
}

/**
 * Opens a sealed box with the recipient's encoded hybrid KEM secret key. Throws CryptoError:
 * 'bad_envelope', 'unsupported_version', 'unsupported_scheme', 'unsupported_alg', 'bad_key', or
 * 'auth_failed' (wrong key, wrong AAD, or altered bytes, including an altered KEM ciphertext).
 */
export function openWithSecretKey(
  recipientSecretKey: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  if (sealed.length < PREFIX_BYTES || !MAGIC_BYTES.every((b, i) => sealed[i] === b)) {
    throw new CryptoError('bad_envelope', 'not a SELF sealed box');
  }
  const version = sealed[MAGIC_BYTES.length]!;
  if (version !== SEALED_BOX_VERSION)
    throw new CryptoError('unsupported_version', `unsupported sealed box version ${version}`);
  if (sealed.length < PREFIX_BYTES + 1) throw new CryptoError('bad_envelope', 'sealed box is truncated');
  if (sealed[PREFIX_BYTES] !== KemSchemeId['hybrid-x25519-ml-kem-768']) {
    throw new CryptoError('unsupported_scheme', 'sealed box uses an unknown KEM');
  }
  const headBytes = PREFIX_BYTES + HYBRID_KEM_CIPHERTEXT_BYTES;
  if (sealed.length < headBytes) throw new CryptoError('bad_envelope', 'sealed box is truncated');
  const head = sealed.subarray(0, headBytes);
  let sharedSecret: Uint8Array;
  try {
    sharedSecret = hybridKemDecapsulate(recipientSecretKey, sealed.subarray(PREFIX_BYTES, headBytes));
  } catch (error) {
    // A KEM ciphertext that cannot even be decapsulated (a small-order X25519 share) is tampering.
    if (isCryptoError(error, 'bad_ciphertext'))
      throw new CryptoError('auth_failed', 'sealed box failed authentication');
    throw error;
  }
  const key = boxKey(sharedSecret);
  try {
    return open(key, sealed.subarray(headBytes), { aad: concatBytes(head, aad) });
  } finally {
    key.fill(0);
  }
}
