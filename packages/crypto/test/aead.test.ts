import { randomBytes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import {
  aes256GcmOpen,
  aes256GcmSeal,
  nobleXChaCha20Poly1305,
  xchacha20Poly1305Open,
  xchacha20Poly1305Seal,
  xchachaBackend,
} from '../src/aead.js';
import { equalBytes, fromHex, toHex, utf8 } from '../src/bytes.js';
import { flipBit, sequence } from './fixtures.js';

describe('raw AEADs', () => {
  it('XChaCha20-Poly1305 matches draft-irtf-cfrg-xchacha-03 §A.3.1', () => {
    const key = sequence(0x80, 32);
    const nonce = sequence(0x40, 24);
    const aad = fromHex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = utf8(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const expected =
      'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e' +
      'c0875924c1c7987947deafd8780acf49';
    expect(toHex(xchacha20Poly1305Seal(key, nonce, plaintext, aad))).toBe(expected);
    expect(toHex(nobleXChaCha20Poly1305.seal(key, nonce, plaintext, aad))).toBe(expected);
    expect(xchacha20Poly1305Open(key, nonce, fromHex(expected), aad)).toEqual(plaintext);
  });

  it('AES-256-GCM matches the GCM specification test case 16 (256-bit key, AAD)', () => {
    const key = fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
    const nonce = fromHex('cafebabefacedbaddecaf888');
    const plaintext = fromHex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    );
    const aad = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const expected =
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
      '76fc6ece0f4e1768cddf8853bb2d551b';
    expect(toHex(aes256GcmSeal(key, nonce, plaintext, aad))).toBe(expected);
    expect(aes256GcmOpen(key, nonce, fromHex(expected), aad)).toEqual(plaintext);
  });

  it(`the accelerated XChaCha20-Poly1305 (${xchachaBackend}) is byte-identical to noble in both directions`, () => {
    for (const length of [0, 1, 63, 64, 65, 1000, 5000]) {
      const key = new Uint8Array(randomBytes(32));
      const nonce = new Uint8Array(randomBytes(24));
      const aad = new Uint8Array(randomBytes(length % 37));
      const plaintext = new Uint8Array(randomBytes(length));
      const ours = xchacha20Poly1305Seal(key, nonce, plaintext, aad);
      expect(ours).toEqual(nobleXChaCha20Poly1305.seal(key, nonce, plaintext, aad));
      expect(nobleXChaCha20Poly1305.open(key, nonce, ours, aad)).toEqual(plaintext);
      expect(xchacha20Poly1305Open(key, nonce, ours, aad)).toEqual(plaintext);
    }
  });

  it('long messages, processed by OpenSSL in 64 KiB slices, match noble for both AEADs', () => {
    const key = new Uint8Array(randomBytes(32));
    const plaintext = new Uint8Array(randomBytes(3 * 65_536 + 17));
    const aad = utf8('slices');
    const gcmNonce = new Uint8Array(randomBytes(12));
    const ours = aes256GcmSeal(key, gcmNonce, plaintext, aad);
    expect(equalBytes(ours, gcm(key, gcmNonce, aad).encrypt(plaintext))).toBe(true);
    expect(equalBytes(aes256GcmOpen(key, gcmNonce, ours, aad)!, plaintext)).toBe(true);
    const xNonce = new Uint8Array(randomBytes(24));
    const xc = xchacha20Poly1305Seal(key, xNonce, plaintext, aad);
    expect(equalBytes(xc, nobleXChaCha20Poly1305.seal(key, xNonce, plaintext, aad))).toBe(true);
    expect(equalBytes(xchacha20Poly1305Open(key, xNonce, xc, aad)!, plaintext)).toBe(true);
  });

  it('open returns null, never throws, on a bad tag, a wrong AAD or a too-short input', () => {
    const key = sequence(1, 32);
    const plaintext = utf8('secret');
    const gcm = aes256GcmSeal(key, sequence(0, 12), plaintext, utf8('a'));
    expect(aes256GcmOpen(key, sequence(0, 12), flipBit(gcm, -1), utf8('a'))).toBeNull();
    expect(aes256GcmOpen(key, sequence(0, 12), gcm, utf8('b'))).toBeNull();
    expect(aes256GcmOpen(key, sequence(0, 12), gcm.subarray(0, 15), utf8('a'))).toBeNull();
    const xc = xchacha20Poly1305Seal(key, sequence(0, 24), plaintext, utf8('a'));
    expect(xchacha20Poly1305Open(key, sequence(0, 24), flipBit(xc, 0), utf8('a'))).toBeNull();
    expect(xchacha20Poly1305Open(key, sequence(0, 24), xc, utf8('b'))).toBeNull();
    expect(xchacha20Poly1305Open(key, sequence(0, 24), xc.subarray(0, 15), utf8('a'))).toBeNull();
  });
});
