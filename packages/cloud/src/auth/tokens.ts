import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Session tokens: `self_s_` + base64url of 32 random bytes (43 characters). */
export const SESSION_TOKEN_PREFIX = 'self_s_';
/** The operator's token for /v1/admin: `self_op_` + base64url of 32 random bytes. */
export const OPERATOR_TOKEN_PREFIX = 'self_op_';

const SESSION_TOKEN_RE = /^self_s_[A-Za-z0-9_-]{43}$/;
const OPERATOR_TOKEN_RE = /^self_op_[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return SESSION_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function newOperatorToken(): string {
  return OPERATOR_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export const isSessionTokenShape = (token: string): boolean => SESSION_TOKEN_RE.test(token);
export const isOperatorTokenShape = (token: string): boolean => OPERATOR_TOKEN_RE.test(token);

/** What is stored of a token: its SHA-256. A stolen database holds no usable token. */
export function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Constant-time comparison of two token hashes. */
export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A random challenge: base64url of 32 random bytes. */
export function newChallenge(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The token of an `Authorization: Bearer <token>` header, or null. Only one header, one scheme
 * (case-insensitive, as RFC 9110 says) and one token are accepted.
 */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer ([\x21-\x7e]{1,256})$/i.exec(header);
  return match ? match[1]! : null;
}
