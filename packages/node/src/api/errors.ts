import { describeValidation } from '@self/http';
import { ChainError, type ChainErrorCode } from '@self/chain';
import type { ErrorBody } from './schemas.js';

/** Stable `error` codes of API responses; clients branch on these, never on messages. */
export const API_ERROR_CODES = [
  'invalid_request',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limit_exceeded',
  'upgrade_required',
  /** The chain refused a transaction; `details.code` holds the ChainError code. */
  'transaction_rejected',
  'service_unavailable',
  'internal_error',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** An error the API answers deliberately: status, stable code, safe message and details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
    /** Label for self_rejected_messages_total: the ChainError code for chain rejections, else `code`. */
    readonly reason: string = code,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ErrorBody {
    return { error: this.code, message: this.message, details: this.details };
  }
}

export const notFound = (message: string, details: Record<string, unknown> = {}): ApiError =>
  new ApiError(404, 'not_found', message, details);

export const invalidRequest = (message: string, details: Record<string, unknown> = {}): ApiError =>
  new ApiError(400, 'invalid_request', message, details);

/**
 * HTTP status of a chain rejection. 400: the bytes are not a valid transaction (encoding, shape,
 * signature, chain id, price floor). 409: it conflicts with what the node already holds (a known
 * transaction, a used nonce, an existing DID or app). 422: well-formed, but the current state cannot
 * apply it (funds, unknown records, permissions). 503: the node is full for now.
 */
const CONFLICT: ReadonlySet<ChainErrorCode> = new Set([
  'duplicate',
  'bad_nonce',
  'replacement_underpriced',
  'did_exists',
  'app_exists',
  'bad_sequence',
]);
const MALFORMED: ReadonlySet<ChainErrorCode> = new Set([
  'malformed',
  'non_canonical',
  'oversized',
  'wrong_chain',
  'bad_signature',
  'scheme_not_allowed',
  'point_price_too_low',
  'invalid_body',
  'limit_exceeded',
]);

export function chainErrorStatus(code: ChainErrorCode): number {
  if (code === 'mempool_full' || code === 'unavailable') return 503;
  if (CONFLICT.has(code)) return 409;
  if (MALFORMED.has(code)) return 400;
  return 422;
}

export function fromChainError(err: ChainError): ApiError {
  const status = chainErrorStatus(err.code);
  // The code goes last so a detail field cannot shadow it.
  const details = { ...err.details, code: err.code };
  if (status === 503) {
    return new ApiError(503, 'service_unavailable', err.message, details, { 'retry-after': '1' }, err.code);
  }
  return new ApiError(status, 'transaction_rejected', err.message, details, {}, err.code);
}

/** Fastify's own client errors (parsers, limits) carry a status and a code like FST_ERR_CTP_…. */
interface FastifyClientError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: Array<{ instancePath?: string; message?: string; keyword?: string; params?: unknown }>;
  validationContext?: string;
}

const SUPPORTED_MEDIA = ['application/json', 'application/cbor', 'application/octet-stream'];

/**
 * Classifies anything a route or Fastify threw. Client mistakes become 4xx with a useful message;
 * everything else is an internal error whose details stay in the log (null here).
 */
export function classifyError(err: unknown, bodyLimit: number): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof ChainError) return fromChainError(err);
  if (typeof err !== 'object' || err === null) return null;
  const e = err as FastifyClientError;
  const invalid = describeValidation(e);
  if (invalid) return invalidRequest(invalid.message, invalid.details);
  const status = e.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (status === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError(413, 'payload_too_large', `request body exceeds ${bodyLimit} bytes`, {
      limit: bodyLimit,
    });
  }
  if (status === 415) {
    return new ApiError(415, 'unsupported_media_type', 'unsupported Content-Type', {
      supported: SUPPORTED_MEDIA,
    });
  }
  if (status === 404) return notFound(e.message);
  if (status === 405) return new ApiError(405, 'method_not_allowed', e.message);
  if (status === 429) return new ApiError(429, 'rate_limit_exceeded', e.message);
  // Malformed JSON, empty JSON body, bad Content-Length, bad URL encoding…: Fastify's messages
  // describe the request itself and echo no server state.
  return invalidRequest(e.message, e.code ? { fastify_code: e.code } : {});
}
