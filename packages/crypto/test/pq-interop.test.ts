import { shake128 } from '@noble/hashes/sha3.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../src/bytes.js';
import { sha256 } from '../src/hash.js';
import {
  MLDSA65_PUBLIC_KEY_BYTES,
  MLDSA65_SECRET_KEY_BYTES,
  MLDSA65_SIGNATURE_BYTES,
  mldsa65KeyPairFromSeed,
  mldsa65Sign,
  mldsa65Verify,
  mldsaBackend,
  nativeMlDsa65,
  nobleMlDsa65,
} from '../src/mldsa.js';
import {
  MLKEM768_CIPHERTEXT_BYTES,
  MLKEM768_PUBLIC_KEY_BYTES,
  MLKEM768_SECRET_KEY_BYTES,
  isValidMlKem768PublicKey,
  isValidMlKem768SecretKey,
  mlkem768Decapsulate,
  mlkem768Encapsulate,
  mlkem768EncapsulateForTestVectorsOnly,
  mlkem768KeyPairFromSeed,
  mlkemBackend,
  nativeMlKem768,
  nobleMlKem768,
} from '../src/mlkem.js';
import { docVector } from '../../../scripts/doc-vectors.js';
import { expectCryptoError, flipBit, sequence } from './fixtures.js';

const DOC = 'docs/protocol/crypto.md';
const hasNative = nativeMlDsa65 !== null && nativeMlKem768 !== null;

describe('ML-KEM-768 (FIPS 203)', () => {
  it('has the FIPS 203 sizes', () => {
    const { publicKey, secretKey } = mlkem768KeyPairFromSeed(sequence(0, 64));
    const { ciphertext, sharedSecret } = mlkem768Encapsulate(publicKey);
    expect([publicKey.length, secretKey.length, ciphertext.length, sharedSecret.length]).toEqual([
      MLKEM768_PUBLIC_KEY_BYTES,
      MLKEM768_SECRET_KEY_BYTES,
      MLKEM768_CIPHERTEXT_BYTES,
      32,
    ]);
  });

  it(`matches the accumulated known answers (100 iterations), decapsulating with ${mlkemBackend} too`, () => {
    const { hash, iterations } = docVector<{ hash: string; iterations: number }>(
      DOC,
      'mlkem768-accumulated-100',
    );
    const source = shake128.create({});
    const sink = shake128.create({});
    for (let i = 0; i < iterations; i++) {
      const { publicKey, secretKey } = mlkem768KeyPairFromSeed(source.xof(64));
      sink.update(publicKey);
      const { ciphertext, sharedSecret } = mlkem768EncapsulateForTestVectorsOnly(publicKey, source.xof(32));
      sink.update(ciphertext).update(sharedSecret);
      // The production path (native where built) must agree, including on implicit rejection.
      expect(mlkem768Decapsulate(secretKey, ciphertext)).toEqual(sharedSecret);
      const garbage = source.xof(MLKEM768_CIPHERTEXT_BYTES);
      const rejected = nobleMlKem768.decapsulate(secretKey, garbage);
      expect(mlkem768Decapsulate(secretKey, garbage)).toEqual(rejected);
      sink.update(rejected);
    }
    expect(toHex(sink.xof(32))).toBe(hash);
  });

  it.runIf(hasNative)('native and noble accept each other’s keys and ciphertexts, both directions', () => {
    // noble keys → native encapsulation → noble decapsulation, and back.
    const noble = mlkem768KeyPairFromSeed(sequence(7, 64));
    const toNoble = nativeMlKem768!.encapsulate(noble.publicKey);
    expect(nobleMlKem768.decapsulate(noble.secretKey, toNoble.ciphertext)).toEqual(toNoble.sharedSecret);
    const toNative = nobleMlKem768.encapsulate(noble.publicKey);
    expect(nativeMlKem768!.decapsulate(noble.secretKey, toNative.ciphertext)).toEqual(toNative.sharedSecret);
    // native keys → noble encapsulation → native decapsulation, and back.
    const native = nativeMlKem768!.keyPair();
    expect(isValidMlKem768PublicKey(native.publicKey)).toBe(true);
    expect(isValidMlKem768SecretKey(native.secretKey)).toBe(true);
    const a = nobleMlKem768.encapsulate(native.publicKey);
    expect(nativeMlKem768!.decapsulate(native.secretKey, a.ciphertext)).toEqual(a.sharedSecret);
    const b = nativeMlKem768!.encapsulate(native.publicKey);
    expect(nobleMlKem768.decapsulate(native.secretKey, b.ciphertext)).toEqual(b.sharedSecret);
  });

  it('works on subarray views (keys sliced out of larger encodings)', () => {
    const { publicKey, secretKey } = mlkem768KeyPairFromSeed(sequence(9, 64));
    const padded = new Uint8Array(publicKey.length + 5);
    padded.set(publicKey, 5);
    const paddedSk = new Uint8Array(secretKey.length + 3);
    paddedSk.set(secretKey, 3);
    const { ciphertext, sharedSecret } = mlkem768Encapsulate(padded.subarray(5));
    expect(mlkem768Decapsulate(paddedSk.subarray(3), ciphertext)).toEqual(sharedSecret);
  });

  it('rejects unreduced or mis-sized public keys and corrupted or mis-sized secret keys', () => {
    const { publicKey, secretKey } = mlkem768KeyPairFromSeed(sequence(1, 64));
    const unreduced = Uint8Array.from(publicKey);
    unreduced[0] = 0xff;
    unreduced[1] = unreduced[1]! | 0x0f; // first coefficient = 4095 ≥ q
    expect(isValidMlKem768PublicKey(unreduced)).toBe(false);
    expectCryptoError(() => mlkem768Encapsulate(unreduced), 'bad_key');
    expectCryptoError(() => mlkem768Encapsulate(publicKey.subarray(1)), 'bad_key');
    expect(isValidMlKem768SecretKey(flipBit(secretKey, 1500))).toBe(false); // inside the embedded ek
    expectCryptoError(() => mlkem768Decapsulate(flipBit(secretKey, 1500), new Uint8Array(1088)), 'bad_key');
    expectCryptoError(() => mlkem768Decapsulate(secretKey, new Uint8Array(1087)), 'bad_ciphertext');
  });
});

describe('ML-DSA-65 (FIPS 204)', () => {
  it('has the FIPS 204 sizes', () => {
    const { publicKey, secretKey } = mldsa65KeyPairFromSeed(sequence(0, 32));
    const signature = mldsa65Sign(secretKey, utf8('m'));
    expect([publicKey.length, secretKey.length, signature.length]).toEqual([
      MLDSA65_PUBLIC_KEY_BYTES,
      MLDSA65_SECRET_KEY_BYTES,
      MLDSA65_SIGNATURE_BYTES,
    ]);
  });

  it(`matches the accumulated known answers (100 iterations), verifying with ${mldsaBackend} too`, () => {
    const { hash, iterations } = docVector<{ hash: string; iterations: number }>(
      DOC,
      'mldsa65-accumulated-100',
    );
    const source = shake128.create({});
    const sink = shake128.create({});
    const empty = new Uint8Array(0);
    for (let i = 0; i < iterations; i++) {
      const { publicKey, secretKey } = mldsa65KeyPairFromSeed(source.xof(32));
      sink.update(publicKey);
      const signature = ml_dsa65.sign(empty, secretKey, { extraEntropy: false });
      sink.update(signature);
      if (i % 10 === 0) expect(mldsa65Verify(publicKey, empty, signature)).toBe(true);
    }
    expect(toHex(sink.xof(32))).toBe(hash);
  });

  it('pins a seeded key (seed 00..1f → SHA-256 of the public key)', () => {
    const { publicKey } = mldsa65KeyPairFromSeed(sequence(0, 32));
    expect(toHex(sha256(publicKey))).toBe('d666806e11cee19a7c989f7445f90dd419cf4d2d51db8c0fdb4c0f0a542238c9');
  });

  it.runIf(hasNative)('native and noble accept each other’s keys and signatures, both directions', () => {
    const message = utf8('interop');
    const seeded = mldsa65KeyPairFromSeed(sequence(3, 32));
    expect(
      nobleMlDsa65.verify(seeded.publicKey, message, nativeMlDsa65!.sign(seeded.secretKey, message)),
    ).toBe(true);
    expect(
      nativeMlDsa65!.verify(seeded.publicKey, message, nobleMlDsa65.sign(seeded.secretKey, message)),
    ).toBe(true);
    const native = nativeMlDsa65!.keyPair();
    expect(
      nobleMlDsa65.verify(native.publicKey, message, nativeMlDsa65!.sign(native.secretKey, message)),
    ).toBe(true);
    expect(
      nativeMlDsa65!.verify(native.publicKey, message, nobleMlDsa65.sign(native.secretKey, message)),
    ).toBe(true);
  });

  it('verify returns false, never throws, on altered or malformed input', () => {
    const { publicKey, secretKey } = mldsa65KeyPairFromSeed(sequence(5, 32));
    const message = utf8('m');
    const signature = mldsa65Sign(secretKey, message);
    expect(mldsa65Verify(publicKey, message, signature)).toBe(true);
    expect(mldsa65Verify(publicKey, message, flipBit(signature, 100))).toBe(false);
    expect(mldsa65Verify(publicKey, utf8('n'), signature)).toBe(false);
    expect(mldsa65Verify(flipBit(publicKey, 40), message, signature)).toBe(false);
    expect(mldsa65Verify(publicKey, message, signature.subarray(1))).toBe(false);
    expect(mldsa65Verify(publicKey.subarray(1), message, signature)).toBe(false);
    expect(mldsa65Verify(publicKey, message, new Uint8Array(MLDSA65_SIGNATURE_BYTES).fill(0xff))).toBe(false);
  });
});
