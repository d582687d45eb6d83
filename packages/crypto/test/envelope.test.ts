import { randomBytes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, equalBytes, utf8 } from '../src/bytes.js';
import {
  DEFAULT_AEAD_ALG,
  envelopeLength,
  open,
  parseEnvelopeHeader,
  seal,
  sealWithFixedNonceForTestVectorsOnly,
  type AeadAlg,
} from '../src/envelope.js';
import { expectCryptoError, flipBit, sequence } from './fixtures.js';

const key = sequence(0, 32);
const plaintext = utf8('the instance data key, or a record');
const aad = utf8('self:record:42');
const ALGS: AeadAlg[] = ['aes-256-gcm', 'xchacha20-poly1305'];
const HEADER_BYTES: Record<AeadAlg, number> = { 'aes-256-gcm': 5 + 12, 'xchacha20-poly1305': 5 + 24 };

describe('symmetric envelope', () => {
  it('defaults to XChaCha20-Poly1305', () => {
    expect(DEFAULT_AEAD_ALG).toBe('xchacha20-poly1305');
    expect(parseEnvelopeHeader(seal(key, plaintext)).alg).toBe('xchacha20-poly1305');
  });

  for (const alg of ALGS) {
    describe(alg, () => {
      const envelope = seal(key, plaintext, { alg, aad });
      const headerBytes = HEADER_BYTES[alg];

      it('round-trips, with the documented header and length, and fresh nonces', () => {
        expect(envelope.length).toBe(envelopeLength(plaintext.length, alg));
        expect(Array.from(envelope.subarray(0, 5))).toEqual([
          0x53,
          0x4c,
          0x46,
          0x01,
          alg === 'aes-256-gcm' ? 1 : 2,
        ]);
        expect(open(key, envelope, { aad })).toEqual(plaintext);
        expect(seal(key, plaintext, { alg, aad })).not.toEqual(envelope);
        expect(open(key, seal(key, new Uint8Array(0), { alg }))).toEqual(new Uint8Array(0));
      });

      it('fails authentication when header, nonce, ciphertext, tag, AAD or key change', () => {
        const tampered: Array<[string, Uint8Array, Uint8Array, Uint8Array]> = [
          ['magic', key, flipBit(envelope, 1), aad],
          ['nonce', key, flipBit(envelope, 6), aad],
          ['last nonce byte', key, flipBit(envelope, headerBytes - 1), aad],
          ['ciphertext', key, flipBit(envelope, headerBytes), aad],
          ['tag', key, flipBit(envelope, -1), aad],
          ['aad', key, envelope, utf8('self:record:43')],
          ['missing aad', key, envelope, new Uint8Array(0)],
          ['key', flipBit(key, 0), envelope, aad],
        ];
        for (const [name, k, env, a] of tampered) {
          const reason = name === 'magic' ? 'bad_envelope' : 'auth_failed';
          expect(() => expectCryptoError(() => open(k, env, { aad: a }), reason), name).not.toThrow();
        }
      });

      it('authenticates the header: swapping the algorithm byte fails, it is never reinterpreted', () => {
        const other = alg === 'aes-256-gcm' ? 2 : 1;
        const swapped = Uint8Array.from(envelope);
        swapped[4] = other;
        // Either too short for the other algorithm's nonce or a failed tag: never plaintext.
        expect(() => open(key, swapped, { aad })).toThrow();
      });

      it('reports unknown versions and algorithms, and truncation, with typed errors', () => {
        const v2 = Uint8Array.from(envelope);
        v2[3] = 0x02;
        expectCryptoError(() => open(key, v2, { aad }), 'unsupported_version');
        const alg9 = Uint8Array.from(envelope);
        alg9[4] = 0x09;
        expectCryptoError(() => open(key, alg9, { aad }), 'unsupported_alg');
        expectCryptoError(() => open(key, envelope.subarray(0, headerBytes + 15), { aad }), 'bad_envelope');
        expectCryptoError(() => open(key, envelope.subarray(0, 4), { aad }), 'bad_envelope');
        expectCryptoError(() => open(key, new Uint8Array(0)), 'bad_envelope');
        expectCryptoError(() => open(key.subarray(1), envelope, { aad }), 'bad_key');
        expectCryptoError(() => seal(key.subarray(1), plaintext, { alg }), 'bad_key');
      });
    });
  }

  it('authenticates header || caller AAD, as documented (checked with noble AES-GCM)', () => {
    const nonce = sequence(0x80, 12);
    const envelope = sealWithFixedNonceForTestVectorsOnly(key, plaintext, nonce, { alg: 'aes-256-gcm', aad });
    const header = envelope.subarray(0, 17);
    expect(gcm(key, nonce, concatBytes(header, aad)).decrypt(envelope.subarray(17))).toEqual(plaintext);
  });

  it('rejects an unknown algorithm name from untyped callers', () => {
    expectCryptoError(() => seal(key, plaintext, { alg: 'toString' as AeadAlg }), 'unsupported_alg');
    expectCryptoError(() => seal(key, plaintext, { alg: 'rot13' as AeadAlg }), 'unsupported_alg');
  });

  it('handles large messages (1 MiB) under both algorithms', () => {
    const big = new Uint8Array(randomBytes(1 << 20));
    // equalBytes, not toEqual: vitest's deep equality walks a 1 MiB array element by element.
    for (const alg of ALGS) expect(equalBytes(open(key, seal(key, big, { alg })), big)).toBe(true);
  });
});
