/**
 * Why the assistant refused or failed. Stable codes (the HTTP layer maps them to statuses, clients
 * branch on them); messages say what to do and never carry prompt or reply text.
 */
export type AiErrorCode =
  /** No AI is configured for this instance, or its inference service cannot be reached (503). */
  | 'ai_unavailable'
  /** This month's token budget is spent (429); details {used, budget, resets_at}. */
  | 'ai_budget_exhausted'
  /** The message (with the least prompt around it) does not fit in the model's context (400). */
  | 'prompt_too_large'
  /** The model is not one this person's tier may use, or the service does not know it (404). */
  | 'model_not_found'
  /** The inference service failed while answering (502). */
  | 'inference_failed'
  /** The inference service (or its upstream) did not answer in time (504). */
  | 'inference_timeout'
  /** No such thread or memory item (404). */
  | 'not_found'
  /** A memory item with the same text exists already (409). */
  | 'memory_duplicate'
  /** An argument the assistant refuses (400). */
  | 'invalid_argument';

const STATUS: Readonly<Record<AiErrorCode, number>> = {
  ai_unavailable: 503,
  ai_budget_exhausted: 429,
  prompt_too_large: 400,
  model_not_found: 404,
  inference_failed: 502,
  inference_timeout: 504,
  not_found: 404,
  memory_duplicate: 409,
  invalid_argument: 400,
};

export class AiError extends Error {
  override readonly name = 'AiError';
  readonly status: number;

  constructor(
    readonly code: AiErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export function isAiError(err: unknown, code?: AiErrorCode): err is AiError {
  return err instanceof AiError && (code === undefined || err.code === code);
}

/** What @self/ai's InferenceError carries. */
export interface InferenceFailure {
  status: number;
  code: string;
  message: string;
}

/**
 * An error thrown by the inference client. Recognised by its shape (name, status, code) as well as
 * by class, so a client wrapped by a test or a second copy of @self/ai is recognised too.
 */
export function isInferenceFailure(err: unknown): err is Error & InferenceFailure {
  if (!(err instanceof Error) || err.name !== 'InferenceError') return false;
  const e = err as Error & Partial<InferenceFailure>;
  return typeof e.status === 'number' && typeof e.code === 'string';
}

export const NOT_CONFIGURED_MESSAGE =
  'no AI is configured for this instance; the operator starts the inference service with a model (`self up --model <file or URI>`, or `self ai pull <model-uri>` first), and the rest of SELF keeps working meanwhile';

/** The assistant's view of an inference failure. */
export function fromInferenceFailure(err: unknown): AiError {
  if (isAiError(err)) return err;
  if (!isInferenceFailure(err)) {
    return new AiError('inference_failed', 'the inference service failed; try again');
  }
  const service = { service_code: err.code };
  switch (err.code) {
    case 'unreachable':
      return new AiError(
        'ai_unavailable',
        'the inference service cannot be reached; the operator starts it (`self up`) — your data and the rest of SELF are unaffected',
        service,
      );
    case 'model_unavailable':
    case 'unauthorized':
      return new AiError(
        'ai_unavailable',
        `the AI model cannot be served right now: ${err.message}`,
        service,
      );
    case 'busy':
      return new AiError(
        'ai_unavailable',
        'the inference service is busy with other requests; try again in a few seconds',
        service,
        { 'retry-after': '5' },
      );
    case 'model_not_found':
      return new AiError('model_not_found', err.message, service);
    case 'context_length_exceeded':
      return new AiError('prompt_too_large', err.message, service);
    case 'upstream_timeout':
    case 'timeout':
      return new AiError('inference_timeout', 'the model did not answer in time; try again', service);
    default:
      return new AiError('inference_failed', `the inference service failed: ${err.message}`, service);
  }
}
