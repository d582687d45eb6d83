import { InstanceError } from './errors.js';
import { encodeKey } from './names.js';

/**
 * List cursors are opaque to callers: base64url of the last key a page returned. The next page
 * starts strictly after that key, so a cursor stays valid while objects are added or removed.
 */
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeCursor(lastKey: Uint8Array): string {
  return Buffer.from(lastKey.buffer, lastKey.byteOffset, lastKey.byteLength).toString('base64url');
}

/** The key bytes a cursor names; InstanceError('invalid_argument') for anything encodeCursor cannot have made. */
export function decodeCursor(cursor: unknown): Uint8Array {
  const refuse = (): never => {
    throw new InstanceError(
      'invalid_argument',
      'the list cursor is not one this store returned; start the listing again without a cursor',
    );
  };
  if (typeof cursor !== 'string' || !B64URL_RE.test(cursor)) return refuse();
  const bytes = new Uint8Array(Buffer.from(cursor, 'base64url'));
  if (encodeCursor(bytes) !== cursor) return refuse();
  try {
    encodeKey(decoder.decode(bytes));
  } catch {
    return refuse();
  }
  return bytes;
}
