/**
 * @self/crypto: keys and primitives for SELF. Wire formats, labels and test vectors are pinned in
 * docs/protocol/crypto.md; tests check the code against that document.
 *
 * Not exported here on purpose: the `…ForTestVectorsOnly` functions (fixed nonces and KEM
 * randomness), which tests import from their modules directly.
 */
export * from './errors.js';
export * from './bytes.js';
export * from './hash.js';
export * from './ed25519.js';
export * from './x25519.js';
export * from './mldsa.js';
export {
  MLKEM768_SEED_BYTES,
  MLKEM768_PUBLIC_KEY_BYTES,
  MLKEM768_SECRET_KEY_BYTES,
  MLKEM768_CIPHERTEXT_BYTES,
  MLKEM768_SHARED_SECRET_BYTES,
  MLKEM768_ENCAPSULATION_RANDOMNESS_BYTES,
  mlkemBackend,
  type MlKemKeyPair,
  type MlKemEncapsulation,
  mlkem768KeyPairFromSeed,
  isValidMlKem768PublicKey,
  isValidMlKem768SecretKey,
  mlkem768Encapsulate,
  mlkem768Decapsulate,
  nobleMlKem768,
  nativeMlKem768,
} from './mlkem.js';
export * from './slhdsa.js';
export * from './signature.js';
export * from './derive.js';
export * from './mnemonic.js';
export * from './address.js';
export * from './account.js';
export * from './root-key.js';
export {
  KemSchemeId,
  type KemScheme,
  HYBRID_KEM_PUBLIC_KEY_BYTES,
  HYBRID_KEM_SECRET_KEY_BYTES,
  HYBRID_KEM_CIPHERTEXT_BYTES,
  HYBRID_KEM_SHARED_SECRET_BYTES,
  HYBRID_KEM_SALT,
  type HybridKemKeyPair,
  type HybridKemEncapsulation,
  type HybridKemSeeds,
  type HybridKemCombinerInput,
  hybridKemKeyPairFromSeeds,
  encryptionKeysFromSeed,
  generateHybridKemKeyPair,
  decodeHybridKemPublicKey,
  combineHybridKemSecrets,
  hybridKemEncapsulate,
  hybridKemDecapsulate,
  hybridKemPublicKeyFromSecretKey,
} from './kem.js';
export {
  AEAD_KEY_BYTES,
  AEAD_TAG_BYTES,
  AES_GCM_NONCE_BYTES,
  XCHACHA_NONCE_BYTES,
  xchachaBackend,
  nobleXChaCha20Poly1305,
  aes256GcmSeal,
  aes256GcmOpen,
  xchacha20Poly1305Seal,
  xchacha20Poly1305Open,
} from './aead.js';
export {
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  AeadAlgId,
  type AeadAlg,
  DEFAULT_AEAD_ALG,
  type SealOptions,
  type OpenOptions,
  type EnvelopeHeader,
  envelopeLength,
  parseEnvelopeHeader,
  seal,
  open,
} from './envelope.js';
export {
  SEALED_BOX_MAGIC,
  SEALED_BOX_VERSION,
  SEALED_BOX_SALT,
  SEALED_BOX_KEY_INFO,
  type SealToPublicKeyOptions,
  sealToPublicKey,
  openWithSecretKey,
} from './sealed-box.js';
export * from './identity.js';
export * from './sign-in.js';
export * from './consent.js';
