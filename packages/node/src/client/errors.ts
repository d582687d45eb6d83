import type { ApiErrorBody } from './types.js';

/**
 * A request to the node did not succeed. When the node answered, `status` is the HTTP status and
 * `body` its `{error, message, details}`. When it did not, `status` is 0 and `code` says why:
 * `unreachable` (no connection), `timeout` (no answer in time); `wait_timeout` means a wait for a
 * transaction or a height ran out, and `bad_response` an answer that is not the API's JSON.
 */
export class NodeApiError extends Error {
  /** The server's error code (`not_found`, `transaction_rejected`, …) or one of the client's above. */
  readonly code: string;
  readonly details: unknown;
  /**
   * The chain's rejection code (`bad_signature`, `insufficient_funds`, …) when the node refused a
   * transaction (`transaction_rejected` carries the ChainError code in `details.code`).
   */
  readonly chainCode: string | undefined;

  constructor(
    /** HTTP status, or 0 when no HTTP answer came. */
    readonly status: number,
    readonly body: ApiErrorBody,
    /** The URL requested. */
    readonly url: string,
    /** Seconds from the Retry-After header (429, 503), when present. */
    readonly retryAfter?: number,
  ) {
    super(body.message);
    this.name = 'NodeApiError';
    this.code = body.error;
    this.details = body.details;
    const chainCode = (body.details as { code?: unknown } | undefined)?.code;
    this.chainCode = typeof chainCode === 'string' ? chainCode : undefined;
  }
}

export function isNodeApiError(err: unknown, code?: string): err is NodeApiError {
  return err instanceof NodeApiError && (code === undefined || err.code === code);
}

/** A failure with no HTTP answer behind it (status 0). */
export function clientError(code: string, message: string, url: string): NodeApiError {
  return new NodeApiError(0, { error: code, message }, url);
}
