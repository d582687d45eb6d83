import type { PublicIdentity, SigningKey } from '@self/crypto';
import { signTransaction, type DidDocumentData, type SignedTransaction, type Transaction } from '@self/chain';

/** The delegate id of the instance key in the person's DID document (Contract 1). */
export const INSTANCE_DELEGATE_ID = 'instance';
/**
 * The id of the instance's service entry. Not `instance`: the chain requires delegate and service
 * ids to be distinct, since both become fragments (`did:self:…#id`) of the one DID document.
 */
export const INSTANCE_SERVICE_ID = 'instance-endpoint';
export const INSTANCE_SERVICE_TYPE = 'SelfInstance';
export const INSTANCE_PURPOSES = ['anchor', 'node.announce'];

/** The document of a new DID: the person's root and encryption keys, nothing delegated yet. */
export function initialDidDocument(identity: PublicIdentity): DidDocumentData {
  return {
    root_key: identity.rootPublicKey,
    encryption_key: identity.encryptionPublicKey,
    delegates: [],
    services: [],
  };
}

export interface InstanceEntry {
  /** The instance key (encoded, scheme byte first). */
  publicKey: Uint8Array;
  /** Where the instance is reached: `<server>/v1/i/<did>`. */
  endpoint: string;
}

/**
 * `doc` with the instance delegated: it may sign anchors and node records for the DID (never move
 * funds), and is published as the DID's SelfInstance service. Earlier instance entries are
 * replaced, so re-running the step after a move or a new instance key converges.
 */
export function withInstance(doc: DidDocumentData, instance: InstanceEntry): DidDocumentData {
  return {
    root_key: doc.root_key,
    encryption_key: doc.encryption_key,
    delegates: [
      ...doc.delegates.filter((d) => d.id !== INSTANCE_DELEGATE_ID),
      { id: INSTANCE_DELEGATE_ID, public_key: instance.publicKey, purposes: [...INSTANCE_PURPOSES] },
    ],
    services: [
      ...doc.services.filter((s) => s.id !== INSTANCE_SERVICE_ID),
      { id: INSTANCE_SERVICE_ID, type: INSTANCE_SERVICE_TYPE, endpoint: instance.endpoint },
    ],
  };
}

export interface TxParams {
  chainId: string;
  nonce: number;
  pointPrice: number;
}

/** did.create is always its account's first transaction: nonce 1. */
export function signDidCreate(
  identity: PublicIdentity,
  account: SigningKey,
  p: Omit<TxParams, 'nonce'>,
): SignedTransaction<'did.create'> {
  const tx: Transaction<'did.create'> = {
    v: 1,
    chain_id: p.chainId,
    kind: 'did.create',
    nonce: 1,
    point_price: p.pointPrice,
    body: { document: initialDidDocument(identity) },
  };
  return signTransaction(tx, account);
}

export function signDidUpdate(
  document: DidDocumentData,
  account: SigningKey,
  p: TxParams,
): SignedTransaction<'did.update'> {
  const tx: Transaction<'did.update'> = {
    v: 1,
    chain_id: p.chainId,
    kind: 'did.update',
    nonce: p.nonce,
    point_price: p.pointPrice,
    body: { document },
  };
  return signTransaction(tx, account);
}
