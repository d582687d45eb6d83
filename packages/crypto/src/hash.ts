import { createHash, hkdfSync } from 'node:crypto';
import { sha3_256 as nobleSha3 } from '@noble/hashes/sha3.js';
import { utf8 } from './bytes.js';

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sha3_256(...parts: Uint8Array[]): Uint8Array {
  // Node ships sha3-256 through OpenSSL; fall back to noble where a build lacks it.
  try {
    const h = createHash('sha3-256');
    for (const p of parts) h.update(p);
    return new Uint8Array(h.digest());
  } catch {
    const h = nobleSha3.create();
    for (const p of parts) h.update(p);
    return h.digest();
  }
}

/**
 * Domain-separated hash used for every protocol object:
 * SHA-256(utf8(domain) || 0x00 || data). The NUL keeps one domain from being a prefix of another.
 */
export function taggedHash(domain: string, ...parts: Uint8Array[]): Uint8Array {
  return sha256(utf8(domain), new Uint8Array([0]), ...parts);
}

/** HKDF-SHA-512 (RFC 5869). */
export function hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha512', ikm, salt, info, length));
}
