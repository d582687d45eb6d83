import { EncodingError } from './encoding.js';

/**
 * Stable rejection codes. Nodes return them over the API and peers may log them, so a code is
 * never renamed or reused for another meaning; new failures get new codes.
 */
export const CHAIN_ERROR_CODES = [
  // Encoding and shape
  'malformed',
  'non_canonical',
  'oversized',
  // Stateless transaction checks
  'wrong_chain',
  'bad_signature',
  'scheme_not_allowed',
  'point_price_too_low',
  'invalid_body',
  // Stateful transaction checks
  'bad_nonce',
  'bad_sequence',
  'nonce_too_high',
  'insufficient_funds',
  'unknown_account',
  'not_controller',
  'did_exists',
  'did_missing',
  'did_deactivated',
  'app_exists',
  'app_missing',
  'not_owner',
  'bond_too_small',
  'not_validator',
  'validator_slashed',
  'invalid_evidence',
  'limit_exceeded',
  'expired',
  // Mempool
  'mempool_full',
  'duplicate',
  'replacement_underpriced',
  // Genesis
  'invalid_genesis',
  // Blocks and consensus (owned by the consensus engine and the Chain facade)
  'invalid_block',
  'invalid_certificate',
  'invalid_colour',
  'invalid_efficiency',
  'invalid_state_root',
  'risk_delayed',
  'equivocation',
  'unknown_proposal',
  'conflicting_proposal',
  // Node
  'unavailable',
] as const;
export type ChainErrorCode = (typeof CHAIN_ERROR_CODES)[number];

/** Everything the chain rejects is a ChainError; a rejected input changes no state. */
export class ChainError extends Error {
  constructor(
    readonly code: ChainErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ChainError';
  }
}

export function isChainError(err: unknown, code?: ChainErrorCode): err is ChainError {
  return err instanceof ChainError && (code === undefined || err.code === code);
}

/** Maps the encoding layer's reasons onto chain codes (an unencodable value is a malformed one). */
export function chainErrorFromEncoding(err: EncodingError, what: string): ChainError {
  // cborg's strict mode refuses non-minimal integers and lengths itself ("… (strict decode)")
  // before the re-encoding check runs; those are well-formed CBOR in a non-canonical form.
  const strict = err.reason === 'malformed_cbor' && err.message.includes('strict');
  const code: ChainErrorCode =
    err.reason === 'non_canonical' || strict
      ? 'non_canonical'
      : err.reason === 'oversized'
        ? 'oversized'
        : 'malformed';
  return new ChainError(code, `${what}: ${err.message}`, { reason: err.reason });
}
