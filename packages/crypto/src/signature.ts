import type { KeyObject } from 'node:crypto';
import { concatBytes, utf8 } from './bytes.js';
import { CryptoError } from './errors.js';
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  ed25519PrivateKeyObject,
  ed25519PublicKeyFromSeed,
  ed25519Sign,
  ed25519Verify,
} from './ed25519.js';
import {
  MLDSA65_PUBLIC_KEY_BYTES,
  MLDSA65_SIGNATURE_BYTES,
  mldsa65KeyPairFromSeed,
  mldsa65Sign,
  mldsa65Verify,
} from './mldsa.js';
import {
  SLHDSA_SHA2_128S_PUBLIC_KEY_BYTES,
  SLHDSA_SHA2_128S_SIGNATURE_BYTES,
  slhDsaSha2128sVerify,
} from './slhdsa.js';

/**
 * Signature schemes, identified on the wire by their first byte. Public keys and signatures are
 * always encoded `scheme byte || component || component …`, so a key says how to verify it.
 */
export const SignatureSchemeId = {
  ed25519: 0x01,
  'hybrid-ed25519-ml-dsa-65': 0x02,
  'hybrid-ed25519-slh-dsa-sha2-128s': 0x03,
} as const;
export type SignatureScheme = keyof typeof SignatureSchemeId;

const SCHEME_BY_ID = new Map<number, SignatureScheme>(
  Object.entries(SignatureSchemeId).map(([name, id]) => [id, name as SignatureScheme]),
);

/** Encoded public key length per scheme (scheme byte included). */
export const PUBLIC_KEY_BYTES: Record<SignatureScheme, number> = {
  ed25519: 1 + ED25519_PUBLIC_KEY_BYTES,
  'hybrid-ed25519-ml-dsa-65': 1 + ED25519_PUBLIC_KEY_BYTES + MLDSA65_PUBLIC_KEY_BYTES,
  'hybrid-ed25519-slh-dsa-sha2-128s': 1 + ED25519_PUBLIC_KEY_BYTES + SLHDSA_SHA2_128S_PUBLIC_KEY_BYTES,
};
/** Encoded signature length per scheme (scheme byte included). */
export const SIGNATURE_BYTES: Record<SignatureScheme, number> = {
  ed25519: 1 + ED25519_SIGNATURE_BYTES,
  'hybrid-ed25519-ml-dsa-65': 1 + ED25519_SIGNATURE_BYTES + MLDSA65_SIGNATURE_BYTES,
  'hybrid-ed25519-slh-dsa-sha2-128s': 1 + ED25519_SIGNATURE_BYTES + SLHDSA_SHA2_128S_SIGNATURE_BYTES,
};

const SIG_CONTEXT = utf8('self-sig-v1');

/**
 * Every component signs `"self-sig-v1" || scheme byte || message`. Binding the scheme stops a
 * stripping attack: the Ed25519 half of a hybrid signature does not verify as a plain Ed25519
 * signature, because the scheme byte differs.
 */
export function signedMessage(schemeId: number, message: Uint8Array): Uint8Array {
  return concatBytes(SIG_CONTEXT, new Uint8Array([schemeId]), message);
}

/** The scheme of an encoded public key. Throws CryptoError on an unknown scheme or wrong length. */
export function schemeOfPublicKey(publicKey: Uint8Array): SignatureScheme {
  const scheme = publicKey.length > 0 ? SCHEME_BY_ID.get(publicKey[0]!) : undefined;
  if (!scheme) throw new CryptoError('unsupported_scheme', 'unknown signature scheme');
  if (publicKey.length !== PUBLIC_KEY_BYTES[scheme]) {
    throw new CryptoError('bad_key', `${scheme} public key must be ${PUBLIC_KEY_BYTES[scheme]} bytes`);
  }
  return scheme;
}

/** True for a well-formed encoded signing public key of a known scheme. */
export function isSigningPublicKey(publicKey: Uint8Array): boolean {
  const scheme = publicKey.length > 0 ? SCHEME_BY_ID.get(publicKey[0]!) : undefined;
  return scheme !== undefined && publicKey.length === PUBLIC_KEY_BYTES[scheme];
}

/** A key pair that signs chain transactions, votes and proposals. */
export interface SigningKey {
  readonly scheme: SignatureScheme;
  /** Encoded public key (scheme byte first). */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface AccountKeySeeds {
  ed25519: Uint8Array;
  /** Absent for Ed25519-only keys (the chain's `ed25519` benchmark mode). */
  mldsa65?: Uint8Array;
}

export function signingKeyFromSeeds(seeds: AccountKeySeeds): SigningKey {
  const edKey: KeyObject = ed25519PrivateKeyObject(seeds.ed25519);
  const edPublic = ed25519PublicKeyFromSeed(seeds.ed25519);
  if (!seeds.mldsa65) {
    const id = SignatureSchemeId.ed25519;
    return {
      scheme: 'ed25519',
      publicKey: concatBytes(new Uint8Array([id]), edPublic),
      sign: (message) => concatBytes(new Uint8Array([id]), ed25519Sign(edKey, signedMessage(id, message))),
    };
  }
  const pq = mldsa65KeyPairFromSeed(seeds.mldsa65);
  const id = SignatureSchemeId['hybrid-ed25519-ml-dsa-65'];
  return {
    scheme: 'hybrid-ed25519-ml-dsa-65',
    publicKey: concatBytes(new Uint8Array([id]), edPublic, pq.publicKey),
    sign: (message) => {
      const m = signedMessage(id, message);
      return concatBytes(new Uint8Array([id]), ed25519Sign(edKey, m), mldsa65Sign(pq.secretKey, m));
    },
  };
}

type HalfVerifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** Verifier of the post-quantum half of each hybrid scheme. */
const PQ_VERIFY: Record<Exclude<SignatureScheme, 'ed25519'>, HalfVerifier> = {
  'hybrid-ed25519-ml-dsa-65': mldsa65Verify,
  'hybrid-ed25519-slh-dsa-sha2-128s': slhDsaSha2128sVerify,
};

/**
 * Verifies an encoded signature against an encoded public key. Hybrid signatures verify only if
 * both halves verify. Malformed input returns false, never throws.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length === 0 || signature.length === 0 || publicKey[0] !== signature[0]) return false;
  const id = publicKey[0]!;
  const scheme = SCHEME_BY_ID.get(id);
  if (
    !scheme ||
    publicKey.length !== PUBLIC_KEY_BYTES[scheme] ||
    signature.length !== SIGNATURE_BYTES[scheme]
  ) {
    return false;
  }
  const m = signedMessage(id, message);
  const edPk = publicKey.subarray(1, 1 + ED25519_PUBLIC_KEY_BYTES);
  const edSig = signature.subarray(1, 1 + ED25519_SIGNATURE_BYTES);
  if (scheme === 'ed25519') return ed25519Verify(edPk, m, edSig);
  const pqPk = publicKey.subarray(1 + ED25519_PUBLIC_KEY_BYTES);
  const pqSig = signature.subarray(1 + ED25519_SIGNATURE_BYTES);
  // Cheap classical check first: a forged or corrupted signature is usually rejected there.
  return ed25519Verify(edPk, m, edSig) && PQ_VERIFY[scheme](pqPk, m, pqSig);
}
