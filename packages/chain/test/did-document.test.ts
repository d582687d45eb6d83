import { base58 } from '@scure/base';
import { describe, expect, it } from 'vitest';
import { accountKeysFromSeed, sha512, utf8 } from '@self/crypto';
import { DID_CONTEXT, didResolutionResult, renderDidDocument, SELF_KEY_TYPE } from '../src/did-document.js';
import type { DidRecord } from '../src/state-types.js';

const alice = accountKeysFromSeed(sha512(utf8('did-alice')), 'ed25519');
const inst = accountKeysFromSeed(sha512(utf8('did-instance')), 'ed25519');
const rootKey = new Uint8Array([3, ...new Uint8Array(64).fill(1)]);
const encryptionKey = new Uint8Array([4, ...new Uint8Array(1216).fill(2)]);

const record: DidRecord = {
  did: alice.did,
  controller: alice.address,
  document: {
    root_key: rootKey,
    encryption_key: encryptionKey,
    delegates: [
      { id: 'instance', public_key: inst.account.publicKey, purposes: ['anchor', 'node.announce'] },
    ],
    services: [{ id: 'hub', type: 'SelfInstance', endpoint: 'https://alice.example/hub' }],
  },
  version: 3,
  created_height: 10,
  updated_height: 42,
  deactivated: false,
};

const unmultibase = (s: string): Uint8Array => {
  expect(s.startsWith('z')).toBe(true);
  return base58.decode(s.slice(1));
};

describe('renderDidDocument', () => {
  const doc = renderDidDocument(record, alice.account.publicKey);

  it('renders W3C DID Core with the pinned fragments and relationships', () => {
    const id = alice.did;
    expect(doc['@context']).toEqual(DID_CONTEXT);
    expect(doc.id).toBe(id);
    expect(doc.controller).toBe(id);
    expect(doc.verificationMethod.map((m) => m.id)).toEqual([
      `${id}#account`,
      `${id}#root`,
      `${id}#encryption`,
      `${id}#instance`,
    ]);
    expect(doc.verificationMethod.every((m) => m.type === SELF_KEY_TYPE && m.controller === id)).toBe(true);
    expect(doc.authentication).toEqual([`${id}#account`]);
    expect(doc.assertionMethod).toEqual([`${id}#account`, `${id}#instance`]);
    expect(doc.keyAgreement).toEqual([`${id}#encryption`]);
    expect(doc.capabilityInvocation).toEqual([`${id}#account`, `${id}#root`]);
    expect(doc.capabilityDelegation).toEqual([`${id}#account`]);
    expect(doc.service).toEqual([
      { id: `${id}#hub`, type: 'SelfInstance', serviceEndpoint: 'https://alice.example/hub' },
    ]);
    expect(doc.verificationMethod[3]!.selfPurposes).toEqual(['anchor', 'node.announce']);
  });

  it('encodes each key as base58btc multibase of its SELF encoding', () => {
    const [account, root, enc, delegate] = doc.verificationMethod.map((m) =>
      unmultibase(m.publicKeyMultibase),
    );
    expect(account).toEqual(alice.account.publicKey);
    expect(root).toEqual(rootKey);
    expect(enc).toEqual(encryptionKey);
    expect(delegate).toEqual(inst.account.publicKey);
  });

  it('is plain JSON (serialisable and stable)', () => {
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
    expect(renderDidDocument(record, alice.account.publicKey)).toEqual(doc);
  });
});

describe('didResolutionResult', () => {
  it('carries versionId, timestamps and deactivation', () => {
    const r = didResolutionResult(
      { ...record, deactivated: true },
      {
        accountPublicKey: alice.account.publicKey,
        createdAt: Date.UTC(2026, 0, 1, 0, 0, 0, 123),
        updatedAt: Date.UTC(2026, 1, 2, 3, 4, 5),
      },
    );
    expect(r.didResolutionMetadata).toEqual({ contentType: 'application/did+ld+json' });
    expect(r.didDocumentMetadata).toEqual({
      created: '2026-01-01T00:00:00Z',
      updated: '2026-02-02T03:04:05Z',
      versionId: '3',
      deactivated: true,
      createdHeight: 10,
      updatedHeight: 42,
    });
    expect(r.didDocument.id).toBe(alice.did);
  });
});
