import { randomBytes } from 'node:crypto';
import { addressFromPublicKey, addressFromDid, isDid } from './address.js';
import { concatBytes, utf8 } from './bytes.js';
import { sha256 } from './hash.js';
import { signInOrigin } from './sign-in.js';
import { verifySignature, type SigningKey } from './signature.js';

/**
 * Consent statements (docs/protocol/consent.md). A person lets an app reach their instance by
 * signing, with their account key on their own device, these bytes:
 *
 *   "self/consent/v1" || 0x00 || utf8(
 *     "origin: " origin "\n" "did: " did "\n" "grant: " grant "\n" "app: " app "\n"
 *     "scopes: " scopes "\n" "issued_at: " decimal "\n" "expires_at: " decimal)
 *
 * The instance stores a grant only with a statement that verifies against the DID it serves, so
 * a compromised control plane cannot mint access: it can relay consents, never forge them. The
 * domain keeps a consent signature from passing for a sign-in or a transaction; the origin names
 * the service the person approved through. Every field has a grammar without spaces or line
 * breaks (scopes are joined by single spaces, and a scope has none), so the text has one reading.
 */
export const CONSENT_DOMAIN = 'self/consent/v1';
/** The domain of a revocation's commitment (revocationLeaf). */
export const REVOCATION_DOMAIN = 'self/revocation/v1';

/** How long a grant lasts when the person does not choose: 90 days. */
export const CONSENT_DEFAULT_TTL_MS = 90 * 24 * 3600 * 1000;
/** The shortest grant a person may choose: 1 hour. */
export const CONSENT_MIN_TTL_MS = 3600 * 1000;
/** The longest grant a person may choose: 400 days. */
export const CONSENT_MAX_TTL_MS = 400 * 24 * 3600 * 1000;

/** Grant ids: `gr_` and 22 base64url characters (16 random bytes). */
export const GRANT_ID_RE = /^gr_[A-Za-z0-9_-]{22}$/;
/** App ids (the chain's, and the OAuth client_id): `app_` and 32 lowercase hex digits. */
export const APP_ID_RE = /^app_[0-9a-f]{32}$/;

// The scope grammar of docs/scopes.md. It is @self/chain's isValidScope, restated here because
// the chain depends on this package, not the other way round; the instance's tests check that the
// two agree.
const FIXED_SCOPES: ReadonlySet<string> = new Set([
  'profile:read',
  'storage:read',
  'storage:write',
  'ai:chat',
  'ai:memory',
  'chain:read',
]);
const COLLECTION_SCOPE_RE = /^storage:[a-z][a-z0-9_-]{0,31}:(read|write)$/;
const ORIGIN_RE = /^https?:\/\/[\x21-\x7e]{1,2040}$/;
/** More scopes than any app could use; bounds the statement's size. */
const MAX_SCOPES = 64;

export interface ConsentFields {
  /** The cloud's origin as signInOrigin writes it, e.g. `https://cloud.example`. */
  origin: string;
  /** The person's `did:self:…`. */
  did: string;
  /** The grant's id (`gr_…`), chosen by the cloud. */
  grant: string;
  /** The app's id (`app_…`), its OAuth client_id. */
  app: string;
  /** The scopes granted; any order, duplicates allowed (the statement sorts and deduplicates). */
  scopes: readonly string[];
  /** When the person approved, in milliseconds since the epoch. */
  issuedAt: number;
  /** When the grant ends, in milliseconds since the epoch; after issuedAt. */
  expiresAt: number;
}

export interface RevocationFields {
  /** The grant's id. */
  grant: string;
  /** When it was revoked, in milliseconds since the epoch. */
  revokedAt: number;
}

/** True for a scope of docs/scopes.md (a fixed one or `storage:<collection>:read|write`). */
export function isConsentScope(scope: unknown): scope is string {
  return typeof scope === 'string' && (FIXED_SCOPES.has(scope) || COLLECTION_SCOPE_RE.test(scope));
}

/**
 * The canonical scope list: deduplicated and sorted ascending (scopes are ASCII, so by code
 * unit is by byte). Two approvals of the same set sign the same bytes whatever order a client
 * sent them in. Throws TypeError for an empty list, too many, or a scope outside the grammar.
 */
export function normalizeScopes(scopes: readonly string[]): string[] {
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > MAX_SCOPES)
    throw new TypeError(`scopes must be a list of 1–${MAX_SCOPES} scopes`);
  for (const s of scopes) if (!isConsentScope(s)) throw new TypeError(`not a valid scope: ${String(s)}`);
  return [...new Set(scopes)].sort();
}

/** A fresh grant id: `gr_` + base64url of 16 random bytes. */
export function newGrantId(): string {
  return `gr_${randomBytes(16).toString('base64url')}`;
}

function isMillis(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function checkFields(f: ConsentFields): string[] {
  if (typeof f.origin !== 'string' || !ORIGIN_RE.test(f.origin) || signInOrigin(f.origin) !== f.origin)
    throw new TypeError('origin must be a canonical http(s) origin (see signInOrigin)');
  if (!isDid(f.did)) throw new TypeError('did must be a did:self identifier');
  if (typeof f.grant !== 'string' || !GRANT_ID_RE.test(f.grant))
    throw new TypeError('grant must be gr_ and 22 base64url characters');
  if (typeof f.app !== 'string' || !APP_ID_RE.test(f.app))
    throw new TypeError('app must be app_ and 32 lowercase hex digits');
  const scopes = normalizeScopes(f.scopes);
  if (!isMillis(f.issuedAt)) throw new TypeError('issuedAt must be a whole number of milliseconds');
  if (!isMillis(f.expiresAt) || f.expiresAt <= f.issuedAt)
    throw new TypeError('expiresAt must be a whole number of milliseconds after issuedAt');
  return scopes;
}

/** The exact bytes a device signs to consent. Throws TypeError when a field breaks its grammar. */
export function consentMessage(f: ConsentFields): Uint8Array {
  const scopes = checkFields(f);
  const text =
    `origin: ${f.origin}\n` +
    `did: ${f.did}\n` +
    `grant: ${f.grant}\n` +
    `app: ${f.app}\n` +
    `scopes: ${scopes.join(' ')}\n` +
    `issued_at: ${f.issuedAt}\n` +
    `expires_at: ${f.expiresAt}`;
  return concatBytes(utf8(CONSENT_DOMAIN), new Uint8Array([0]), utf8(text));
}

/** The device side: the account key's signature over consentMessage(f). */
export function signConsent(key: SigningKey, f: ConsentFields): Uint8Array {
  return key.sign(consentMessage(f));
}

/**
 * The instance side: true when `publicKey` is the key of `f.did` (its address is the DID's) and
 * `signature` is its valid signature over consentMessage(f). Malformed input returns false, never
 * throws. Whether the DID is the one the instance serves, and whether the grant has expired, are
 * the caller's to check.
 */
export function verifyConsent(f: ConsentFields, publicKey: Uint8Array, signature: Uint8Array): boolean {
  let message: Uint8Array;
  try {
    message = consentMessage(f);
    if (addressFromPublicKey(publicKey) !== addressFromDid(f.did)) return false;
  } catch {
    return false;
  }
  return verifySignature(publicKey, message, signature);
}

/**
 * The commitment to a consent that is anchored on chain: SHA-256(consentMessage(f)). It proves
 * later that the statement existed by then, and says nothing of its content.
 */
export function consentLeaf(f: ConsentFields): Uint8Array {
  return sha256(consentMessage(f));
}

/**
 * The commitment to a revocation: SHA-256("self/revocation/v1" || 0x00 ||
 * utf8("grant: " id "\n" "revoked_at: " decimal)). Throws TypeError on a malformed field.
 */
export function revocationLeaf(r: RevocationFields): Uint8Array {
  if (typeof r.grant !== 'string' || !GRANT_ID_RE.test(r.grant))
    throw new TypeError('grant must be gr_ and 22 base64url characters');
  if (!isMillis(r.revokedAt)) throw new TypeError('revokedAt must be a whole number of milliseconds');
  const text = `grant: ${r.grant}\nrevoked_at: ${r.revokedAt}`;
  return sha256(utf8(REVOCATION_DOMAIN), new Uint8Array([0]), utf8(text));
}
