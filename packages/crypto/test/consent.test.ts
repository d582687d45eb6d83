import { describe, expect, it } from 'vitest';
import { docVector } from '../../../scripts/doc-vectors.js';
import { accountKeysFromPhrase } from '../src/account.js';
import { fromHex, toHex } from '../src/bytes.js';
import {
  CONSENT_DOMAIN,
  GRANT_ID_RE,
  consentLeaf,
  consentMessage,
  isConsentScope,
  newGrantId,
  normalizeScopes,
  revocationLeaf,
  signConsent,
  verifyConsent,
  type ConsentFields,
} from '../src/consent.js';
import { signSignIn } from '../src/sign-in.js';
import { ABANDON_PHRASE, flipBit } from './fixtures.js';

// The all-"abandon" account keys; the Ed25519-mode key signs deterministically, so its signature
// is a reproducible vector.
const ed = accountKeysFromPhrase(ABANDON_PHRASE, 'ed25519');
const hybrid = accountKeysFromPhrase(ABANDON_PHRASE);
const other = accountKeysFromPhrase(`${'zoo '.repeat(23)}vote`, 'ed25519');

type Vector = ConsentFields & { message?: string; publicKey?: string; signature?: string; leaf: string };
const fieldsOf = (v: ConsentFields): ConsentFields => ({
  origin: v.origin,
  did: v.did,
  grant: v.grant,
  app: v.app,
  scopes: v.scopes,
  issuedAt: v.issuedAt,
  expiresAt: v.expiresAt,
});

/** The vectors pinned in docs/protocol/consent.md. */
const ED = docVector<Vector>('docs/protocol/consent.md', 'consent.ed25519');
const HY = docVector<Vector>('docs/protocol/consent.md', 'consent.hybrid');
const REV = docVector<{ grant: string; revokedAt: number; leaf: string }>(
  'docs/protocol/consent.md',
  'consent.revocation',
);
const F = fieldsOf(ED);
const SIG = fromHex(ED.signature!);

describe('consentMessage', () => {
  it('matches the pinned vectors byte for byte', () => {
    expect(ed.did).toBe(F.did);
    expect(toHex(ed.account.publicKey)).toBe(ED.publicKey);
    expect(toHex(consentMessage(F))).toBe(ED.message);
    expect(toHex(signConsent(ed.account, F))).toBe(ED.signature);
    expect(toHex(consentLeaf(F))).toBe(ED.leaf);
    expect(hybrid.did).toBe(HY.did);
    expect(toHex(consentLeaf(fieldsOf(HY)))).toBe(HY.leaf);
    expect(toHex(revocationLeaf({ grant: REV.grant, revokedAt: REV.revokedAt }))).toBe(REV.leaf);
  });

  it('is the domain, a NUL, then seven labelled lines with the scopes sorted', () => {
    const text = new TextDecoder().decode(consentMessage(F));
    expect(text).toBe(
      `${CONSENT_DOMAIN}\0origin: https://cloud.example\n` +
        `did: ${F.did}\n` +
        'grant: gr_AAECAwQFBgcICQoLDA0ODw\n' +
        'app: app_000102030405060708090a0b0c0d0e0f\n' +
        'scopes: profile:read storage:notes:read storage:write\n' +
        'issued_at: 1767225600000\n' +
        'expires_at: 1775001600000',
    );
  });

  it('signs the same bytes whatever the order or repetition of the scopes', () => {
    const shuffled = {
      ...F,
      scopes: ['storage:notes:read', 'storage:write', 'profile:read', 'storage:write'],
    };
    expect(toHex(consentMessage(shuffled))).toBe(ED.message);
    expect(verifyConsent(shuffled, ed.account.publicKey, SIG)).toBe(true);
    expect(normalizeScopes(['storage:write', 'ai:chat', 'ai:chat'])).toEqual(['ai:chat', 'storage:write']);
  });

  it('refuses fields that could make the text ambiguous or break the grammar', () => {
    const bad: Array<[string, Partial<ConsentFields>]> = [
      ['origin with a line break', { origin: 'https://cloud.example\ndid: x' }],
      ['origin with a trailing slash', { origin: 'https://cloud.example/' }],
      ['origin with an uppercase host', { origin: 'https://Cloud.example' }],
      ['not a did:self', { did: 'did:web:cloud.example' }],
      ['a short grant id', { grant: 'gr_AAEC' }],
      ['a grant id without its prefix', { grant: 'AAECAwQFBgcICQoLDA0ODw' }],
      ['a grant id with a line break', { grant: 'gr_AAECAwQFBgcICQoLDA0O\n' }],
      ['an uppercase app id', { app: 'app_000102030405060708090A0B0C0D0E0F' }],
      ['a short app id', { app: 'app_00' }],
      ['no scopes', { scopes: [] }],
      ['an unknown scope', { scopes: ['storage:everything'] }],
      ['a scope with a space', { scopes: ['profile:read storage:write'] }],
      ['a bad collection name', { scopes: ['storage:Notes:read'] }],
      ['a fractional issue time', { issuedAt: 1.5 }],
      ['a negative issue time', { issuedAt: -1 }],
      ['an expiry equal to the issue time', { expiresAt: F.issuedAt }],
      ['an expiry before the issue time', { expiresAt: F.issuedAt - 1 }],
    ];
    for (const [what, patch] of bad)
      expect(() => consentMessage({ ...F, ...patch }), what).toThrow(TypeError);
  });
});

describe('verifyConsent', () => {
  it('accepts the signature of the DID’s own key, Ed25519 or hybrid', () => {
    expect(verifyConsent(F, ed.account.publicKey, SIG)).toBe(true);
    const h = fieldsOf(HY);
    expect(verifyConsent(h, hybrid.account.publicKey, signConsent(hybrid.account, h))).toBe(true);
  });

  it('refuses the signature when any field changes', () => {
    const changed: Array<Partial<ConsentFields>> = [
      { origin: 'https://cloud.example.evil' },
      { did: other.did },
      { grant: 'gr_AAECAwQFBgcICQoLDA0ODx' },
      { app: 'app_ff0102030405060708090a0b0c0d0e0f' },
      { scopes: ['profile:read', 'storage:notes:read'] },
      { scopes: [...F.scopes, 'ai:chat'] },
      { scopes: ['profile:read', 'storage:notes:write', 'storage:write'] },
      { issuedAt: F.issuedAt + 1 },
      { expiresAt: F.expiresAt + 1 },
    ];
    for (const patch of changed)
      expect(verifyConsent({ ...F, ...patch }, ed.account.publicKey, SIG)).toBe(false);
  });

  it('refuses a key that is not the DID’s, even with its own valid signature', () => {
    expect(verifyConsent(F, other.account.publicKey, signConsent(other.account, F))).toBe(false);
    // The other DID's own key, signing a consent for the first DID: valid signature, wrong person.
    const forOther = { ...F, did: other.did };
    expect(verifyConsent(F, other.account.publicKey, signConsent(other.account, forOther))).toBe(false);
    expect(verifyConsent(forOther, other.account.publicKey, signConsent(other.account, forOther))).toBe(true);
    // The hybrid key of the same phrase is another address, so another DID.
    expect(verifyConsent(F, hybrid.account.publicKey, signConsent(hybrid.account, F))).toBe(false);
  });

  it('refuses a signature made for another purpose', () => {
    const bare = consentMessage(F).subarray(CONSENT_DOMAIN.length + 1);
    expect(verifyConsent(F, ed.account.publicKey, ed.account.sign(bare))).toBe(false);
    expect(verifyConsent(F, ed.account.publicKey, ed.account.sign(consentLeaf(F)))).toBe(false);
    const signIn = signSignIn(ed.account, {
      origin: F.origin,
      did: F.did,
      challenge: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8',
      expiresAt: F.expiresAt,
    });
    expect(verifyConsent(F, ed.account.publicKey, signIn)).toBe(false);
  });

  it('returns false for tampered or malformed input, never throws', () => {
    expect(verifyConsent(F, ed.account.publicKey, flipBit(SIG, 10))).toBe(false);
    expect(verifyConsent(F, ed.account.publicKey, SIG.subarray(0, 40))).toBe(false);
    expect(verifyConsent(F, ed.account.publicKey, new Uint8Array())).toBe(false);
    expect(verifyConsent(F, new Uint8Array([1, 2, 3]), SIG)).toBe(false);
    expect(verifyConsent({ ...F, did: 'nope' }, ed.account.publicKey, SIG)).toBe(false);
    expect(
      verifyConsent({ ...F, scopes: 'profile:read' as unknown as string[] }, ed.account.publicKey, SIG),
    ).toBe(false);
    expect(verifyConsent({ ...F, scopes: [7 as unknown as string] }, ed.account.publicKey, SIG)).toBe(false);
    expect(verifyConsent(null as unknown as ConsentFields, ed.account.publicKey, SIG)).toBe(false);
  });
});

describe('grant ids, scopes and revocation leaves', () => {
  it('makes fresh grant ids in the pinned grammar', () => {
    const a = newGrantId();
    expect(a).toMatch(GRANT_ID_RE);
    expect(newGrantId()).not.toBe(a);
  });

  it('knows the scopes of docs/scopes.md', () => {
    for (const s of ['profile:read', 'storage:read', 'storage:write', 'ai:chat', 'ai:memory', 'chain:read'])
      expect(isConsentScope(s)).toBe(true);
    expect(isConsentScope('storage:notes:write')).toBe(true);
    expect(isConsentScope('storage:notes:delete')).toBe(false);
    expect(isConsentScope('admin')).toBe(false);
    expect(isConsentScope(1)).toBe(false);
  });

  it('commits to a revocation by grant and time, and refuses malformed ones', () => {
    const base = { grant: REV.grant, revokedAt: REV.revokedAt };
    expect(toHex(revocationLeaf({ ...base, revokedAt: base.revokedAt + 1 }))).not.toBe(REV.leaf);
    expect(() => revocationLeaf({ ...base, grant: 'gr_x' })).toThrow(TypeError);
    expect(() => revocationLeaf({ ...base, revokedAt: -1 })).toThrow(TypeError);
  });
});
