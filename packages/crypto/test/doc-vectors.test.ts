import { describe, expect, it } from 'vitest';
import { readDocVectors } from '../../../scripts/doc-vectors.js';
import { accountKeysFromPhrase } from '../src/account.js';
import { decodeAddress, encodeAddress } from '../src/address.js';
import { fromHex, toHex, utf8 } from '../src/bytes.js';
import { DERIVATION_LABELS, DERIVATION_SALT, deriveSeed, type DerivationLabel } from '../src/derive.js';
import { open, sealWithFixedNonceForTestVectorsOnly, type AeadAlg } from '../src/envelope.js';
import { sha256, taggedHash } from '../src/hash.js';
import {
  encryptionKeysFromSeed,
  hybridKemDecapsulate,
  hybridKemEncapsulateForTestVectorsOnly,
  hybridKemKeyPairFromSeeds,
} from '../src/kem.js';
import { recoveryPhraseToSeed } from '../src/mnemonic.js';
import { rootKeyFromSeed } from '../src/root-key.js';
import { openWithSecretKey, sealToPublicKeyForTestVectorsOnly } from '../src/sealed-box.js';
import { signedMessage, verifySignature } from '../src/signature.js';

const DOC = 'docs/protocol/crypto.md';
const vectors = readDocVectors(DOC);

/** Reads a vector's field as a string, failing clearly if the doc is malformed. */
function str(v: Record<string, unknown>, key: string): string {
  const value = v[key];
  if (typeof value !== 'string') throw new Error(`vector field ${key} is not a string`);
  return value;
}

type Vector = Record<string, unknown>;

function hybridKemRecipient(): ReturnType<typeof hybridKemKeyPairFromSeeds> {
  const v = vectors.get('hybrid-kem-fixed') as Vector;
  return hybridKemKeyPairFromSeeds({
    x25519: fromHex(str(v, 'x25519Seed')),
    mlkem768: fromHex(str(v, 'mlkem768Seed')),
  });
}

function checkEnvelope(v: Vector): void {
  const key = fromHex(str(v, 'key'));
  const aad = utf8(str(v, 'aadUtf8'));
  const envelope = sealWithFixedNonceForTestVectorsOnly(
    key,
    utf8(str(v, 'plaintextUtf8')),
    fromHex(str(v, 'nonce')),
    {
      alg: str(v, 'alg') as AeadAlg,
      aad,
    },
  );
  expect(toHex(envelope)).toBe(str(v, 'envelope'));
  expect(open(key, fromHex(str(v, 'envelope')), { aad })).toEqual(utf8(str(v, 'plaintextUtf8')));
}

function checkAccount(v: Vector): void {
  const scheme = str(v, 'scheme') as 'ed25519' | 'hybrid-ed25519-ml-dsa-65';
  const keys = accountKeysFromPhrase(str(v, 'phrase'), scheme);
  expect(keys.address).toBe(str(v, 'address'));
  expect(keys.did).toBe(str(v, 'did'));
  if (scheme === 'ed25519') {
    expect(toHex(keys.account.publicKey)).toBe(str(v, 'publicKey'));
    const message = utf8(str(v, 'messageUtf8'));
    expect(toHex(keys.account.sign(message))).toBe(str(v, 'signature'));
    expect(verifySignature(keys.account.publicKey, message, fromHex(str(v, 'signature')))).toBe(true);
  } else {
    expect(keys.account.publicKey.length).toBe(v.publicKeyLength);
    expect(toHex(keys.account.publicKey.subarray(0, 33))).toBe(str(v, 'publicKeyPrefix'));
    expect(toHex(sha256(keys.account.publicKey))).toBe(str(v, 'publicKeySha256'));
  }
}

/** One checker per vector name. Adding a vector to the doc without a checker fails the suite. */
const CHECKERS: Record<string, (v: Vector) => void> = {
  'tagged-hash': (v) => {
    expect(toHex(taggedHash(str(v, 'domain'), utf8(str(v, 'dataUtf8'))))).toBe(str(v, 'hash'));
  },
  'bip39-abandon-art': (v) => {
    expect(toHex(recoveryPhraseToSeed(str(v, 'phrase'), str(v, 'passphrase')))).toBe(str(v, 'seed'));
  },
  'derivation-abandon': (v) => {
    expect(str(v, 'salt')).toBe(DERIVATION_SALT);
    const seeds = v.seeds as Record<string, string>;
    expect(Object.keys(seeds).sort()).toEqual(Object.keys(DERIVATION_LABELS).sort());
    for (const [label, hex] of Object.entries(seeds)) {
      expect(toHex(deriveSeed(fromHex(str(v, 'bip39Seed')), label as DerivationLabel)), label).toBe(hex);
    }
  },
  'signed-message': (v) => {
    expect(toHex(signedMessage(v.schemeId as number, utf8(str(v, 'messageUtf8'))))).toBe(
      str(v, 'signedMessage'),
    );
  },
  'address-encoding': (v) => {
    for (const c of v.cases as Array<{ bytes: string; address: string }>) {
      expect(encodeAddress(fromHex(c.bytes))).toBe(c.address);
      expect(toHex(decodeAddress(c.address))).toBe(c.bytes);
    }
  },
  'account-abandon-hybrid': checkAccount,
  'account-abandon-ed25519': checkAccount,
  'root-key-abandon': (v) => {
    const root = rootKeyFromSeed(recoveryPhraseToSeed(str(v, 'phrase')));
    expect(root.scheme).toBe(str(v, 'scheme'));
    expect(toHex(root.publicKey)).toBe(str(v, 'publicKey'));
  },
  'encryption-key-abandon': (v) => {
    const { publicKey } = encryptionKeysFromSeed(recoveryPhraseToSeed(str(v, 'phrase')));
    expect(publicKey.length).toBe(v.publicKeyLength);
    expect(toHex(publicKey.subarray(0, 33))).toBe(str(v, 'publicKeyPrefix'));
    expect(toHex(sha256(publicKey))).toBe(str(v, 'publicKeySha256'));
  },
  'hybrid-kem-fixed': (v) => {
    const keys = hybridKemRecipient();
    expect(toHex(sha256(keys.publicKey))).toBe(str(v, 'publicKeySha256'));
    expect(toHex(sha256(keys.secretKey))).toBe(str(v, 'secretKeySha256'));
    const { ciphertext, sharedSecret } = hybridKemEncapsulateForTestVectorsOnly(keys.publicKey, {
      x25519EphemeralSecret: fromHex(str(v, 'x25519EphemeralSecret')),
      mlkemRandomness: fromHex(str(v, 'mlkemRandomness')),
    });
    expect(toHex(ciphertext.subarray(0, 33))).toBe(str(v, 'ciphertextPrefix'));
    expect(toHex(sha256(ciphertext))).toBe(str(v, 'ciphertextSha256'));
    expect(toHex(sharedSecret)).toBe(str(v, 'sharedSecret'));
    expect(toHex(hybridKemDecapsulate(keys.secretKey, ciphertext))).toBe(str(v, 'sharedSecret'));
  },
  'envelope-aes-256-gcm': checkEnvelope,
  'envelope-xchacha20-poly1305': checkEnvelope,
  'sealed-box-fixed': (v) => {
    expect(str(v, 'recipient')).toBe('hybrid-kem-fixed');
    const keys = hybridKemRecipient();
    const aad = utf8(str(v, 'aadUtf8'));
    const plaintext = utf8(str(v, 'plaintextUtf8'));
    const box = sealToPublicKeyForTestVectorsOnly(
      keys.publicKey,
      plaintext,
      {
        x25519EphemeralSecret: fromHex(str(v, 'x25519EphemeralSecret')),
        mlkemRandomness: fromHex(str(v, 'mlkemRandomness')),
        nonce: fromHex(str(v, 'nonce')),
      },
      aad,
    );
    expect(box.length).toBe(v.sealedLength);
    expect(toHex(sha256(box))).toBe(str(v, 'sealedSha256'));
    expect(openWithSecretKey(keys.secretKey, box, aad)).toEqual(plaintext);
  },
  // Checked (they are slow) in pq-interop.test.ts, which reads them from the doc; here only their shape.
  'mlkem768-accumulated-100': (v) => expect(str(v, 'hash')).toMatch(/^[0-9a-f]{64}$/),
  'mldsa65-accumulated-100': (v) => expect(str(v, 'hash')).toMatch(/^[0-9a-f]{64}$/),
};

describe(`vectors pinned in ${DOC}`, () => {
  it('every vector in the doc has a checker, and every checker a vector', () => {
    expect([...vectors.keys()].sort()).toEqual(Object.keys(CHECKERS).sort());
  });

  for (const [name, vector] of vectors) {
    it(name, () => {
      const check = CHECKERS[name];
      if (!check) throw new Error(`no checker for vector ${name}`);
      check(vector as Vector);
    });
  }
});
