/**
 * Why a decoder or an `open` refused its input. Callers branch on `reason`, never on `message`:
 * messages are for people and may change.
 */
export type CryptoErrorReason =
  /** Not a well-formed envelope or sealed box (wrong magic, truncated, wrong nonce length…). */
  | 'bad_envelope'
  /** A well-formed header with a format version this build does not know. */
  | 'unsupported_version'
  /** A well-formed header naming an AEAD algorithm this build does not know. */
  | 'unsupported_alg'
  /** An encoded key or ciphertext whose scheme byte is unknown or the wrong kind. */
  | 'unsupported_scheme'
  /** The AEAD tag did not verify: wrong key, wrong AAD, or the bytes were altered. */
  | 'auth_failed'
  /** A key of the wrong length or encoding, or one that fails its validity checks. */
  | 'bad_key'
  /** A KEM ciphertext of the wrong length or encoding. */
  | 'bad_ciphertext'
  | 'bad_address'
  | 'bad_did'
  /** A recovery phrase with an unknown word or a failing checksum. */
  | 'bad_phrase';

/**
 * The one error type this package throws for bad input. Messages never contain key material,
 * plaintext or recovery words: only lengths, scheme bytes and public identifiers.
 */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly reason: CryptoErrorReason;

  constructor(reason: CryptoErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export function isCryptoError(error: unknown, reason?: CryptoErrorReason): error is CryptoError {
  return error instanceof CryptoError && (reason === undefined || error.reason === reason);
}
