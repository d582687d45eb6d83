import { bech32m } from '@scure/base';
import { CryptoError } from './errors.js';
import { sha3_256 } from './hash.js';

export const ADDRESS_PREFIX = 'self';
export const ADDRESS_BYTES = 20;
/** Canonical form only: lowercase, `self1` + 32 data characters + 6 checksum characters = 43. */
export const ADDRESS_RE = /^self1[02-9ac-hj-np-z]{38}$/;
export const DID_PREFIX = 'did:self:';

/** `self1…`: bech32m of the first 20 bytes of SHA3-256 over the encoded account public key. */
export function addressFromPublicKey(encodedPublicKey: Uint8Array): string {
  // Nodes derive the same few thousand addresses (validators, active accounts) over and over.
  const id = Buffer.from(
    encodedPublicKey.buffer,
    encodedPublicKey.byteOffset,
    encodedPublicKey.byteLength,
  ).toString('latin1');
  let address = addressCache.get(id);
  if (address === undefined) {
    address = encodeAddress(sha3_256(encodedPublicKey).subarray(0, ADDRESS_BYTES));
    if (addressCache.size >= ADDRESS_CACHE_LIMIT) addressCache.clear();
    addressCache.set(id, address);
  }
  return address;
}

const addressCache = new Map<string, string>();
const ADDRESS_CACHE_LIMIT = 20_000;

export function encodeAddress(bytes: Uint8Array): string {
  if (bytes.length !== ADDRESS_BYTES)
    throw new CryptoError('bad_address', `address must be ${ADDRESS_BYTES} bytes`);
  return bech32m.encode(ADDRESS_PREFIX, bech32m.toWords(bytes));
}

/**
 * The 20 address bytes. Throws CryptoError('bad_address') on anything but a canonical address
 * with a valid bech32m checksum. The input is not echoed: a person may paste a secret by mistake.
 */
export function decodeAddress(address: string): Uint8Array {
  if (typeof address !== 'string' || !ADDRESS_RE.test(address)) {
    throw new CryptoError(
      'bad_address',
      'not a SELF address (expected self1 followed by 38 bech32 characters)',
    );
  }
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32m.decode(address as `${string}1${string}`);
  } catch {
    throw new CryptoError('bad_address', 'SELF address checksum does not match');
  }
  if (decoded.prefix !== ADDRESS_PREFIX) throw new CryptoError('bad_address', 'wrong address prefix');
  let bytes: Uint8Array;
  try {
    bytes = bech32m.fromWords(decoded.words);
  } catch {
    throw new CryptoError('bad_address', 'SELF address has invalid padding');
  }
  if (bytes.length !== ADDRESS_BYTES) throw new CryptoError('bad_address', 'wrong address length');
  return bytes;
}

export function isAddress(value: unknown): value is string {
  if (typeof value !== 'string' || !ADDRESS_RE.test(value)) return false;
  if (validAddresses.has(value)) return true;
  try {
    decodeAddress(value);
  } catch {
    return false;
  }
  if (validAddresses.size >= VALID_ADDRESS_MEMO) validAddresses.clear();
  validAddresses.add(value);
  return true;
}

/**
 * Addresses already found valid. Blocks repeat the same few thousand addresses (colour
 * transitions, transfers), and the bech32m checksum is the costly part of checking one.
 */
const validAddresses = new Set<string>();
const VALID_ADDRESS_MEMO = 65_536;

/** `did:self:<address>`. Throws CryptoError('bad_address') if the address is not valid. */
export function didFromAddress(address: string): string {
  decodeAddress(address);
  return DID_PREFIX + address;
}

/** The address inside a `did:self:` DID. Throws CryptoError('bad_did'). */
export function addressFromDid(did: string): string {
  if (typeof did !== 'string' || !did.startsWith(DID_PREFIX))
    throw new CryptoError('bad_did', 'not a did:self identifier');
  const address = did.slice(DID_PREFIX.length);
  if (!isAddress(address))
    throw new CryptoError('bad_did', 'did:self identifier does not hold a valid address');
  return address;
}

export function isDid(value: unknown): value is string {
  return (
    typeof value === 'string' && value.startsWith(DID_PREFIX) && isAddress(value.slice(DID_PREFIX.length))
  );
}
