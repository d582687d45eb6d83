/**
 * Stable failure codes of the audit log. Callers (the storage API, the export endpoint) branch on
 * `code`, never on the message; a code is never renamed or reused for another meaning.
 */
export const AUDIT_ERROR_CODES = [
  /** An entry field breaks its rule (details.field names it). */
  'invalid_entry',
  /** Bytes that are not the canonical encoding of a valid entry. */
  'malformed_entry',
  /** A bad argument to a log method (a seq, a limit, a transaction hash…). */
  'invalid_argument',
  /** No entry or segment with that number. */
  'not_found',
  /** The entry exists but no closed segment holds it yet, so there is no root to prove it against. */
  'not_segmented',
  /** The segment already records a different anchor transaction. */
  'already_anchored',
  /** The stored log is inconsistent (details.seq and details.reason say where and why). */
  'corrupt_log',
] as const;
export type AuditErrorCode = (typeof AUDIT_ERROR_CODES)[number];

export class AuditError extends Error {
  constructor(
    readonly code: AuditErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AuditError';
  }
}
