import { APP_ID_RE, GRANT_ID_RE, isConsentScope, verifyConsent } from '@self/crypto';
import type { GrantRecord, RevokedBy } from './store.js';

/**
 * A grant as the export archive holds it (`{"grant": …}` lines, export.ts): everything stored,
 * with the person's public key and signature, so whoever reads the archive can check that the
 * person signed every grant in it (docs/protocol/consent.md). Bytes are base64url without padding.
 */
export interface GrantExportJson {
  id: string;
  app_id: string;
  scopes: string[];
  origin: string;
  issued_at: number;
  expires_at: number;
  created_at: number;
  revoked_at: number | null;
  revoked_by: RevokedBy | null;
  last_used_at: number | null;
  uses: number;
  public_key: string;
  signature: string;
}

export const GRANT_EXPORT_KEYS = [
  'id',
  'app_id',
  'scopes',
  'origin',
  'issued_at',
  'expires_at',
  'created_at',
  'revoked_at',
  'revoked_by',
  'last_used_at',
  'uses',
  'public_key',
  'signature',
] as const;

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

export function grantExportJson(g: GrantRecord): GrantExportJson {
  return {
    id: g.id,
    app_id: g.appId,
    scopes: [...g.scopes],
    origin: g.origin,
    issued_at: g.issuedAt,
    expires_at: g.expiresAt,
    created_at: g.createdAt,
    revoked_at: g.revokedAt,
    revoked_by: g.revokedBy,
    last_used_at: g.lastUsedAt,
    uses: g.uses,
    public_key: b64url(g.publicKey),
    signature: b64url(g.signature),
  };
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isTimeOrNull = (v: unknown): v is number | null => v === null || isTime(v);
const BASE64URL_RE = /^[A-Za-z0-9_-]+$/;

/**
 * Checks the shape of a `grant` record: the problem in words, or null. The signature is checked
 * apart (grantSignatureHolds), so a reader can tell a malformed line from an altered one.
 */
export function grantRecordProblem(v: Record<string, unknown>): string | null {
  const keys = Object.keys(v);
  if (keys.length !== GRANT_EXPORT_KEYS.length || !GRANT_EXPORT_KEYS.every((k) => Object.hasOwn(v, k))) {
    return `not {${GRANT_EXPORT_KEYS.join(', ')}}`;
  }
  if (typeof v.id !== 'string' || !GRANT_ID_RE.test(v.id)) return 'id is not a grant id';
  if (typeof v.app_id !== 'string' || !APP_ID_RE.test(v.app_id)) return 'app_id is not an app id';
  if (!Array.isArray(v.scopes) || v.scopes.length === 0 || !v.scopes.every(isConsentScope)) {
    return 'scopes is not a list of scopes';
  }
  if (typeof v.origin !== 'string') return 'origin is not a string';
  for (const f of ['issued_at', 'expires_at', 'created_at', 'uses'] as const) {
    if (!isTime(v[f])) return `${f} is not a whole number`;
  }
  for (const f of ['revoked_at', 'last_used_at'] as const)
    if (!isTimeOrNull(v[f])) return `${f} is not a time or null`;
  const by = v.revoked_by;
  if (by !== null && by !== 'person' && by !== 'app') return 'revoked_by is not "person", "app" or null';
  if ((by === null) !== (v.revoked_at === null))
    return 'revoked_at and revoked_by are not both set or both null';
  for (const f of ['public_key', 'signature'] as const) {
    const s = v[f];
    if (typeof s !== 'string' || !BASE64URL_RE.test(s)) return `${f} is not base64url`;
  }
  return null;
}

/** Whether the person `did` signed this grant's consent statement. */
export function grantSignatureHolds(did: string, g: GrantExportJson): boolean {
  return verifyConsent(
    {
      origin: g.origin,
      did,
      grant: g.id,
      app: g.app_id,
      scopes: g.scopes,
      issuedAt: g.issued_at,
      expiresAt: g.expires_at,
    },
    new Uint8Array(Buffer.from(g.public_key, 'base64url')),
    new Uint8Array(Buffer.from(g.signature, 'base64url')),
  );
}
