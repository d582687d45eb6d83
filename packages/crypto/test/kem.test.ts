import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from '../src/bytes.js';
import {
  HYBRID_KEM_CIPHERTEXT_BYTES,
  HYBRID_KEM_PUBLIC_KEY_BYTES,
  HYBRID_KEM_SECRET_KEY_BYTES,
  decodeHybridKemPublicKey,
  encryptionKeysFromSeed,
  generateHybridKemKeyPair,
  hybridKemDecapsulate,
  hybridKemEncapsulate,
  hybridKemEncapsulateForTestVectorsOnly,
  hybridKemKeyPairFromSeeds,
  hybridKemPublicKeyFromSecretKey,
} from '../src/kem.js';
import { recoveryPhraseToSeed } from '../src/mnemonic.js';
import { x25519PublicKey, x25519SharedSecret } from '../src/x25519.js';
import { ABANDON_PHRASE, expectCryptoError, flipBit, sequence } from './fixtures.js';

const keys = hybridKemKeyPairFromSeeds({ x25519: sequence(0, 32), mlkem768: sequence(0x40, 64) });

describe('X25519 (RFC 7748 §6.1)', () => {
  it('derives Alice’s and Bob’s public keys and their shared secret', () => {
    const alice = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex(x25519PublicKey(alice))).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    expect(toHex(x25519PublicKey(bob))).toBe(
      'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
    );
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex(x25519SharedSecret(alice, x25519PublicKey(bob)))).toBe(shared);
    expect(toHex(x25519SharedSecret(bob, x25519PublicKey(alice)))).toBe(shared);
  });

  it('refuses small-order peer keys', () => {
    expectCryptoError(() => x25519SharedSecret(sequence(0, 32), new Uint8Array(32)), 'bad_key');
    expectCryptoError(() => x25519SharedSecret(sequence(0, 32), fromHex('01'.padEnd(64, '0'))), 'bad_key');
  });
});

describe('hybrid KEM X25519 + ML-KEM-768 (0x04)', () => {
  it('has the pinned sizes and round-trips', () => {
    expect(keys.publicKey.length).toBe(HYBRID_KEM_PUBLIC_KEY_BYTES);
    expect(keys.secretKey.length).toBe(HYBRID_KEM_SECRET_KEY_BYTES);
    expect(keys.publicKey[0]).toBe(0x04);
    const { ciphertext, sharedSecret } = hybridKemEncapsulate(keys.publicKey);
    expect(ciphertext.length).toBe(HYBRID_KEM_CIPHERTEXT_BYTES);
    expect(ciphertext[0]).toBe(0x04);
    expect(sharedSecret.length).toBe(32);
    expect(hybridKemDecapsulate(keys.secretKey, ciphertext)).toEqual(sharedSecret);
    // Fresh randomness every time.
    expect(hybridKemEncapsulate(keys.publicKey).sharedSecret).not.toEqual(sharedSecret);
  });

  it('is deterministic from its seeds and recovers the public key from the secret key', () => {
    const again = hybridKemKeyPairFromSeeds({ x25519: sequence(0, 32), mlkem768: sequence(0x40, 64) });
    expect(again).toEqual(keys);
    expect(hybridKemPublicKeyFromSecretKey(keys.secretKey)).toEqual(keys.publicKey);
    const random = generateHybridKemKeyPair();
    expect(hybridKemPublicKeyFromSecretKey(random.secretKey)).toEqual(random.publicKey);
  });

  it('derives the person’s encryption key from the recovery phrase', () => {
    const a = encryptionKeysFromSeed(recoveryPhraseToSeed(ABANDON_PHRASE));
    const { ciphertext, sharedSecret } = hybridKemEncapsulate(a.publicKey);
    expect(hybridKemDecapsulate(a.secretKey, ciphertext)).toEqual(sharedSecret);
  });

  it('combines the secrets with HKDF-SHA-512 exactly as documented, computed independently', () => {
    const ephemeral = sequence(0xa0, 32);
    const m = sequence(0xc0, 32);
    const { ciphertext, sharedSecret } = hybridKemEncapsulateForTestVectorsOnly(keys.publicKey, {
      x25519EphemeralSecret: ephemeral,
      mlkemRandomness: m,
    });
    // Recompute with independent implementations (noble X25519, noble ML-KEM, noble HKDF).
    const pkX = keys.publicKey.subarray(1, 33);
    const ek = keys.publicKey.subarray(33);
    const ctX = x25519.getPublicKey(ephemeral);
    const ssX = x25519.getSharedSecret(ephemeral, pkX);
    const { cipherText: ctM, sharedSecret: ssM } = ml_kem768.encapsulate(ek, m);
    expect(ciphertext).toEqual(concatBytes(new Uint8Array([4]), ctX, ctM));
    const expected = hkdf(
      sha512,
      concatBytes(ssM, ssX),
      utf8('self-hybrid-kem-v1'),
      concatBytes(ctX, pkX, nobleSha256(ctM)),
      32,
    );
    expect(sharedSecret).toEqual(expected);
    // Never the raw concatenation or either secret alone.
    expect(sharedSecret).not.toEqual(ssM);
    expect(sharedSecret).not.toEqual(ssX);
  });

  it('an altered ciphertext decapsulates to an unrelated secret (implicit rejection), either half', () => {
    const { ciphertext, sharedSecret } = hybridKemEncapsulate(keys.publicKey);
    expect(hybridKemDecapsulate(keys.secretKey, flipBit(ciphertext, 5))).not.toEqual(sharedSecret); // X25519 half
    expect(hybridKemDecapsulate(keys.secretKey, flipBit(ciphertext, 500))).not.toEqual(sharedSecret); // ML-KEM half
    const other = generateHybridKemKeyPair();
    expect(hybridKemDecapsulate(other.secretKey, ciphertext)).not.toEqual(sharedSecret);
  });

  it('throws typed errors on malformed keys and ciphertexts', () => {
    const { ciphertext } = hybridKemEncapsulate(keys.publicKey);
    expectCryptoError(() => hybridKemEncapsulate(keys.publicKey.subarray(0, 100)), 'bad_key');
    expectCryptoError(() => hybridKemEncapsulate(flipBit(keys.publicKey, 0, 0)), 'unsupported_scheme');
    expectCryptoError(() => hybridKemEncapsulate(new Uint8Array(0)), 'unsupported_scheme');
    expectCryptoError(
      () => decodeHybridKemPublicKey(concatBytes(keys.publicKey, new Uint8Array(1))),
      'bad_key',
    );
    // An ML-KEM key with an unreduced coefficient fails the FIPS 203 modulus check.
    const unreduced = Uint8Array.from(keys.publicKey);
    unreduced[33] = 0xff;
    unreduced[34] = unreduced[34]! | 0x0f;
    expectCryptoError(() => hybridKemEncapsulate(unreduced), 'bad_key');
    // A small-order X25519 recipient key.
    const smallOrder = Uint8Array.from(keys.publicKey);
    smallOrder.fill(0, 1, 33);
    expectCryptoError(() => hybridKemEncapsulate(smallOrder), 'bad_key');
    expectCryptoError(
      () => hybridKemDecapsulate(keys.secretKey, ciphertext.subarray(0, 1120)),
      'bad_ciphertext',
    );
    expectCryptoError(
      () => hybridKemDecapsulate(keys.secretKey, flipBit(ciphertext, 0, 0)),
      'unsupported_scheme',
    );
    const smallOrderCt = Uint8Array.from(ciphertext);
    smallOrderCt.fill(0, 1, 33);
    expectCryptoError(() => hybridKemDecapsulate(keys.secretKey, smallOrderCt), 'bad_ciphertext');
    expectCryptoError(() => hybridKemDecapsulate(keys.secretKey.subarray(0, 2432), ciphertext), 'bad_key');
    expectCryptoError(() => hybridKemDecapsulate(flipBit(keys.secretKey, 33 + 1500), ciphertext), 'bad_key');
    expectCryptoError(() => hybridKemDecapsulate(keys.publicKey, ciphertext), 'bad_key');
  });
});
