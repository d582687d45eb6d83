import { base64url, randomBytes } from './base64url.js';
import { SELFError } from './errors.js';

// RFC 7636 §4.1: 43–128 characters of [A-Z a-z 0-9 - . _ ~].
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** A fresh PKCE code verifier: 32 random bytes, base64url (43 characters; RFC 7636 §4.1). */
export function createCodeVerifier(): string {
  return base64url(randomBytes(32));
}

/** The S256 code challenge of a verifier: base64url(SHA-256(ASCII(verifier))) (RFC 7636 §4.2). */
export async function codeChallengeS256(verifier: string): Promise<string> {
  if (!VERIFIER.test(verifier)) {
    throw new SELFError(
      'INVALID_REQUEST',
      'a PKCE code verifier is 43–128 characters of A-Z a-z 0-9 - . _ ~',
    );
  }
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** A fresh OAuth `state`: 16 random bytes, base64url (binds the redirect to this browser). */
export function createState(): string {
  return base64url(randomBytes(16));
}
