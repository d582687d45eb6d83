import { randomBytes } from 'node:crypto';
import {
  AEAD_KEY_BYTES,
  AEAD_TAG_BYTES,
  AES_GCM_NONCE_BYTES,
  XCHACHA_NONCE_BYTES,
  aes256GcmOpen,
  aes256GcmSeal,
  xchacha20Poly1305Open,
  xchacha20Poly1305Seal,
} from './aead.js';
import { concatBytes, utf8 } from './bytes.js';
import { CryptoError } from './errors.js';

/**
 * Symmetric envelope:
 *
 *   "SLF" (3) || version 0x01 || alg (1) || nonce (12 or 24) || ciphertext || tag (16)
 *
 * The whole header, nonce included, is the first part of the AEAD's associated data, followed by
 * the caller's AAD, so neither the version nor the algorithm can be swapped without failing
 * authentication. The header has a fixed length per algorithm, so `header || aad` is unambiguous.
 */
export const ENVELOPE_MAGIC = 'SLF';
export const ENVELOPE_VERSION = 0x01;

export const AeadAlgId = {
  'aes-256-gcm': 0x01,
  'xchacha20-poly1305': 0x02,
} as const;
export type AeadAlg = keyof typeof AeadAlgId;

/**
 * XChaCha20-Poly1305 is the default: its 192-bit random nonces never collide in practice, whereas
 * AES-256-GCM's 96-bit random nonces allow only about 2^32 messages per key (NIST SP 800-38D), and
 * a data key lives for the life of an instance. Use AES-256-GCM for bulk data under short-lived
 * keys where its hardware speed matters.
 */
export const DEFAULT_AEAD_ALG: AeadAlg = 'xchacha20-poly1305';

const MAGIC_BYTES = utf8(ENVELOPE_MAGIC);
const FIXED_HEADER_BYTES = MAGIC_BYTES.length + 2;
const NONCE_BYTES: Record<AeadAlg, number> = {
  'aes-256-gcm': AES_GCM_NONCE_BYTES,
  'xchacha20-poly1305': XCHACHA_NONCE_BYTES,
};
const ALG_BY_ID = new Map<number, AeadAlg>(
  Object.entries(AeadAlgId).map(([name, id]) => [id, name as AeadAlg]),
);
const EMPTY = new Uint8Array(0);

export interface SealOptions {
  /** Defaults to DEFAULT_AEAD_ALG. */
  alg?: AeadAlg;
  /** Associated data: authenticated, not encrypted, not stored in the envelope. */
  aad?: Uint8Array;
}

export interface OpenOptions {
  /** Must equal the AAD given to `seal`. */
  aad?: Uint8Array;
}

export interface EnvelopeHeader {
  version: number;
  alg: AeadAlg;
  nonce: Uint8Array;
  /** Length of magic || version || alg || nonce. */
  headerBytes: number;
}

/** Envelope length for a plaintext of `plaintextLength` bytes. */
export function envelopeLength(plaintextLength: number, alg: AeadAlg = DEFAULT_AEAD_ALG): number {
  return FIXED_HEADER_BYTES + NONCE_BYTES[alg] + plaintextLength + AEAD_TAG_BYTES;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== AEAD_KEY_BYTES)
    throw new CryptoError('bad_key', `AEAD key must be ${AEAD_KEY_BYTES} bytes`);
}

function header(alg: AeadAlg, nonce: Uint8Array): Uint8Array {
  return concatBytes(MAGIC_BYTES, new Uint8Array([ENVELOPE_VERSION, AeadAlgId[alg]]), nonce);
}

/**
 * Parses and checks an envelope's header without decrypting. Throws CryptoError: 'bad_envelope'
 * (wrong magic or too short), 'unsupported_version', 'unsupported_alg'.
 */
export function parseEnvelopeHeader(envelope: Uint8Array): EnvelopeHeader {
  if (envelope.length < FIXED_HEADER_BYTES || !MAGIC_BYTES.every((b, i) => envelope[i] === b)) {
    throw new CryptoError('bad_envelope', 'not a SELF envelope');
  }
  const version = envelope[MAGIC_BYTES.length]!;
  if (version !== ENVELOPE_VERSION) {
    throw new CryptoError('unsupported_version', `unsupported envelope version ${version}`);
  }
  const algId = envelope[MAGIC_BYTES.length + 1]!;
  const alg = ALG_BY_ID.get(algId);
  if (!alg)
    throw new CryptoError(
      'unsupported_alg',
      `unsupported envelope algorithm 0x${algId.toString(16).padStart(2, '0')}`,
    );
  const headerBytes = FIXED_HEADER_BYTES + NONCE_BYTES[alg];
  if (envelope.length < headerBytes + AEAD_TAG_BYTES)
    throw new CryptoError('bad_envelope', 'envelope is truncated');
  return { version, alg, nonce: envelope.subarray(FIXED_HEADER_BYTES, headerBytes), headerBytes };
}

// Callers in plain JS can pass any string; `in` would also accept inherited names like "toString".
function checkAlg(alg: AeadAlg): void {
  if (!Object.hasOwn(NONCE_BYTES, alg))
    throw new CryptoError('unsupported_alg', 'unsupported AEAD algorithm');
}

function sealWith(
  key: Uint8Array,
  plaintext: Uint8Array,
  nonce: Uint8Array,
  alg: AeadAlg,
  aad: Uint8Array,
): Uint8Array {
  checkKey(key);
  checkAlg(alg);
  if (nonce.length !== NONCE_BYTES[alg])
    throw new RangeError(`${alg} nonce must be ${NONCE_BYTES[alg]} bytes`);
  const head = header(alg, nonce);
  const fullAad = concatBytes(head, aad);
  return alg === 'aes-256-gcm'
    ? aes256GcmSeal(key, nonce, plaintext, fullAad, head)
    : xchacha20Poly1305Seal(key, nonce, plaintext, fullAad, head);
}

/** Encrypts and authenticates `plaintext` under a 32-byte key, with a fresh random nonce. */
export function seal(key: Uint8Array, plaintext: Uint8Array, options: SealOptions = {}): Uint8Array {
  const alg = options.alg ?? DEFAULT_AEAD_ALG;
  checkAlg(alg);
  return sealWith(key, plaintext, new Uint8Array(randomBytes(NONCE_BYTES[alg])), alg, options.aad ?? EMPTY);
}

/**
 * `seal` with a caller-chosen nonce. ONLY for pinned test vectors: a nonce used twice under one key
 * leaks the XOR of the plaintexts and, for both algorithms, lets an attacker forge messages.
 */
export function sealWithFixedNonceForTestVectorsOnly(
  key: Uint8Array,
  plaintext: Uint8Array,
  nonce: Uint8Array,
  options: SealOptions = {},
): Uint8Array {
  return sealWith(key, plaintext, nonce, options.alg ?? DEFAULT_AEAD_ALG, options.aad ?? EMPTY);
}

/**
 * Authenticates and decrypts an envelope. Throws CryptoError: 'bad_key', 'bad_envelope',
 * 'unsupported_version', 'unsupported_alg', or 'auth_failed' (wrong key, wrong AAD, altered bytes).
 */
export function open(key: Uint8Array, envelope: Uint8Array, options: OpenOptions = {}): Uint8Array {
  checkKey(key);
  const { alg, nonce, headerBytes } = parseEnvelopeHeader(envelope);
  const fullAad = concatBytes(envelope.subarray(0, headerBytes), options.aad ?? EMPTY);
  const body = envelope.subarray(headerBytes);
  const plaintext =
    alg === 'aes-256-gcm'
      ? aes256GcmOpen(key, nonce, body, fullAad)
      : xchacha20Poly1305Open(key, nonce, body, fullAad);
  if (!plaintext) throw new CryptoError('auth_failed', 'envelope failed authentication');
  return plaintext;
}
