import { base58 } from '@scure/base';
import { didFromAddress } from '@self/crypto';
import type { DidRecord } from './state-types.js';

/**
 * W3C DID Core rendering of an on-chain DID record. The chain stores only DidDocumentData; this
 * rendering is a pure function of the record (plus the controller's account key), so every node
 * serves the same document and a light client can recompute it from a proven record.
 */

export const DID_CONTEXT = ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'] as const;

/**
 * Verification-method type for SELF keys. publicKeyMultibase is base58btc ('z') of SELF's own key
 * encoding (scheme byte first: 0x01 Ed25519, 0x02 Ed25519 + ML-DSA-65, 0x03 Ed25519 +
 * SLH-DSA-SHA2-128s, …), not a multicodec Multikey: hybrid keys have no multicodec.
 */
export const SELF_KEY_TYPE = 'SelfKey2025';

export interface VerificationMethod {
  id: string;
  type: string;
  controller: string;
  publicKeyMultibase: string;
  /** Delegates only: what the key may sign on the DID's behalf. */
  selfPurposes?: string[];
}

export interface DidDocument {
  '@context': readonly string[];
  id: string;
  controller: string;
  verificationMethod: VerificationMethod[];
  authentication: string[];
  assertionMethod: string[];
  keyAgreement: string[];
  capabilityInvocation: string[];
  capabilityDelegation: string[];
  service: Array<{ id: string; type: string; serviceEndpoint: string }>;
}

export const multibaseBase58btc = (bytes: Uint8Array): string => `z${base58.encode(bytes)}`;

/**
 * `accountPublicKey` is the controller account's recorded key (Account.public_key); it is always
 * known for a created DID, since the controller signed did.create. Fragments: #account, #root,
 * #encryption, then each delegate's id. The account key authenticates and asserts, and with the
 * root key may change the document; delegates assert only (anchors, node records).
 */
export function renderDidDocument(record: DidRecord, accountPublicKey: Uint8Array): DidDocument {
  const id = record.did;
  const controller = didFromAddress(record.controller);
  const vm = (fragment: string, key: Uint8Array): VerificationMethod => ({
    id: `${id}#${fragment}`,
    type: SELF_KEY_TYPE,
    controller,
    publicKeyMultibase: multibaseBase58btc(key),
  });
  const delegates = record.document.delegates.map((d) => ({
    ...vm(d.id, d.public_key),
    selfPurposes: [...d.purposes],
  }));
  return {
    '@context': DID_CONTEXT,
    id,
    controller,
    verificationMethod: [
      vm('account', accountPublicKey),
      vm('root', record.document.root_key),
      vm('encryption', record.document.encryption_key),
      ...delegates,
    ],
    authentication: [`${id}#account`],
    assertionMethod: [`${id}#account`, ...delegates.map((d) => d.id)],
    keyAgreement: [`${id}#encryption`],
    capabilityInvocation: [`${id}#account`, `${id}#root`],
    capabilityDelegation: [`${id}#account`],
    service: record.document.services.map((s) => ({
      id: `${id}#${s.id}`,
      type: s.type,
      serviceEndpoint: s.endpoint,
    })),
  };
}

export interface DidResolutionMeta {
  accountPublicKey: Uint8Array;
  /** Timestamps (ms) of the blocks at created_height and updated_height. */
  createdAt: number;
  updatedAt: number;
}

export interface DidResolutionResult {
  didDocument: DidDocument;
  didResolutionMetadata: { contentType: 'application/did+ld+json' };
  didDocumentMetadata: {
    created: string;
    updated: string;
    versionId: string;
    deactivated: boolean;
    createdHeight: number;
    updatedHeight: number;
  };
}

/** ISO 8601 without milliseconds, as DID Core's metadata expects (XML Schema dateTime, UTC). */
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** W3C DID Resolution result; a deactivated DID still resolves, with `deactivated: true`. */
export function didResolutionResult(record: DidRecord, meta: DidResolutionMeta): DidResolutionResult {
  return {
    didDocument: renderDidDocument(record, meta.accountPublicKey),
    didResolutionMetadata: { contentType: 'application/did+ld+json' },
    didDocumentMetadata: {
      created: isoSeconds(meta.createdAt),
      updated: isoSeconds(meta.updatedAt),
      versionId: String(record.version),
      deactivated: record.deactivated,
      createdHeight: record.created_height,
      updatedHeight: record.updated_height,
    },
  };
}
