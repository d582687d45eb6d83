import { beforeAll, describe, expect, it } from 'vitest';
import { accountKeysFromPhrase } from '../src/account.js';
import { utf8 } from '../src/bytes.js';
import { identityFromPhrase, publicIdentity, type DeviceIdentity } from '../src/identity.js';
import { hybridKemDecapsulate, hybridKemEncapsulate } from '../src/kem.js';
import { openWithSecretKey, sealToPublicKey } from '../src/sealed-box.js';
import { schemeOfPublicKey, verifySignature } from '../src/signature.js';
import { ABANDON_PHRASE, expectCryptoError } from './fixtures.js';

describe('identityFromPhrase: the device-side bundle', () => {
  let identity: DeviceIdentity;
  beforeAll(() => {
    identity = identityFromPhrase(ABANDON_PHRASE);
  });

  it('agrees with accountKeysFromPhrase and carries all three public keys', () => {
    const account = accountKeysFromPhrase(ABANDON_PHRASE);
    expect(identity.address).toBe(account.address);
    expect(identity.did).toBe(account.did);
    expect(identity.accountPublicKey).toEqual(account.account.publicKey);
    expect(schemeOfPublicKey(identity.accountPublicKey)).toBe('hybrid-ed25519-ml-dsa-65');
    expect(schemeOfPublicKey(identity.rootPublicKey)).toBe('hybrid-ed25519-slh-dsa-sha2-128s');
    expect(identity.encryptionPublicKey[0]).toBe(0x04);
    expect(identity.encryptionPublicKey).toEqual(identity.encryption.publicKey);
  });

  it('its keys work: the account signs, the encryption key opens what is sealed to it', () => {
    const message = utf8('consent: app=photos scopes=read');
    expect(verifySignature(identity.accountPublicKey, message, identity.account.sign(message))).toBe(true);
    const { ciphertext, sharedSecret } = hybridKemEncapsulate(identity.encryptionPublicKey);
    expect(hybridKemDecapsulate(identity.encryption.secretKey, ciphertext)).toEqual(sharedSecret);
    const box = sealToPublicKey(identity.encryptionPublicKey, utf8('data key'));
    expect(openWithSecretKey(identity.encryption.secretKey, box)).toEqual(utf8('data key'));
  });

  it('publicIdentity holds no secret material', () => {
    const pub = publicIdentity(identity);
    expect(Object.keys(pub).sort()).toEqual([
      'accountPublicKey',
      'address',
      'did',
      'encryptionPublicKey',
      'rootPublicKey',
    ]);
    expect(JSON.stringify(pub)).not.toContain('secretKey');
  });

  it('supports the Ed25519-only account mode with the same root and encryption keys', () => {
    const ed = identityFromPhrase(ABANDON_PHRASE, 'ed25519');
    expect(schemeOfPublicKey(ed.accountPublicKey)).toBe('ed25519');
    expect(ed.address).not.toBe(identity.address);
    expect(ed.rootPublicKey).toEqual(identity.rootPublicKey);
    expect(ed.encryptionPublicKey).toEqual(identity.encryptionPublicKey);
  });

  it('rejects an invalid phrase with a typed error', () => {
    expectCryptoError(() => identityFromPhrase('abandon abandon abandon'), 'bad_phrase');
  });
});
