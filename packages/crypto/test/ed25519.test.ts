import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/bytes.js';
import { ed25519PublicKeyFromSeed, ed25519Sign, ed25519Verify } from '../src/ed25519.js';
import { expectCryptoError, flipBit } from './fixtures.js';

// RFC 8032 §7.1, TEST 1, 2, 3 and TEST SHA(abc) (whose message is SHA-512("abc")).
const RFC8032 = [
  {
    name: 'TEST 1',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
  {
    name: 'TEST SHA(abc)',
    secret: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
    public: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
    message:
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    signature:
      'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
  },
];

describe('Ed25519 (RFC 8032 §7.1)', () => {
  for (const v of RFC8032) {
    it(`${v.name}: public key, signature and verification match`, () => {
      const secret = fromHex(v.secret);
      const message = fromHex(v.message);
      expect(toHex(ed25519PublicKeyFromSeed(secret))).toBe(v.public);
      expect(toHex(ed25519Sign(secret, message))).toBe(v.signature);
      expect(ed25519Verify(fromHex(v.public), message, fromHex(v.signature))).toBe(true);
    });
  }

  it('rejects altered signatures, messages and keys, and malformed lengths, without throwing', () => {
    const v = RFC8032[2]!;
    const pk = fromHex(v.public);
    const msg = fromHex(v.message);
    const sig = fromHex(v.signature);
    expect(ed25519Verify(pk, msg, flipBit(sig, 0))).toBe(false);
    expect(ed25519Verify(pk, msg, flipBit(sig, -1))).toBe(false);
    expect(ed25519Verify(pk, flipBit(msg, 0), sig)).toBe(false);
    expect(ed25519Verify(flipBit(pk, 3), msg, sig)).toBe(false);
    expect(ed25519Verify(pk, msg, sig.subarray(0, 63))).toBe(false);
    expect(ed25519Verify(pk.subarray(0, 31), msg, sig)).toBe(false);
    expect(ed25519Verify(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
  });

  it('rejects a seed of the wrong length with a typed error', () => {
    expectCryptoError(() => ed25519PublicKeyFromSeed(new Uint8Array(31)), 'bad_key');
    expectCryptoError(() => ed25519Sign(new Uint8Array(33), new Uint8Array()), 'bad_key');
  });
});
