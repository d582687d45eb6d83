import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/bytes.js';
import { generateHybridKemKeyPair, hybridKemKeyPairFromSeeds } from '../src/kem.js';
import { openWithSecretKey, sealToPublicKey } from '../src/sealed-box.js';
import { expectCryptoError, flipBit, sequence } from './fixtures.js';

const recipient = hybridKemKeyPairFromSeeds({ x25519: sequence(0, 32), mlkem768: sequence(0x40, 64) });
const dataKey = sequence(0x10, 32);
const aad = utf8('self:data-key:instance-1');

// "SLK" || version || KEM ciphertext (1121) || "SLF" envelope header (5 + 24 nonce) || ct || tag
const KEM_CT_AT = 4;
const ENVELOPE_AT = 4 + 1121;

describe('sealed box (hybrid KEM + AEAD)', () => {
  const box = sealToPublicKey(recipient.publicKey, dataKey, aad);

  it('round-trips and has the documented layout', () => {
    expect(Array.from(box.subarray(0, 5))).toEqual([0x53, 0x4c, 0x4b, 0x01, 0x04]);
    expect(Array.from(box.subarray(ENVELOPE_AT, ENVELOPE_AT + 5))).toEqual([0x53, 0x4c, 0x46, 0x01, 0x02]);
    expect(box.length).toBe(ENVELOPE_AT + 5 + 24 + dataKey.length + 16);
    expect(openWithSecretKey(recipient.secretKey, box, aad)).toEqual(dataKey);
    expect(sealToPublicKey(recipient.publicKey, dataKey, aad)).not.toEqual(box);
  });

  it('supports AES-256-GCM inside and an empty AAD', () => {
    const gcmBox = sealToPublicKey(recipient.publicKey, dataKey, undefined, { alg: 'aes-256-gcm' });
    expect(gcmBox[ENVELOPE_AT + 4]).toBe(0x01);
    expect(openWithSecretKey(recipient.secretKey, gcmBox)).toEqual(dataKey);
  });

  it('fails authentication on any altered byte region, a wrong AAD or the wrong key', () => {
    const cases: Array<[string, Uint8Array, Uint8Array, Uint8Array]> = [
      ['KEM ciphertext, X25519 half', recipient.secretKey, flipBit(box, KEM_CT_AT + 3), aad],
      ['KEM ciphertext, ML-KEM half', recipient.secretKey, flipBit(box, KEM_CT_AT + 600), aad],
      ['envelope nonce', recipient.secretKey, flipBit(box, ENVELOPE_AT + 7), aad],
      ['envelope ciphertext', recipient.secretKey, flipBit(box, ENVELOPE_AT + 30), aad],
      ['envelope tag', recipient.secretKey, flipBit(box, -1), aad],
      ['aad', recipient.secretKey, box, utf8('self:data-key:instance-2')],
      ['other recipient', generateHybridKemKeyPair().secretKey, box, aad],
    ];
    for (const [name, sk, b, a] of cases) {
      expect(() => expectCryptoError(() => openWithSecretKey(sk, b, a), 'auth_failed'), name).not.toThrow();
    }
  });

  it('reports malformed boxes with typed errors', () => {
    const v2 = Uint8Array.from(box);
    v2[3] = 2;
    expectCryptoError(() => openWithSecretKey(recipient.secretKey, v2, aad), 'unsupported_version');
    expectCryptoError(() => openWithSecretKey(recipient.secretKey, flipBit(box, 0), aad), 'bad_envelope');
    expectCryptoError(
      () => openWithSecretKey(recipient.secretKey, flipBit(box, KEM_CT_AT, 3), aad),
      'unsupported_scheme',
    );
    expectCryptoError(
      () => openWithSecretKey(recipient.secretKey, box.subarray(0, 1000), aad),
      'bad_envelope',
    );
    expectCryptoError(
      () => openWithSecretKey(recipient.secretKey, box.subarray(0, ENVELOPE_AT + 20), aad),
      'bad_envelope',
    );
    expectCryptoError(() => openWithSecretKey(recipient.secretKey, new Uint8Array(0)), 'bad_envelope');
    expectCryptoError(
      () => openWithSecretKey(recipient.secretKey.subarray(1), box, aad),
      'unsupported_scheme',
    );
    expectCryptoError(() => sealToPublicKey(recipient.publicKey.subarray(0, 50), dataKey), 'bad_key');
    expectCryptoError(() => sealToPublicKey(sequence(1, 33), dataKey), 'unsupported_scheme');
  });
});
