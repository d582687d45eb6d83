import { equalBytes, fromHex, toHex } from '@self/crypto';
import { entryFromJson, entryHash, entryToJson, type AuditEntry, type AuditEntryJson } from './entry.js';
import { verifyInclusion, type InclusionProof } from './merkle.js';

/** The closed segment an exported proof points into, as stored by the log (JSON field names). */
export interface AuditProofSegment {
  /** Segment number; it is also the `seq` of the `anchor` transaction that commits it. */
  id: number;
  first_seq: number;
  last_seq: number;
  /** Merkle root over the entry hashes first_seq..last_seq (hex). */
  root: string;
  /** Hash (hex) of the `anchor` transaction, once the instance saw it committed; a hint, not proof. */
  anchor_tx: string | null;
  anchor_height: number | null;
}

/**
 * A self-contained, JSON-safe proof that one entry is inside a segment (docs/protocol/audit.md §6).
 * verifyAuditProof checks it offline; auditAnchorMatches (anchor.ts) ties its root to the chain.
 */
export interface AuditProof {
  v: 1;
  entry: AuditEntryJson;
  /** entryHash(entry), hex. */
  hash: string;
  segment: AuditProofSegment;
  inclusion: { index: number; size: number; path: string[] };
}

export const AUDIT_PROOF_VERSION = 1;

const HEX32_RE = /^[0-9a-f]{64}$/;

export function buildAuditProof(
  entry: AuditEntry,
  segment: AuditProofSegment,
  inclusion: InclusionProof,
): AuditProof {
  return {
    v: AUDIT_PROOF_VERSION,
    entry: entryToJson(entry),
    hash: toHex(entryHash(entry)),
    segment: { ...segment },
    inclusion: { index: inclusion.index, size: inclusion.size, path: inclusion.path.map(toHex) },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isUint(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function isHex32(v: unknown): v is string {
  return typeof v === 'string' && HEX32_RE.test(v);
}

/**
 * Pure, offline check of an exported proof (for instance one parsed from JSON): the entry is valid,
 * its hash is `hash`, its position in the segment is `seq − first_seq` of `last_seq − first_seq + 1`,
 * and the inclusion path leads from it to `segment.root`. It does not consult the chain: whether
 * that root was anchored is auditAnchorMatches' question. Any malformed field gives false.
 */
export function verifyAuditProof(proof: unknown): boolean {
  if (!isRecord(proof) || proof.v !== AUDIT_PROOF_VERSION) return false;
  const { segment, inclusion } = proof;
  if (!isRecord(segment) || !isRecord(inclusion) || !isHex32(proof.hash)) return false;
  if (!isUint(segment.id, 1) || !isUint(segment.first_seq, 1) || !isUint(segment.last_seq, 1)) return false;
  if (segment.last_seq < segment.first_seq || !isHex32(segment.root)) return false;
  if (!(segment.anchor_tx === null || isHex32(segment.anchor_tx))) return false;
  if (!(segment.anchor_height === null || isUint(segment.anchor_height, 0))) return false;
  if ((segment.anchor_tx === null) !== (segment.anchor_height === null)) return false;
  if (!Array.isArray(inclusion.path) || !inclusion.path.every(isHex32)) return false;
  let entry: AuditEntry;
  try {
    entry = entryFromJson(proof.entry);
  } catch {
    return false;
  }
  if (entry.seq < segment.first_seq || entry.seq > segment.last_seq) return false;
  if (inclusion.index !== entry.seq - segment.first_seq) return false;
  if (inclusion.size !== segment.last_seq - segment.first_seq + 1) return false;
  const hash = entryHash(entry);
  if (!equalBytes(hash, fromHex(proof.hash))) return false;
  return verifyInclusion(
    hash,
    { index: inclusion.index, size: inclusion.size, path: inclusion.path.map((h: string) => fromHex(h)) },
    fromHex(segment.root),
  );
}
