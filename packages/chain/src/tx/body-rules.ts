import {
  HYBRID_KEM_PUBLIC_KEY_BYTES,
  KemSchemeId,
  PUBLIC_KEY_BYTES,
  SignatureSchemeId,
  decodeHybridKemPublicKey,
  isValidMlKem768PublicKey,
} from '@self/crypto';
import { ChainError } from '../errors.js';
import type { DidDocumentData, Transaction, TxBodies, TxKind } from '../types.js';
import { isValidScope } from './scopes.js';
import { isValidLogoUri, isValidRedirectUri, isValidServiceEndpoint } from './urls.js';

/**
 * Semantic body rules, checked after the shape (schema/transaction.ts). They need no state, so
 * every node rejects the same bodies before touching state. Evidence is checked in evidence.ts.
 */

/** Identity root key: scheme byte 0x03, Ed25519 (32) then SLH-DSA-SHA2-128s (32) public keys. */
export const ROOT_KEY_BYTES = 1 + 32 + 32;

function invalid(message: string, details?: Record<string, unknown>): never {
  throw new ChainError('invalid_body', message, details);
}

function positive(value: number, name: string): void {
  if (value < 1) invalid(`${name} must be at least 1`);
}

/** Delegates sign transactions, so their keys must be transaction-signing keys of the right size. */
function isSigningPublicKey(key: Uint8Array): boolean {
  if (key[0] === SignatureSchemeId.ed25519) return key.length === PUBLIC_KEY_BYTES.ed25519;
  if (key[0] === SignatureSchemeId['hybrid-ed25519-ml-dsa-65']) {
    return key.length === PUBLIC_KEY_BYTES['hybrid-ed25519-ml-dsa-65'];
  }
  return false;
}

/** Encryption key: scheme byte 0x04, X25519 (32) then an ML-KEM-768 encapsulation key that passes FIPS 203's check. */
function isEncryptionKey(key: Uint8Array): boolean {
  if (key[0] !== KemSchemeId['hybrid-x25519-ml-kem-768'] || key.length !== HYBRID_KEM_PUBLIC_KEY_BYTES)
    return false;
  try {
    return isValidMlKem768PublicKey(decodeHybridKemPublicKey(key).mlkem);
  } catch {
    return false;
  }
}

export function checkDidDocument(doc: DidDocumentData): void {
  if (
    doc.root_key.length !== ROOT_KEY_BYTES ||
    doc.root_key[0] !== SignatureSchemeId['hybrid-ed25519-slh-dsa-sha2-128s']
  ) {
    invalid('root_key must be a hybrid Ed25519 + SLH-DSA-SHA2-128s public key');
  }
  if (!isEncryptionKey(doc.encryption_key))
    invalid('encryption_key must be a hybrid X25519 + ML-KEM-768 public key');
  doc.delegates.forEach((d, i) => {
    if (!isSigningPublicKey(d.public_key)) invalid(`delegates[${i}].public_key is not a signing key`);
  });
  doc.services.forEach((s, i) => {
    if (!isValidServiceEndpoint(s.endpoint))
      invalid(`services[${i}].endpoint must be an absolute http(s)/ws(s) URL`);
  });
}

function checkApp(body: TxBodies['app.register']): void {
  if (body.name.trim() === '') invalid('app name is blank');
  if (!isValidLogoUri(body.logo_uri))
    invalid('logo_uri must be empty or an https URL or http on a loopback host, without fragment');
  if (body.redirect_uris.length === 0) invalid('an app needs at least one redirect URI');
  body.redirect_uris.forEach((uri, i) => {
    if (!isValidRedirectUri(uri))
      invalid(`redirect_uris[${i}] must be an https URL or http on a loopback host, without fragment`);
  });
  if (body.scopes.length === 0) invalid('an app needs at least one scope');
  body.scopes.forEach((scope, i) => {
    if (!isValidScope(scope)) invalid(`scopes[${i}] is not a known scope`, { scope });
  });
}

type BodyRule<K extends TxKind> = (body: TxBodies[K]) => void;

const RULES: { [K in TxKind]: BodyRule<K> } = {
  transfer: (b) => positive(b.amount, 'amount'),
  'did.create': (b) => checkDidDocument(b.document),
  'did.update': (b) => checkDidDocument(b.document),
  'did.deactivate': () => undefined,
  'node.announce': (b) => {
    if (b.multiaddrs.length === 0) invalid('a node announcement needs at least one multiaddr');
  },
  'app.register': checkApp,
  'app.update': checkApp,
  anchor: (b) => {
    positive(b.seq, 'seq');
    positive(b.count, 'count');
  },
  bond: (b) => positive(b.amount, 'amount'),
  unbond: (b) => positive(b.amount, 'amount'),
  evidence: () => undefined,
};

export function checkBody(tx: Transaction): void {
  (RULES[tx.kind] as BodyRule<TxKind>)(tx.body);
}
