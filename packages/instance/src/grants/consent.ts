import {
  CONSENT_MAX_TTL_MS,
  CONSENT_MIN_TTL_MS,
  consentMessage,
  normalizeScopes,
  verifyConsent,
  type ConsentFields,
} from '@self/crypto';
import { GrantError, type ConsentRefusal } from './errors.js';

/** The consent a client submits in POST /v1/grants: the statement's fields in snake_case, bytes base64url. */
export interface ConsentSubmission {
  consent: {
    origin: string;
    did: string;
    grant: string;
    app: string;
    scopes: string[];
    issued_at: number;
    expires_at: number;
  };
  public_key: string;
  signature: string;
}

/** A consent that verified: its fields (scopes normalised), key and signature. */
export interface CheckedConsent {
  fields: ConsentFields & { scopes: string[] };
  publicKey: Uint8Array;
  signature: Uint8Array;
}

/** How far ahead of the instance's clock a device's issued_at may be (clocks drift). */
export const CONSENT_CLOCK_SKEW_MS = 5 * 60 * 1000;

const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;

function refuse(reason: ConsentRefusal, message: string): never {
  throw new GrantError('invalid_consent', message, { reason });
}

function bytes(text: string, field: string): Uint8Array {
  if (!BASE64URL_RE.test(text) || text.length % 4 === 1) refuse('malformed', `${field} is not base64url`);
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

/**
 * Checks a submitted consent for the instance of `did` at time `now`: well formed, for this DID,
 * signed by the DID's own account key (verifyConsent), not expired, issued no later than a little
 * ahead of now, and lasting 1 hour to 400 days (docs/protocol/consent.md). Throws
 * GrantError('invalid_consent') with details.reason naming the first check that failed.
 */
export function checkConsent(did: string, sub: ConsentSubmission, now: number): CheckedConsent {
  const c = sub.consent;
  const fields = {
    origin: c.origin,
    did: c.did,
    grant: c.grant,
    app: c.app,
    scopes: c.scopes,
    issuedAt: c.issued_at,
    expiresAt: c.expires_at,
  };
  let scopes: string[];
  try {
    consentMessage(fields);
    scopes = normalizeScopes(fields.scopes);
  } catch (err) {
    refuse('malformed', `the consent statement is malformed: ${(err as Error).message}`);
  }
  if (fields.did !== did)
    refuse('wrong_did', `this consent is for ${fields.did}; this instance serves ${did}`);
  const publicKey = bytes(sub.public_key, 'public_key');
  const signature = bytes(sub.signature, 'signature');
  if (!verifyConsent(fields, publicKey, signature)) {
    refuse('bad_signature', "the signature is not the DID's account key's over this consent statement");
  }
  const ttl = fields.expiresAt - fields.issuedAt;
  if (ttl < CONSENT_MIN_TTL_MS) refuse('too_short', 'a grant lasts at least 1 hour');
  if (ttl > CONSENT_MAX_TTL_MS) refuse('too_long', 'a grant lasts at most 400 days');
  if (fields.expiresAt <= now) refuse('expired', 'this consent has expired; approve the app again');
  if (fields.issuedAt > now + CONSENT_CLOCK_SKEW_MS) {
    refuse('not_yet_valid', "this consent is issued in the future; check the device's clock");
  }
  return { fields: { ...fields, scopes }, publicKey, signature };
}
