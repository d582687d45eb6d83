import { describe, expect, it } from 'vitest';
import { accountKeysFromPhrase } from '../src/account.js';
import {
  addressFromDid,
  addressFromPublicKey,
  decodeAddress,
  didFromAddress,
  encodeAddress,
  isAddress,
  isDid,
} from '../src/address.js';
import { toHex } from '../src/bytes.js';
import { sha3_256 } from '../src/hash.js';
import { ABANDON_PHRASE, expectCryptoError, sequence } from './fixtures.js';

const { account, address, did } = accountKeysFromPhrase(ABANDON_PHRASE);

/** Changes one data character of an address to another valid bech32 character. */
function corrupt(addr: string, at: number): string {
  const c = addr[at] === 'q' ? 'p' : 'q';
  return addr.slice(0, at) + c + addr.slice(at + 1);
}

describe('addresses and DIDs', () => {
  it('is 43 characters of self1 + bech32m, and matches the design’s pattern', () => {
    expect(address).toHaveLength(43);
    expect(address).toMatch(/^self[a-z0-9]{39}$/);
    expect(address.startsWith('self1')).toBe(true);
    expect(isAddress(address)).toBe(true);
  });

  it('is the bech32m of the first 20 bytes of SHA3-256 of the encoded public key', () => {
    expect(toHex(decodeAddress(address))).toBe(toHex(sha3_256(account.publicKey).subarray(0, 20)));
    expect(addressFromPublicKey(account.publicKey)).toBe(address);
  });

  it('round-trips bytes ↔ address', () => {
    for (const bytes of [new Uint8Array(20), new Uint8Array(20).fill(0xff), sequence(7, 20)]) {
      const encoded = encodeAddress(bytes);
      expect(encoded).toMatch(/^self1[02-9ac-hj-np-z]{38}$/);
      expect(decodeAddress(encoded)).toEqual(bytes);
    }
  });

  it('rejects a bad checksum, any changed character, wrong case, prefix or length', () => {
    for (let at = 5; at < 43; at += 7) {
      expectCryptoError(() => decodeAddress(corrupt(address, at)), 'bad_address');
      expect(isAddress(corrupt(address, at))).toBe(false);
    }
    expectCryptoError(() => decodeAddress(address.toUpperCase()), 'bad_address');
    expectCryptoError(() => decodeAddress(`selg${address.slice(4)}`), 'bad_address');
    expectCryptoError(() => decodeAddress(address.slice(0, 42)), 'bad_address');
    expectCryptoError(() => decodeAddress(`${address}q`), 'bad_address');
    expectCryptoError(() => decodeAddress(''), 'bad_address');
    expectCryptoError(() => encodeAddress(new Uint8Array(19)), 'bad_address');
    expect(isAddress(42)).toBe(false);
  });

  it('does not echo the rejected input in the error', () => {
    const secretish = 'self1-looks-like-a-pasted-secret-do-not-log';
    expect(expectCryptoError(() => decodeAddress(secretish), 'bad_address').message).not.toContain('pasted');
  });

  it('DIDs are did:self:<address> and round-trip', () => {
    expect(did).toBe(`did:self:${address}`);
    expect(didFromAddress(address)).toBe(did);
    expect(addressFromDid(did)).toBe(address);
    expect(isDid(did)).toBe(true);
    expect(isDid(`did:self:${corrupt(address, 10)}`)).toBe(false);
    expectCryptoError(() => addressFromDid(`did:web:${address}`), 'bad_did');
    expectCryptoError(() => addressFromDid(`did:self:${corrupt(address, 10)}`), 'bad_did');
    expectCryptoError(() => didFromAddress(corrupt(address, 10)), 'bad_address');
  });
});
