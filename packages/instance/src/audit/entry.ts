import { fromHex, taggedHash, toHex } from '@self/crypto';
import { decode as decodeCanonical, encode as encodeCanonical } from '@self/chain';
import { AuditError } from './errors.js';

/**
 * One audit log entry: who (actor, app) did what (action under scope) to which object, when, and
 * how it ended. Format pinned in docs/protocol/audit.md §1–2.
 */
export interface AuditEntry {
  /** 1, 2, 3… without gaps. */
  seq: number;
  /** Milliseconds since the Unix epoch (the instance's clock when the entry was appended). */
  time: number;
  /** A DID (`did:method:id`), or `person` for the person acting in their own Super-App. */
  actor: string;
  /** The app acting on the actor's behalf; null when the person acts directly. */
  app: string | null;
  /** The grant scope the action was checked against, e.g. `storage:notes:read`. */
  scope: string;
  /** Dotted lowercase verb, e.g. `data.get`. */
  action: string;
  /** What was acted on (a key, a collection, a session id); may be empty. */
  object: string;
  outcome: AuditOutcome;
  /** entryHash of entry seq − 1; 32 zero bytes for seq 1. */
  prev: Uint8Array;
}

export const AUDIT_OUTCOMES = ['ok', 'denied', 'error'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** Hash domain of an entry: entryHash = SHA-256(utf8(domain) ‖ 0x00 ‖ encodeEntry(entry)). */
export const AUDIT_ENTRY_DOMAIN = 'self-audit-entry-v1';
/** The `v` field of the encoding. */
export const AUDIT_ENTRY_VERSION = 1;
export const AUDIT_HASH_BYTES = 32;
/** The `prev` of entry 1. */
export const AUDIT_GENESIS_PREV: Uint8Array = new Uint8Array(AUDIT_HASH_BYTES);

/** Upper bounds, in UTF-16 code units (JavaScript string length). */
export const AUDIT_LIMITS = {
  actor: 256,
  app: 128,
  scope: 128,
  action: 64,
  object: 1024,
  /** No valid entry encodes to more; decode refuses larger input before parsing it. */
  encodedBytes: 8192,
} as const;

const PERSON = 'person';
// W3C DID Core §3.1: did:<method-name>:<method-specific-id>, idchar = ALPHA / DIGIT / . - _ / pct-encoded.
const DID_RE = /^did:[a-z0-9]+:(?:(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+$/;
const APP_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const SCOPE_RE = /^[\x21-\x7e]+$/;
const ACTION_RE = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*$/;
/** In a `u` regex a well-formed surrogate pair is one code point, so this matches lone surrogates only. */
const LONE_SURROGATE_RE = /\p{Cs}/u;

const ENTRY_KEYS = ['action', 'actor', 'app', 'object', 'outcome', 'prev', 'scope', 'seq', 'time', 'v'];

function invalid(field: string, message: string): never {
  throw new AuditError('invalid_entry', `audit entry: ${field} ${message}`, { field });
}

function checkString(field: string, value: unknown, max: number, re: RegExp | null, min = 1): string {
  if (typeof value !== 'string') invalid(field, 'must be a string');
  if (value.length < min || value.length > max) invalid(field, `must be ${min}..${max} characters`);
  if (re !== null && !re.test(value)) invalid(field, `has an invalid format: ${JSON.stringify(value)}`);
  return value;
}

/** Throws AuditError('invalid_entry', …, {field}) for the first field that breaks its rule. */
export function validateEntry(entry: AuditEntry): void {
  if (typeof entry !== 'object' || entry === null) invalid('entry', 'must be an object');
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 1) invalid('seq', 'must be a safe integer ≥ 1');
  if (!Number.isSafeInteger(entry.time) || entry.time < 0) invalid('time', 'must be a safe integer ≥ 0 (ms)');
  const actor = checkString('actor', entry.actor, AUDIT_LIMITS.actor, null);
  if (actor !== PERSON && !DID_RE.test(actor))
    invalid('actor', `must be a DID or "person": ${JSON.stringify(actor)}`);
  if (entry.app !== null) {
    if (typeof entry.app !== 'string') invalid('app', 'must be a string or null');
    checkString('app', entry.app, AUDIT_LIMITS.app, APP_RE);
  }
  checkString('scope', entry.scope, AUDIT_LIMITS.scope, SCOPE_RE);
  checkString('action', entry.action, AUDIT_LIMITS.action, ACTION_RE);
  const object = checkString('object', entry.object, AUDIT_LIMITS.object, null, 0);
  if (LONE_SURROGATE_RE.test(object)) invalid('object', 'must be well-formed Unicode (no lone surrogates)');
  if (!(AUDIT_OUTCOMES as readonly unknown[]).includes(entry.outcome)) {
    invalid('outcome', `must be one of ${AUDIT_OUTCOMES.join(', ')}`);
  }
  if (!(entry.prev instanceof Uint8Array) || entry.prev.length !== AUDIT_HASH_BYTES) {
    invalid('prev', `must be ${AUDIT_HASH_BYTES} bytes`);
  }
}

/**
 * Canonical CBOR of `{v: 1, seq, time, actor, app, scope, action, object, outcome, prev}` (keys
 * sorted as RFC 8949 §4.2 requires, so the order is v, app, seq, prev, time, actor, scope, action,
 * object, outcome). Validates first.
 */
export function encodeEntry(entry: AuditEntry): Uint8Array {
  validateEntry(entry);
  return encodeCanonical({
    v: AUDIT_ENTRY_VERSION,
    seq: entry.seq,
    time: entry.time,
    actor: entry.actor,
    app: entry.app,
    scope: entry.scope,
    action: entry.action,
    object: entry.object,
    outcome: entry.outcome,
    prev: entry.prev,
  });
}

/** Strict inverse of encodeEntry: only canonical encodings of valid entries decode. */
export function decodeEntry(bytes: Uint8Array): AuditEntry {
  if (!(bytes instanceof Uint8Array)) throw new AuditError('malformed_entry', 'audit entry: expected bytes');
  if (bytes.length > AUDIT_LIMITS.encodedBytes) {
    throw new AuditError(
      'malformed_entry',
      `audit entry: ${bytes.length} bytes, limit ${AUDIT_LIMITS.encodedBytes}`,
    );
  }
  let value: unknown;
  try {
    value = decodeCanonical(bytes);
  } catch (err) {
    throw new AuditError('malformed_entry', `audit entry: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new AuditError('malformed_entry', 'audit entry: not a map');
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  if (keys.length !== ENTRY_KEYS.length || keys.some((k, i) => k !== ENTRY_KEYS[i])) {
    throw new AuditError('malformed_entry', `audit entry: keys must be exactly ${ENTRY_KEYS.join(', ')}`);
  }
  if (o.v !== AUDIT_ENTRY_VERSION) {
    throw new AuditError('malformed_entry', `audit entry: unsupported version ${String(o.v)}`);
  }
  const entry = {
    seq: o.seq,
    time: o.time,
    actor: o.actor,
    app: o.app,
    scope: o.scope,
    action: o.action,
    object: o.object,
    outcome: o.outcome,
    prev: o.prev,
  } as AuditEntry;
  try {
    validateEntry(entry);
  } catch (err) {
    if (err instanceof AuditError) throw new AuditError('malformed_entry', err.message, err.details);
    throw err;
  }
  return entry;
}

/** entryHash over an entry's encoding (for bytes already known to be a valid canonical entry). */
export function hashEncodedEntry(encoded: Uint8Array): Uint8Array {
  return taggedHash(AUDIT_ENTRY_DOMAIN, encoded);
}

/** SHA-256(utf8("self-audit-entry-v1") ‖ 0x00 ‖ encodeEntry(entry)). */
export function entryHash(entry: AuditEntry): Uint8Array {
  return hashEncodedEntry(encodeEntry(entry));
}

/** An entry as JSON: the same fields, `prev` as lowercase hex. */
export type AuditEntryJson = Omit<AuditEntry, 'prev'> & { prev: string };

export function entryToJson(entry: AuditEntry): AuditEntryJson {
  return {
    seq: entry.seq,
    time: entry.time,
    actor: entry.actor,
    app: entry.app,
    scope: entry.scope,
    action: entry.action,
    object: entry.object,
    outcome: entry.outcome,
    prev: toHex(entry.prev),
  };
}

/** Parses and validates untrusted JSON; throws AuditError('invalid_entry') on any bad field. */
export function entryFromJson(json: unknown): AuditEntry {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) invalid('entry', 'must be an object');
  const o = json as Record<string, unknown>;
  if (typeof o.prev !== 'string' || !/^[0-9a-f]{64}$/.test(o.prev))
    invalid('prev', 'must be 64 lowercase hex digits');
  const entry = {
    seq: o.seq,
    time: o.time,
    actor: o.actor,
    app: o.app,
    scope: o.scope,
    action: o.action,
    object: o.object,
    outcome: o.outcome,
    prev: fromHex(o.prev),
  } as AuditEntry;
  validateEntry(entry);
  return entry;
}
