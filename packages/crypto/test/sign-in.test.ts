import { describe, expect, it } from 'vitest';
import { docVector } from '../../../scripts/doc-vectors.js';
import { accountKeysFromPhrase } from '../src/account.js';
import { fromHex, toHex } from '../src/bytes.js';
import { sha256 } from '../src/hash.js';
import {
  SIGN_IN_DOMAIN,
  signInMessage,
  signInOrigin,
  signSignIn,
  verifySignIn,
  type SignInFields,
} from '../src/sign-in.js';
import { ABANDON_PHRASE, flipBit } from './fixtures.js';

// The account keys of the all-"abandon" phrase; Ed25519 signatures are deterministic, so the
// Ed25519-mode key gives a reproducible signature vector.
const ed = accountKeysFromPhrase(ABANDON_PHRASE, 'ed25519');
const hybrid = accountKeysFromPhrase(ABANDON_PHRASE);
const other = accountKeysFromPhrase(`${'zoo '.repeat(23)}vote`, 'ed25519');

interface EdVector {
  origin: string;
  did: string;
  challenge: string;
  expiresAt: number;
  message: string;
  publicKey: string;
  signature: string;
}
interface HybridVector {
  origin: string;
  did: string;
  challenge: string;
  expiresAt: number;
  messageSha256: string;
}
const fieldsOf = (v: SignInFields): SignInFields => ({
  origin: v.origin,
  did: v.did,
  challenge: v.challenge,
  expiresAt: v.expiresAt,
});

/** The vectors pinned in docs/protocol/sign-in.md. */
const ED = docVector<EdVector>('docs/protocol/sign-in.md', 'sign-in.ed25519');
const VECTOR = {
  fields: fieldsOf(ED),
  message: ED.message,
  publicKey: ED.publicKey,
  signature: ED.signature,
};
const HY = docVector<HybridVector>('docs/protocol/sign-in.md', 'sign-in.hybrid');
const HYBRID_VECTOR = { fields: fieldsOf(HY), messageSha256: HY.messageSha256 };

describe('signInMessage', () => {
  it('matches the pinned vectors byte for byte', () => {
    expect(ed.did).toBe(VECTOR.fields.did);
    expect(toHex(ed.account.publicKey)).toBe(VECTOR.publicKey);
    expect(toHex(signInMessage(VECTOR.fields))).toBe(VECTOR.message);
    expect(toHex(signSignIn(ed.account, VECTOR.fields))).toBe(VECTOR.signature);
    expect(hybrid.did).toBe(HYBRID_VECTOR.fields.did);
    expect(toHex(sha256(signInMessage(HYBRID_VECTOR.fields)))).toBe(HYBRID_VECTOR.messageSha256);
  });

  it('is the domain, a NUL, then four labelled lines', () => {
    const text = new TextDecoder().decode(signInMessage(VECTOR.fields));
    expect(text).toBe(
      `${SIGN_IN_DOMAIN}\0origin: https://cloud.example\n` +
        `did: ${VECTOR.fields.did}\n` +
        `challenge: ${VECTOR.fields.challenge}\n` +
        'expires_at: 1767225900000',
    );
  });

  it('refuses fields that could make the text ambiguous', () => {
    const bad: Array<[string, Partial<SignInFields>]> = [
      ['origin with a line break', { origin: 'https://cloud.example\ndid: x' }],
      ['origin with a space', { origin: 'https://cloud .example' }],
      ['origin with a trailing slash', { origin: 'https://cloud.example/' }],
      ['origin with an uppercase host', { origin: 'https://Cloud.example' }],
      ['origin with a default port', { origin: 'https://cloud.example:443' }],
      ['origin that is not http(s)', { origin: 'ftp://cloud.example' }],
      ['not a did:self', { did: 'did:web:cloud.example' }],
      ['a DID with a bad checksum', { did: `${VECTOR.fields.did.slice(0, -1)}q` }],
      ['a short challenge', { challenge: 'abc' }],
      ['a challenge with padding', { challenge: `${VECTOR.fields.challenge}=` }],
      ['a challenge with a line break', { challenge: `${VECTOR.fields.challenge}\nx` }],
      ['a negative expiry', { expiresAt: -1 }],
      ['a fractional expiry', { expiresAt: 1.5 }],
    ];
    for (const [what, patch] of bad) {
      expect(() => signInMessage({ ...VECTOR.fields, ...patch }), what).toThrow(TypeError);
    }
  });
});

describe('signInOrigin', () => {
  it('writes one canonical form per service URL', () => {
    expect(signInOrigin('HTTPS://Cloud.Example:443/')).toBe('https://cloud.example');
    expect(signInOrigin('http://localhost:80')).toBe('http://localhost');
    expect(signInOrigin('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(signInOrigin('https://host.example/self/?q=1#x')).toBe('https://host.example/self');
    expect(signInOrigin('http://[::1]:8080')).toBe('http://[::1]:8080');
  });

  it('refuses what is not an http(s) URL or carries credentials', () => {
    expect(() => signInOrigin('not a url')).toThrow(TypeError);
    expect(() => signInOrigin('file:///etc/passwd')).toThrow(TypeError);
    expect(() => signInOrigin('https://user:pw@cloud.example')).toThrow(TypeError);
  });
});

describe('verifySignIn', () => {
  const sig = fromHex(VECTOR.signature);

  it('accepts the signature of the DID’s own key, Ed25519 or hybrid', () => {
    expect(verifySignIn(VECTOR.fields, ed.account.publicKey, sig)).toBe(true);
    const hybridSig = signSignIn(hybrid.account, HYBRID_VECTOR.fields);
    expect(verifySignIn(HYBRID_VECTOR.fields, hybrid.account.publicKey, hybridSig)).toBe(true);
  });

  it('refuses a signature over any other origin, DID, challenge or expiry', () => {
    const changed: Array<Partial<SignInFields>> = [
      { origin: 'https://cloud.example.evil' },
      { challenge: 'BAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8' },
      { expiresAt: VECTOR.fields.expiresAt + 1 },
      { did: other.did },
    ];
    for (const patch of changed)
      expect(verifySignIn({ ...VECTOR.fields, ...patch }, ed.account.publicKey, sig)).toBe(false);
  });

  it('refuses a key that is not the DID’s, even with its own valid signature', () => {
    const otherSig = signSignIn(other.account, VECTOR.fields);
    expect(verifySignIn(VECTOR.fields, other.account.publicKey, otherSig)).toBe(false);
    // The hybrid key of the same phrase is another address, so another DID.
    const hybridSig = signSignIn(hybrid.account, VECTOR.fields);
    expect(verifySignIn(VECTOR.fields, hybrid.account.publicKey, hybridSig)).toBe(false);
  });

  it('refuses a signature made for another purpose over the same text', () => {
    // The same key signing the bare text (without the domain) must not pass for a sign-in.
    const bare = signInMessage(VECTOR.fields).subarray(SIGN_IN_DOMAIN.length + 1);
    expect(verifySignIn(VECTOR.fields, ed.account.publicKey, ed.account.sign(bare))).toBe(false);
    // And a sign-in signature is no signature over the message's hash (what a transaction signs).
    expect(verifySignIn(VECTOR.fields, ed.account.publicKey, ed.account.sign(sha256(bare)))).toBe(false);
  });

  it('returns false for tampered or malformed input, never throws', () => {
    expect(verifySignIn(VECTOR.fields, ed.account.publicKey, flipBit(sig, 10))).toBe(false);
    expect(verifySignIn(VECTOR.fields, ed.account.publicKey, sig.subarray(0, 40))).toBe(false);
    expect(verifySignIn(VECTOR.fields, ed.account.publicKey, new Uint8Array())).toBe(false);
    expect(verifySignIn(VECTOR.fields, new Uint8Array([1, 2, 3]), sig)).toBe(false);
    expect(verifySignIn({ ...VECTOR.fields, origin: 'https://x/\n' }, ed.account.publicKey, sig)).toBe(false);
    expect(verifySignIn({ ...VECTOR.fields, did: 'nope' }, ed.account.publicKey, sig)).toBe(false);
  });
});
