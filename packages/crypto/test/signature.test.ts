import { beforeAll, describe, expect, it } from 'vitest';
import { accountKeysFromSeed } from '../src/account.js';
import { concatBytes, utf8 } from '../src/bytes.js';
import { recoveryPhraseToSeed } from '../src/mnemonic.js';
import { rootKeyFromSeed } from '../src/root-key.js';
import {
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  SignatureSchemeId,
  isSigningPublicKey,
  schemeOfPublicKey,
  signedMessage,
  signingKeyFromSeeds,
  verifySignature,
  type SigningKey,
} from '../src/signature.js';
import { ed25519Sign } from '../src/ed25519.js';
import { deriveSeed } from '../src/derive.js';
import { ABANDON_PHRASE, expectCryptoError, flipBit, sequence } from './fixtures.js';

const message = utf8('transfer 5 SELF to self1…');
const seed = recoveryPhraseToSeed(ABANDON_PHRASE);

/** Every way a verifier can be handed something wrong; each must return false without throwing. */
function expectTamperRejected(publicKey: Uint8Array, signature: Uint8Array, edSigEnd: number): void {
  expect(verifySignature(publicKey, message, signature)).toBe(true);
  const cases: Array<[string, Uint8Array, Uint8Array, Uint8Array]> = [
    ['Ed25519 half of the signature', publicKey, message, flipBit(signature, 10)],
    ['post-quantum half of the signature', publicKey, message, flipBit(signature, edSigEnd + 20)],
    ['last byte of the signature', publicKey, message, flipBit(signature, -1)],
    ['message', publicKey, flipBit(message, 0), signature],
    ['Ed25519 half of the key', flipBit(publicKey, 5), message, signature],
    ['post-quantum half of the key', flipBit(publicKey, 40), message, signature],
    ['scheme byte of the signature', publicKey, message, flipBit(signature, 0, 2)],
    ['scheme byte of both', flipBit(publicKey, 0, 2), message, flipBit(signature, 0, 2)],
    ['signature relabelled as the other hybrid', publicKey, message, flipBit(signature, 0, 0)],
    ['both relabelled as the other hybrid', flipBit(publicKey, 0, 0), message, flipBit(signature, 0, 0)],
    ['truncated signature', publicKey, message, signature.subarray(0, signature.length - 1)],
    ['truncated key', publicKey.subarray(0, publicKey.length - 1), message, signature],
    ['extended signature', publicKey, message, concatBytes(signature, new Uint8Array(1))],
    ['empty signature', publicKey, message, new Uint8Array(0)],
    ['empty key', new Uint8Array(0), message, signature],
    ['only the scheme byte', publicKey, message, signature.subarray(0, 1)],
  ];
  for (const [name, pk, m, sig] of cases) {
    expect(verifySignature(pk, m, sig), name).toBe(false);
  }
}

describe('account key: hybrid Ed25519 + ML-DSA-65 (0x02)', () => {
  const { account } = accountKeysFromSeed(seed);

  it('has the pinned encodings and round-trips', () => {
    expect(account.scheme).toBe('hybrid-ed25519-ml-dsa-65');
    expect(account.publicKey[0]).toBe(0x02);
    expect(account.publicKey.length).toBe(PUBLIC_KEY_BYTES['hybrid-ed25519-ml-dsa-65']);
    const signature = account.sign(message);
    expect(signature.length).toBe(SIGNATURE_BYTES['hybrid-ed25519-ml-dsa-65']);
    expect(verifySignature(account.publicKey, message, signature)).toBe(true);
  });

  it('rejects a flipped bit in either half, the message or the key, a wrong scheme byte and bad lengths', () => {
    expectTamperRejected(account.publicKey, account.sign(message), 65);
  });

  it('requires both halves: a valid Ed25519 half with a post-quantum half from another message fails', () => {
    const a = account.sign(message);
    const b = account.sign(utf8('something else'));
    const mixed = concatBytes(a.subarray(0, 65), b.subarray(65));
    expect(verifySignature(account.publicKey, message, mixed)).toBe(false);
    const mixed2 = concatBytes(b.subarray(0, 65), a.subarray(65));
    expect(verifySignature(account.publicKey, message, mixed2)).toBe(false);
  });

  it('stripping: the Ed25519 half does not verify as an ed25519 (0x01) signature', () => {
    const signature = account.sign(message);
    const edPublic = concatBytes(new Uint8Array([0x01]), account.publicKey.subarray(1, 33));
    const stripped = concatBytes(new Uint8Array([0x01]), signature.subarray(1, 65));
    expect(verifySignature(edPublic, message, stripped)).toBe(false);
    // …whereas a genuine 0x01 signature from the same Ed25519 seed does: the scheme byte is what differs.
    const genuine = concatBytes(
      new Uint8Array([0x01]),
      ed25519Sign(deriveSeed(seed, 'accountEd25519'), signedMessage(SignatureSchemeId.ed25519, message)),
    );
    expect(verifySignature(edPublic, message, genuine)).toBe(true);
  });

  it('a signature under one scheme never verifies under another scheme’s key of the same seeds', () => {
    const ed = signingKeyFromSeeds({ ed25519: deriveSeed(seed, 'accountEd25519') });
    expect(verifySignature(ed.publicKey, message, account.sign(message))).toBe(false);
    expect(verifySignature(account.publicKey, message, ed.sign(message))).toBe(false);
  });
});

describe('Ed25519-only account key (0x01)', () => {
  const key = signingKeyFromSeeds({ ed25519: sequence(0, 32) });

  it('round-trips and rejects tampering', () => {
    expect(key.publicKey.length).toBe(33);
    const signature = key.sign(message);
    expect(signature.length).toBe(65);
    expect(verifySignature(key.publicKey, message, signature)).toBe(true);
    expect(verifySignature(key.publicKey, message, flipBit(signature, 30))).toBe(false);
    expect(verifySignature(flipBit(key.publicKey, 30), message, signature)).toBe(false);
    expect(verifySignature(key.publicKey, flipBit(message, 3), signature)).toBe(false);
  });
});

describe('identity root key: hybrid Ed25519 + SLH-DSA-SHA2-128s (0x03)', () => {
  let root: SigningKey;
  let signature: Uint8Array;

  beforeAll(() => {
    root = rootKeyFromSeed(seed);
    signature = root.sign(message); // the one slow SLH-DSA signature of this suite
  });

  it('has the pinned encodings and verifies', () => {
    expect(root.scheme).toBe('hybrid-ed25519-slh-dsa-sha2-128s');
    expect(root.publicKey[0]).toBe(0x03);
    expect(root.publicKey.length).toBe(PUBLIC_KEY_BYTES['hybrid-ed25519-slh-dsa-sha2-128s']);
    expect(signature.length).toBe(SIGNATURE_BYTES['hybrid-ed25519-slh-dsa-sha2-128s']);
    expect(schemeOfPublicKey(root.publicKey)).toBe('hybrid-ed25519-slh-dsa-sha2-128s');
  });

  it('rejects a flipped bit in either half, the message or the key, a wrong scheme byte and bad lengths', () => {
    expectTamperRejected(root.publicKey, signature, 65);
  });

  it('stripping: its Ed25519 half verifies neither as 0x01 nor inside a 0x02 signature', () => {
    const edPublic = concatBytes(new Uint8Array([0x01]), root.publicKey.subarray(1, 33));
    expect(
      verifySignature(edPublic, message, concatBytes(new Uint8Array([0x01]), signature.subarray(1, 65))),
    ).toBe(false);
  });
});

describe('scheme decoding', () => {
  it('schemeOfPublicKey throws typed errors on unknown schemes and wrong lengths', () => {
    expectCryptoError(() => schemeOfPublicKey(new Uint8Array([0x09, 1, 2])), 'unsupported_scheme');
    expectCryptoError(() => schemeOfPublicKey(new Uint8Array(0)), 'unsupported_scheme');
    expectCryptoError(() => schemeOfPublicKey(new Uint8Array(34).fill(1)), 'bad_key');
    // A KEM public key (0x04) is not a signing key.
    expectCryptoError(() => schemeOfPublicKey(new Uint8Array(1217).fill(4)), 'unsupported_scheme');
    expect(isSigningPublicKey(new Uint8Array(33).fill(1))).toBe(true);
    expect(isSigningPublicKey(new Uint8Array(1217).fill(4))).toBe(false);
  });

  it('signedMessage is "self-sig-v1" || scheme byte || message', () => {
    expect(signedMessage(0x02, utf8('hi'))).toEqual(
      concatBytes(utf8('self-sig-v1'), new Uint8Array([2]), utf8('hi')),
    );
  });
});
