import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { CryptoError } from './errors.js';

// PKCS#8 DER prefix for a raw X25519 secret (RFC 8410), as in ed25519.ts.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export const X25519_SECRET_KEY_BYTES = 32;
export const X25519_PUBLIC_KEY_BYTES = 32;
export const X25519_SHARED_SECRET_BYTES = 32;

/**
 * Importing a secret through PKCS#8 costs about a millisecond (OpenSSL 3's decoder lookup), so the
 * hot path avoids it: ephemeral keys are generated natively and public keys go through JWK, which
 * maps straight to a raw-key import and is about 6x faster than SPKI.
 */
export function x25519PrivateKeyObject(secretKey: Uint8Array): KeyObject {
  if (secretKey.length !== X25519_SECRET_KEY_BYTES) {
    throw new CryptoError('bad_key', `X25519 secret key must be ${X25519_SECRET_KEY_BYTES} bytes`);
  }
  // Any 32 bytes are a valid X25519 secret: clamping happens inside the scalar multiplication.
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== X25519_PUBLIC_KEY_BYTES) {
    throw new CryptoError('bad_key', `X25519 public key must be ${X25519_PUBLIC_KEY_BYTES} bytes`);
  }
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const { x } = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' });
  if (typeof x !== 'string') throw new Error('X25519 JWK export lacks "x"');
  return new Uint8Array(Buffer.from(x, 'base64url'));
}

/** RFC 7748 X25519(secret, 9): the public key of a 32-byte secret. */
export function x25519PublicKey(secretKey: Uint8Array | KeyObject): Uint8Array {
  return rawPublicKey(secretKey instanceof Uint8Array ? x25519PrivateKeyObject(secretKey) : secretKey);
}

/** A fresh ephemeral key pair from the platform CSPRNG; the secret never leaves OpenSSL. */
export function x25519EphemeralKeyPair(): { publicKey: Uint8Array; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { publicKey: rawPublicKey(publicKey), privateKey };
}

/**
 * RFC 7748 X25519(secret, peer). A peer key of small order would give the all-zero secret, which
 * carries no entropy; OpenSSL refuses it and so do we (RFC 7748 §6.1 "check").
 */
export function x25519SharedSecret(secretKey: Uint8Array | KeyObject, peerPublicKey: Uint8Array): Uint8Array {
  const privateKey = secretKey instanceof Uint8Array ? x25519PrivateKeyObject(secretKey) : secretKey;
  const publicKey = publicKeyObject(peerPublicKey);
  let shared: Uint8Array;
  try {
    shared = new Uint8Array(diffieHellman({ privateKey, publicKey }));
  } catch {
    throw new CryptoError('bad_key', 'X25519 public key is of small order');
  }
  if (shared.every((b) => b === 0)) throw new CryptoError('bad_key', 'X25519 public key is of small order');
  return shared;
}
