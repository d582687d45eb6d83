import { concatBytes } from './bytes.js';
import { deriveSeed } from './derive.js';
import { ed25519PrivateKeyObject, ed25519PublicKeyFromSeed, ed25519Sign } from './ed25519.js';
import { SignatureSchemeId, signedMessage, type SigningKey } from './signature.js';
import { slhDsaSha2128sKeyPairFromSeed, slhDsaSha2128sSign } from './slhdsa.js';

export interface RootKeySeeds {
  ed25519: Uint8Array;
  /** 48 bytes. */
  slhDsaSha2128s: Uint8Array;
}

/**
 * The identity root key: hybrid Ed25519 + SLH-DSA-SHA2-128s (scheme 0x03). It signs only DID
 * rotations and recoveries. Public key `0x03 || Ed25519 (32) || SLH-DSA (32)`; signature
 * `0x03 || Ed25519 (64) || SLH-DSA (7856)`, each half over `"self-sig-v1" || 0x03 || message`.
 * Building it takes most of a second (SLH-DSA key generation) and each signature a few seconds.
 */
export function rootSigningKeyFromSeeds(seeds: RootKeySeeds): SigningKey {
  const edKey = ed25519PrivateKeyObject(seeds.ed25519);
  const edPublic = ed25519PublicKeyFromSeed(seeds.ed25519);
  const pq = slhDsaSha2128sKeyPairFromSeed(seeds.slhDsaSha2128s);
  const id = SignatureSchemeId['hybrid-ed25519-slh-dsa-sha2-128s'];
  return {
    scheme: 'hybrid-ed25519-slh-dsa-sha2-128s',
    publicKey: concatBytes(new Uint8Array([id]), edPublic, pq.publicKey),
    sign: (message) => {
      const m = signedMessage(id, message);
      return concatBytes(new Uint8Array([id]), ed25519Sign(edKey, m), slhDsaSha2128sSign(pq.secretKey, m));
    },
  };
}

/** The identity root key from a BIP39 seed (64 bytes), with the pinned HKDF labels. */
export function rootKeyFromSeed(bip39Seed: Uint8Array): SigningKey {
  return rootSigningKeyFromSeeds({
    ed25519: deriveSeed(bip39Seed, 'rootEd25519'),
    slhDsaSha2128s: deriveSeed(bip39Seed, 'rootSlhDsaSha2128s'),
  });
}
