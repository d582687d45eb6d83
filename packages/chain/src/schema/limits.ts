/**
 * Protocol size limits, pinned in docs/protocol/transactions.md. They bound what a peer can make a
 * node allocate while decoding; chain parameters (max_tx_bytes, max_block_txs…) tighten them.
 */
export const LIMITS = {
  /** Chain ids: lowercase, starting with a letter or digit. */
  chainIdRe: /^[a-z0-9][a-z0-9._-]{0,63}$/,
  /** Encoded public keys (hybrid Ed25519 + ML-DSA-65 is 1,985 bytes). */
  maxPublicKeyBytes: 4096,
  /** Encoded signatures (hybrid Ed25519 + ML-DSA-65 is 3,374 bytes). */
  maxSignatureBytes: 8192,
  /** DID document keys (root: SLH-DSA + Ed25519; encryption: X25519 + ML-KEM-768 ≈ 1.2 KB). */
  maxDocumentKeyBytes: 2048,
  maxDelegates: 8,
  maxServices: 8,
  /** Verification-method and service ids are DID URL fragments. */
  fragmentRe: /^[A-Za-z0-9_-]{1,32}$/,
  serviceTypeRe: /^[A-Za-z][A-Za-z0-9]{0,63}$/,
  maxUrlChars: 256,
  peerIdRe: /^[A-Za-z0-9]{1,128}$/,
  maxMultiaddrs: 8,
  multiaddrRe: /^\/[\x21-\x7e]{1,255}$/,
  maxRoles: 8,
  roleRe: /^[a-z][a-z0-9-]{0,31}$/,
  versionRe: /^[\x21-\x7e]{1,32}$/,
  appIdRe: /^app_[0-9a-f]{32}$/,
  maxAppNameChars: 64,
  maxRedirectUris: 10,
  maxRedirectUriChars: 512,
  /** UTF-8 bytes of an app's logo URL ('' for none). */
  maxLogoUriBytes: 512,
  maxScopes: 16,
  maxScopeChars: 64,
  /** An encoded SignedVote inside evidence or a commit certificate. */
  maxVoteBytes: 16 * 1024,
  /** Ranked block hashes in one prevote. */
  maxRanking: 1024,
  /** Votes in one commit certificate (committee_size 0 means every validator). */
  maxCertificateVotes: 10_000,
  /** Transactions and colour transitions in one block, whatever max_block_txs says. */
  maxBlockTxs: 1_000_000,
  /** A decoded block (max_block_bytes tightens this). */
  maxBlockBytes: 256 * 1024 * 1024,
  /** A decoded transaction before max_tx_bytes is known (e.g. inside a block). */
  maxTxBytes: 1024 * 1024,
  /** Largest colour value: 24 bits. */
  maxColour: 0xffffff,
} as const;
