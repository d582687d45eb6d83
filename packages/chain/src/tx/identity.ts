import { didFromAddress, equalBytes } from '@self/crypto';
import { getAnchor, getDid, putAnchor, putDid, putNode } from '../accounts.js';
import { ChainError } from '../errors.js';
import type { StateReader } from '../state-view.js';
import type { DidRecord } from '../state-types.js';
import type { Address } from '../types.js';
import type { TxHandler } from './context.js';

/** The DID, which must exist and be active. */
export function activeDid(state: StateReader, did: string): DidRecord {
  const record = getDid(state, did);
  if (!record) throw new ChainError('did_missing', `${did} does not exist`, { did });
  if (record.deactivated) throw new ChainError('did_deactivated', `${did} is deactivated`, { did });
  return record;
}

function controlledDid(state: StateReader, did: string, sender: Address): DidRecord {
  const record = activeDid(state, did);
  if (record.controller !== sender)
    throw new ChainError('not_controller', `${sender} does not control ${did}`, { did });
  return record;
}

/**
 * Anchors and node records may be signed by the controller's account key or by a delegate key the
 * DID document lists with that purpose (an instance key): delegates act for the DID, but only there.
 */
export function authorizeForDid(
  state: StateReader,
  did: string,
  signer: Uint8Array,
  sender: Address,
  purpose: 'anchor' | 'node.announce',
): DidRecord {
  const record = activeDid(state, did);
  if (record.controller === sender) return record;
  const delegate = record.document.delegates.find((d) => equalBytes(d.public_key, signer));
  if (!delegate)
    throw new ChainError('not_controller', `the signer is neither the controller of ${did} nor a delegate`, {
      did,
    });
  if (!delegate.purposes.includes(purpose)) {
    throw new ChainError('not_controller', `delegate "${delegate.id}" of ${did} may not sign ${purpose}`, {
      did,
      delegate: delegate.id,
      purpose,
    });
  }
  return record;
}

export const applyDidCreate: TxHandler<'did.create'> = ({ state, tx, sender, ctx }) => {
  const did = didFromAddress(sender);
  // A deactivated DID stays taken: identifiers are never reissued to whoever controls the key later.
  if (getDid(state, did)) throw new ChainError('did_exists', `${did} already exists`, { did });
  putDid(state, {
    did,
    controller: sender,
    document: tx.body.document,
    version: 1,
    created_height: ctx.height,
    updated_height: ctx.height,
    deactivated: false,
  });
};

export const applyDidUpdate: TxHandler<'did.update'> = ({ state, tx, sender, ctx }) => {
  const record = controlledDid(state, didFromAddress(sender), sender);
  putDid(state, {
    ...record,
    document: tx.body.document,
    version: record.version + 1,
    updated_height: ctx.height,
  });
};

export const applyDidDeactivate: TxHandler<'did.deactivate'> = ({ state, sender, ctx }) => {
  const record = controlledDid(state, didFromAddress(sender), sender);
  putDid(state, { ...record, deactivated: true, version: record.version + 1, updated_height: ctx.height });
};

export const applyNodeAnnounce: TxHandler<'node.announce'> = ({ state, tx, signer, sender, ctx }) => {
  const b = tx.body;
  authorizeForDid(state, b.did, signer, sender, 'node.announce');
  putNode(state, {
    did: b.did,
    peer_id: b.peer_id,
    multiaddrs: b.multiaddrs,
    roles: b.roles,
    version: b.version,
    announced_by: sender,
    height: ctx.height,
  });
};

/**
 * Anchor sequence numbers run 1, 2, 3… per (DID, kind) with no gaps, so a replayed or reordered
 * anchor is rejected: seq n needs anchor n − 1 present and n absent.
 */
export const applyAnchor: TxHandler<'anchor'> = ({ state, tx, signer, sender, ctx }) => {
  const b = tx.body;
  authorizeForDid(state, b.did, signer, sender, 'anchor');
  if (getAnchor(state, b.did, b.kind, b.seq)) {
    throw new ChainError('bad_sequence', `anchor ${b.kind} #${b.seq} of ${b.did} already exists`, {
      seq: b.seq,
    });
  }
  if (b.seq > 1 && !getAnchor(state, b.did, b.kind, b.seq - 1)) {
    throw new ChainError('bad_sequence', `anchor ${b.kind} #${b.seq} of ${b.did} skips #${b.seq - 1}`, {
      seq: b.seq,
    });
  }
  putAnchor(state, {
    did: b.did,
    kind: b.kind,
    seq: b.seq,
    root: b.root,
    count: b.count,
    signer: sender,
    height: ctx.height,
    tx_hash: ctx.txHash,
  });
};
