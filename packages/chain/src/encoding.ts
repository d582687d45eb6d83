import { decode as cborDecode, encode as cborEncode } from 'cborg';
import { equalBytes, taggedHash } from '@self/crypto';

/** Typed encoding/decoding failure; always carries a stable reason code. */
export class EncodingError extends Error {
  constructor(
    readonly reason: 'malformed_cbor' | 'non_canonical' | 'oversized' | 'unsupported_value',
    message: string,
  ) {
    super(message);
    this.name = 'EncodingError';
  }
}

function rejectNumber(n: unknown): null {
  if (typeof n === 'number' && !Number.isSafeInteger(n)) {
    throw new EncodingError('unsupported_value', `only safe integers are encodable, got ${String(n)}`);
  }
  return null;
}

function rejectValue(kind: string): () => null {
  return () => {
    throw new EncodingError('unsupported_value', `${kind} is not encodable`);
  };
}

const ENCODE_OPTIONS = {
  // cborg's default map sorter is RFC 8949 §4.2 core deterministic (length-first, then bytewise).
  typeEncoders: {
    number: rejectNumber,
    undefined: rejectValue('undefined'),
    bigint: rejectValue('bigint'),
    Map: rejectValue('Map'),
  },
};

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
};

/** Deterministic CBOR (RFC 8949 §4.2): shortest integers, sorted map keys, definite lengths, no floats. */
export function encode(value: unknown): Uint8Array {
  try {
    return cborEncode(value, ENCODE_OPTIONS);
  } catch (err) {
    if (err instanceof EncodingError) throw err;
    throw new EncodingError('unsupported_value', (err as Error).message);
  }
}

/**
 * Strict decode: rejects malformed input, trailing bytes, floats and any encoding that is not the
 * canonical one (re-encoding must reproduce the input byte for byte, so one value has one hash).
 */
export function decode(bytes: Uint8Array, maxBytes = 64 * 1024 * 1024): unknown {
  if (bytes.length > maxBytes) {
    throw new EncodingError('oversized', `encoded value is ${bytes.length} bytes, limit ${maxBytes}`);
  }
  let value: unknown;
  try {
    value = cborDecode(bytes, DECODE_OPTIONS);
  } catch (err) {
    throw new EncodingError('malformed_cbor', (err as Error).message);
  }
  let again: Uint8Array;
  try {
    again = encode(value);
  } catch (err) {
    throw new EncodingError('unsupported_value', (err as Error).message);
  }
  if (!equalBytes(again, bytes)) throw new EncodingError('non_canonical', 'CBOR is not in canonical form');
  return value;
}

/**
 * Decode for bytes this node wrote itself (its own state records): same strict parser, but no
 * canonical re-encoding check, which costs as much as the decode. Never use it on peer input.
 */
export function decodeTrusted(bytes: Uint8Array): unknown {
  try {
    return cborDecode(bytes, DECODE_OPTIONS);
  } catch (err) {
    throw new EncodingError('malformed_cbor', (err as Error).message);
  }
}

/** SHA-256(domain || 0x00 || canonical CBOR(value)). */
export function hashValue(domain: string, value: unknown): Uint8Array {
  return taggedHash(domain, encode(value));
}
