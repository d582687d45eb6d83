import { equalBytes, fromHex, toHex } from '@self/crypto';
import type { AuditProof } from './proof.js';

/**
 * The bridge between a closed segment and SELF Chain (docs/protocol/audit.md §5, §7). The shapes
 * below are structurally `TxBodies['anchor']` and `AnchorRecord` of `@self/chain`, restated here so
 * the instance needs no dependency on the chain package for two plain objects.
 */

/** Body of the `anchor` transaction that commits a segment (docs/protocol/transactions.md §3). */
export interface AuditAnchorBody {
  /** The person's DID; the instance key signs as a delegate of it with the purpose `anchor`. */
  did: string;
  kind: 'audit';
  /** The segment id: anchors run 1, 2, 3… per (DID, kind), exactly like segment ids. */
  seq: number;
  /** The segment's Merkle root (32 bytes). */
  root: Uint8Array;
  /** Entries in the segment: lastSeq − firstSeq + 1. */
  count: number;
}

/**
 * What the chain stores at `anchor/<did>/audit/<seq>` once the transaction commits (the fields the
 * check below reads; the record also carries `signer`).
 */
export interface AuditAnchorRecord {
  did: string;
  kind: string;
  seq: number;
  root: Uint8Array;
  count: number;
  height: number;
  tx_hash: Uint8Array;
}

export function auditAnchorBody(
  did: string,
  segment: { id: number; firstSeq: number; lastSeq: number; root: Uint8Array },
): AuditAnchorBody {
  return {
    did,
    kind: 'audit',
    seq: segment.id,
    root: segment.root,
    count: segment.lastSeq - segment.firstSeq + 1,
  };
}

/**
 * True when `record` is the chain's anchor of the proof's segment under `did`: same kind, number,
 * root and entry count, and, where the proof names an anchor transaction and height, the same ones.
 *
 * This is the second half of checking an exported proof against the chain. The full check is
 *
 *   verifyAuditProof(proof)                               — the entry is in the segment root;
 *   && the record is proven: @self/chain's verifyStateProof(header.state_root,
 *        `anchor/${did}/audit/${proof.segment.id}`, canonical CBOR of record, stateProof)
 *      for a header the light client trusts (its commit certificate verified);
 *   && auditAnchorMatches(proof, did, record).
 *
 * Building and verifying the state proof is the chain's job, not the instance's.
 */
export function auditAnchorMatches(proof: AuditProof, did: string, record: AuditAnchorRecord): boolean {
  if (record.did !== did || record.kind !== 'audit' || record.seq !== proof.segment.id) return false;
  if (record.count !== proof.segment.last_seq - proof.segment.first_seq + 1) return false;
  if (!(record.root instanceof Uint8Array) || !/^[0-9a-f]{64}$/.test(proof.segment.root)) return false;
  if (!equalBytes(record.root, fromHex(proof.segment.root))) return false;
  if (proof.segment.anchor_tx !== null && proof.segment.anchor_tx !== toHex(record.tx_hash)) return false;
  if (proof.segment.anchor_height !== null && proof.segment.anchor_height !== record.height) return false;
  return true;
}
