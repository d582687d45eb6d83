import { InstanceError } from './errors.js';

/**
 * Validation of every name that addresses an object: namespace, collection, key. Everything is
 * checked here, at the edge of the store, before it reaches SQL or a file name. Keys never become
 * file names (blob files are named by random ids), so `../x` is just a key; what keys may not hold
 * is what breaks listings, logs and terminals: control characters, unpaired surrogates (which
 * UTF-8 cannot encode, so two different strings would store as one key) and edge whitespace.
 */

/** The person's own namespace. */
export const PERSON_NAMESPACE = 'person';
/** An app's namespace: `app:<appId>`. An app's list sees only its own namespace. */
export type Namespace = typeof PERSON_NAMESPACE | `app:${string}`;

/** The person's standard collections (design §5); custom collections are allowed besides these. */
export const PERSON_COLLECTIONS = ['notes', 'contacts', 'files', 'chat', 'memory'] as const;
export type PersonCollection = (typeof PERSON_COLLECTIONS)[number];

export const COLLECTION_RE = /^[a-z][a-z0-9_-]{0,31}$/;
export const APP_ID_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const MAX_KEY_BYTES = 512;

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE_RE = /\p{Cs}/u;
const EDGE_SPACE_RE = /^\s|\s$/;

const encoder = new TextEncoder();

export function appNamespace(appId: string): Namespace {
  if (typeof appId !== 'string' || !APP_ID_RE.test(appId)) {
    throw new InstanceError(
      'invalid_name',
      'an app id is 1 to 128 characters of a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
      { appId },
    );
  }
  return `app:${appId}`;
}

export function isNamespace(ns: unknown): ns is Namespace {
  if (typeof ns !== 'string') return false;
  if (ns === PERSON_NAMESPACE) return true;
  return ns.startsWith('app:') && APP_ID_RE.test(ns.slice(4));
}

export function checkNamespace(ns: unknown): asserts ns is Namespace {
  if (!isNamespace(ns)) {
    throw new InstanceError(
      'invalid_name',
      `a namespace is "person" or "app:<appId>" (appId: 1 to 128 characters of a-z, 0-9, ".", "_", "-")`,
      { namespace: ns },
    );
  }
}

export function checkCollection(collection: unknown): asserts collection is string {
  if (typeof collection !== 'string' || !COLLECTION_RE.test(collection)) {
    throw new InstanceError(
      'invalid_name',
      'a collection name is 1 to 32 characters of a-z, 0-9, "_" and "-", starting with a letter',
      { collection },
    );
  }
}

function keyProblem(key: string, bytes: number): string | null {
  if (bytes > MAX_KEY_BYTES) return 'too_long';
  if (CONTROL_RE.test(key)) return 'control_character';
  if (LONE_SURROGATE_RE.test(key)) return 'unpaired_surrogate';
  return null;
}

/** Checks an object key and returns its UTF-8 bytes (what the database stores and orders by). */
export function encodeKey(key: unknown): Uint8Array {
  if (typeof key !== 'string') {
    throw new InstanceError('invalid_key', 'an object key is a string', { type: typeof key });
  }
  const bytes = encoder.encode(key);
  const problem =
    bytes.length === 0
      ? 'empty'
      : (keyProblem(key, bytes.length) ?? (EDGE_SPACE_RE.test(key) ? 'edge_whitespace' : null));
  if (problem !== null) {
    throw new InstanceError(
      'invalid_key',
      `an object key is 1 to ${MAX_KEY_BYTES} bytes of UTF-8 without control characters and without leading or trailing whitespace`,
      { problem, bytes: bytes.length },
    );
  }
  return bytes;
}

/**
 * Checks a list prefix and returns its UTF-8 bytes. A prefix is any beginning of a valid key: it
 * may be empty and may end in whitespace ("my notes ").
 */
export function encodePrefix(prefix: unknown): Uint8Array {
  if (typeof prefix !== 'string') {
    throw new InstanceError('invalid_key', 'a list prefix is a string', { type: typeof prefix });
  }
  const bytes = encoder.encode(prefix);
  const problem = keyProblem(prefix, bytes.length) ?? (/^\s/.test(prefix) ? 'edge_whitespace' : null);
  if (problem !== null) {
    throw new InstanceError(
      'invalid_key',
      `a list prefix is the beginning of a valid key: at most ${MAX_KEY_BYTES} bytes, no control characters, no leading whitespace`,
      { problem, bytes: bytes.length },
    );
  }
  return bytes;
}
