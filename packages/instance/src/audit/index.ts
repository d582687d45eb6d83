/**
 * The instance's audit log: hash-chained entries, Merkle-committed segments anchored on SELF Chain,
 * and exportable inclusion proofs. Formats and test vectors: docs/protocol/audit.md.
 */
export { AUDIT_ERROR_CODES, AuditError, type AuditErrorCode } from './errors.js';
export {
  AUDIT_ENTRY_DOMAIN,
  AUDIT_ENTRY_VERSION,
  AUDIT_GENESIS_PREV,
  AUDIT_HASH_BYTES,
  AUDIT_LIMITS,
  AUDIT_OUTCOMES,
  type AuditEntry,
  type AuditEntryJson,
  type AuditOutcome,
  decodeEntry,
  encodeEntry,
  entryFromJson,
  entryHash,
  entryToJson,
  validateEntry,
} from './entry.js';
export {
  AUDIT_MERKLE_DOMAIN,
  type InclusionProof,
  inclusionProof,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  verifyInclusion,
} from './merkle.js';
export {
  AUDIT_RANGE_MAX,
  type AuditAppend,
  AuditLog,
  type AuditLogOptions,
  type AuditSegment,
  type AuditVerifyReason,
  type AuditVerifyResult,
} from './log.js';
export { AUDIT_PROOF_VERSION, type AuditProof, type AuditProofSegment, verifyAuditProof } from './proof.js';
export {
  type AuditAnchorBody,
  type AuditAnchorRecord,
  auditAnchorBody,
  auditAnchorMatches,
} from './anchor.js';
