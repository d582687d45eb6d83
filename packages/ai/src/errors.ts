import type { OpenAiErrorBody } from './protocol.js';

/**
 * Every failure of the inference path, on both sides of the wire: the service throws it with the
 * status and code it answers, and InferenceClient throws it with what it read back (the same code,
 * so a caller branches on `code` whichever side failed).
 */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { param?: string | null; retryAfterSeconds?: number } = {},
  ) {
    super(message);
  }

  /** The OpenAI-shaped body (official clients parse `error.message` and `error.code`). */
  toOpenAi(): OpenAiErrorBody {
    return {
      error: {
        message: this.message,
        type: openAiErrorType(this.status),
        code: this.code,
        param: this.extra.param ?? null,
      },
    };
  }
}

function openAiErrorType(status: number): OpenAiErrorBody['error']['type'] {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 400 && status < 500) return 'invalid_request_error';
  return 'server_error';
}

/**
 * The status each code is answered with. A mid-stream error event carries only the code, so the
 * client recovers the status from here (unknown codes: 502, the stream broke upstream of it).
 */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  invalid_request: 400,
  context_length_exceeded: 400,
  unauthorized: 401,
  model_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  request_too_large: 413,
  inference_failed: 502,
  upstream_error: 502,
  model_unavailable: 503,
  busy: 503,
  unreachable: 503,
  upstream_timeout: 504,
  timeout: 504,
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 502;
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
