import { addressFromPublicKey, addressFromDid, isDid } from './address.js';
import { concatBytes, utf8 } from './bytes.js';
import { verifySignature, type SigningKey } from './signature.js';

/**
 * Sign-in by challenge–response (docs/protocol/crypto.md, "Sign-in"). The cloud hands out a random
 * challenge; the device signs these bytes with the person's account key:
 *
 *   "self/sign-in/v1" || 0x00 || utf8(
 *     "origin: " origin "\n" "did: " did "\n" "challenge: " challenge "\n" "expires_at: " decimal)
 *
 * The domain prefix keeps a sign-in signature from ever being accepted as anything else the account
 * key signs (transactions sign 32-byte tagged hashes; consents have their own domain), and the
 * origin binds it to the service the person meant: a phishing site relaying a real challenge gets a
 * signature the real service refuses, because it names the phishing origin. Every field is checked
 * against a grammar without spaces or line breaks, so the text has exactly one reading.
 */
export const SIGN_IN_DOMAIN = 'self/sign-in/v1';

export interface SignInFields {
  /** The service's origin as signInOrigin writes it, e.g. `https://cloud.example` or `http://127.0.0.1:8080`. */
  origin: string;
  /** The person's `did:self:…`. */
  did: string;
  /** The server's challenge: base64url, 16–128 characters. */
  challenge: string;
  /** When the challenge expires, in milliseconds since the epoch (the server's `expires_at`). */
  expiresAt: number;
}

const ORIGIN_RE = /^https?:\/\/[\x21-\x7e]{1,2040}$/;
const CHALLENGE_RE = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * The canonical origin of a service URL: scheme, lowercase host and port (the default port
 * dropped) and any path without its trailing slash; no user info, query or fragment. Devices and
 * the server both pass their URL through this, so `http://LOCALHOST:80/` and `http://localhost`
 * sign the same. Throws TypeError for anything but an http(s) URL.
 */
export function signInOrigin(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`not a URL: "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new TypeError(`the sign-in origin must be an http(s) URL, got ${parsed.protocol}`);
  if (parsed.username !== '' || parsed.password !== '')
    throw new TypeError('the sign-in origin must not carry user info');
  const path = parsed.pathname.replace(/\/+$/, '');
  return `${parsed.protocol}//${parsed.host}${path}`;
}

function checkFields(f: SignInFields): void {
  if (typeof f.origin !== 'string' || !ORIGIN_RE.test(f.origin) || signInOrigin(f.origin) !== f.origin)
    throw new TypeError('origin must be a canonical http(s) origin (see signInOrigin)');
  if (!isDid(f.did)) throw new TypeError('did must be a did:self identifier');
  if (typeof f.challenge !== 'string' || !CHALLENGE_RE.test(f.challenge))
    throw new TypeError('challenge must be 16–128 base64url characters');
  if (!Number.isSafeInteger(f.expiresAt) || f.expiresAt < 0)
    throw new TypeError('expiresAt must be a whole number of milliseconds since the epoch');
}

/** The exact bytes a device signs to sign in. Throws TypeError when a field breaks its grammar. */
export function signInMessage(f: SignInFields): Uint8Array {
  checkFields(f);
  const text =
    `origin: ${f.origin}\n` +
    `did: ${f.did}\n` +
    `challenge: ${f.challenge}\n` +
    `expires_at: ${f.expiresAt}`;
  return concatBytes(utf8(SIGN_IN_DOMAIN), new Uint8Array([0]), utf8(text));
}

/** The device side: the account key's signature over signInMessage(f). */
export function signSignIn(key: SigningKey, f: SignInFields): Uint8Array {
  return key.sign(signInMessage(f));
}

/**
 * The server side: true when `publicKey` is the key of `f.did` (its address is the DID's) and
 * `signature` is its valid signature over signInMessage(f). Malformed input returns false, never
 * throws. Whether the challenge is one the server issued, unused and unexpired, and whether the
 * DID is active on chain, are the server's to check.
 */
export function verifySignIn(f: SignInFields, publicKey: Uint8Array, signature: Uint8Array): boolean {
  let message: Uint8Array;
  try {
    message = signInMessage(f);
    if (addressFromPublicKey(publicKey) !== addressFromDid(f.did)) return false;
  } catch {
    return false;
  }
  return verifySignature(publicKey, message, signature);
}
