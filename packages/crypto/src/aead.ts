import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import { hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { concatBytes } from './bytes.js';

/**
 * The two raw AEADs behind envelopes. Both take a 32-byte key and return `ciphertext || tag(16)`;
 * `open` returns null when the tag does not verify (the envelope layer turns that into a typed
 * error). Nonce handling and headers live in envelope.ts.
 */
export const AEAD_KEY_BYTES = 32;
export const AEAD_TAG_BYTES = 16;
export const AES_GCM_NONCE_BYTES = 12;
export const XCHACHA_NONCE_BYTES = 24;

const EMPTY = new Uint8Array(0);

/** The part of Node's Cipheriv / Decipheriv that streaming needs. */
interface StreamCipher {
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}

// OpenSSL output arrives as a fresh Buffer per update() call. Sealing must prepend the envelope
// header, and one 1 MiB update plus a copy behind the header allocates 2 MiB per message and
// halves throughput in GC; 64 KiB slices copied into one preallocated output run at OpenSSL speed.
const SLICE_BYTES = 64 * 1024;

/**
 * Runs `input` through `cipher` into `out` at `offset`; returns the offset after the last byte.
 * `out` comes from allocUnsafeSlow (never pooled, so `.buffer` exposes nothing else), and every
 * byte of it is written: the caller checks the final offset equals its length.
 */
function streamInto(cipher: StreamCipher, input: Uint8Array, out: Uint8Array, offset: number): number {
  let at = offset;
  for (let i = 0; i < input.length; i += SLICE_BYTES) {
    const chunk = cipher.update(input.subarray(i, i + SLICE_BYTES));
    out.set(chunk, at);
    at += chunk.length;
  }
  const tail = cipher.final();
  out.set(tail, at);
  return at + tail.length;
}

function allocOutput(length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

type NodeAead = 'aes-256-gcm' | 'chacha20-poly1305';

// Branching per algorithm lets TypeScript pick the AEAD overloads (and their setAAD/getAuthTag).
function cipherFor(alg: NodeAead, key: Uint8Array, nonce: Uint8Array) {
  const options = { authTagLength: AEAD_TAG_BYTES };
  return alg === 'aes-256-gcm'
    ? createCipheriv(alg, key, nonce, options)
    : createCipheriv(alg, key, nonce, options);
}

function decipherFor(alg: NodeAead, key: Uint8Array, nonce: Uint8Array) {
  const options = { authTagLength: AEAD_TAG_BYTES };
  return alg === 'aes-256-gcm'
    ? createDecipheriv(alg, key, nonce, options)
    : createDecipheriv(alg, key, nonce, options);
}

function nodeSeal(
  alg: NodeAead,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  prefix: Uint8Array,
): Uint8Array {
  const cipher = cipherFor(alg, key, nonce);
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const out = allocOutput(prefix.length + plaintext.length + AEAD_TAG_BYTES);
  out.set(prefix, 0);
  const end = streamInto(cipher, plaintext, out, prefix.length);
  out.set(cipher.getAuthTag(), end);
  if (end + AEAD_TAG_BYTES !== out.length) throw new Error(`${alg}: unexpected output length`);
  return out;
}

function nodeOpen(
  alg: NodeAead,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  if (sealed.length < AEAD_TAG_BYTES) return null;
  const body = sealed.subarray(0, sealed.length - AEAD_TAG_BYTES);
  const decipher = decipherFor(alg, key, nonce);
  decipher.setAAD(aad, { plaintextLength: body.length });
  decipher.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
  // One update: its output is the result, so there is no second buffer to copy into.
  const plaintext = decipher.update(body);
  try {
    if (decipher.final().length !== 0) throw new Error(`${alg}: unexpected trailing output`);
  } catch {
    // The tag did not verify: `plaintext` is unauthenticated; wipe it before dropping it.
    plaintext.fill(0);
    return null;
  }
  return owned(plaintext);
}

/**
 * A plain Uint8Array over `buffer` without copying it, unless the Buffer shares its memory with
 * other data (Node's small-buffer pool), which must not become reachable through `.buffer`.
 */
function owned(buffer: Uint8Array): Uint8Array {
  if (buffer.byteOffset === 0 && buffer.buffer.byteLength === buffer.length)
    return new Uint8Array(buffer.buffer);
  return Uint8Array.from(buffer);
}

/** `prefix || ciphertext || tag`; the prefix lets envelopes build their output in one buffer. */
export function aes256GcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  prefix: Uint8Array = EMPTY,
): Uint8Array {
  return nodeSeal('aes-256-gcm', key, nonce, plaintext, aad, prefix);
}

export function aes256GcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  return nodeOpen('aes-256-gcm', key, nonce, sealed, aad);
}

// "expand 32-byte k" as little-endian words: the ChaCha constant (RFC 8439 §2.3).
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function wordsLE(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

function bytesLE(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i]!, true);
  return out;
}

/**
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) is ChaCha20-Poly1305 under the subkey
 * HChaCha20(key, nonce[0..16]) with nonce 0x00000000 || nonce[16..24]. OpenSSL's ChaCha20-Poly1305
 * is about 10x faster than pure JS, so we derive the subkey with noble's HChaCha20 and let OpenSSL
 * do the bulk work; builds without it use noble throughout. Tests check both give the same bytes.
 */
const nativeChaCha = getCiphers().includes('chacha20-poly1305') && process.env.SELF_CRYPTO_NO_NATIVE !== '1';

export const xchachaBackend: 'openssl+noble-hchacha' | 'noble' = nativeChaCha
  ? 'openssl+noble-hchacha'
  : 'noble';

function subkeyAndNonce(key: Uint8Array, nonce: Uint8Array): { subkey: Uint8Array; chachaNonce: Uint8Array } {
  const out = new Uint32Array(8);
  hchacha(SIGMA, wordsLE(key), wordsLE(nonce.subarray(0, 16)), out);
  const chachaNonce = new Uint8Array(12);
  chachaNonce.set(nonce.subarray(16, 24), 4);
  const subkey = bytesLE(out);
  out.fill(0);
  return { subkey, chachaNonce };
}

/** `prefix || ciphertext || tag`, as aes256GcmSeal. */
export function xchacha20Poly1305Seal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  prefix: Uint8Array = EMPTY,
): Uint8Array {
  if (!nativeChaCha) return concatBytes(prefix, xchacha20poly1305(key, nonce, aad).encrypt(plaintext));
  const { subkey, chachaNonce } = subkeyAndNonce(key, nonce);
  try {
    return nodeSeal('chacha20-poly1305', subkey, chachaNonce, plaintext, aad, prefix);
  } finally {
    subkey.fill(0);
  }
}

export function xchacha20Poly1305Open(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  if (sealed.length < AEAD_TAG_BYTES) return null;
  if (!nativeChaCha) return nobleXChaCha20Poly1305.open(key, nonce, sealed, aad);
  const { subkey, chachaNonce } = subkeyAndNonce(key, nonce);
  try {
    return nodeOpen('chacha20-poly1305', subkey, chachaNonce, sealed, aad);
  } finally {
    subkey.fill(0);
  }
}

/** noble only: used by tests and the benchmark to cross-check and compare the accelerated path. */
export const nobleXChaCha20Poly1305 = {
  seal: (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array =>
    xchacha20poly1305(key, nonce, aad).encrypt(plaintext),
  open: (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null => {
    try {
      return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch {
      return null;
    }
  },
};
