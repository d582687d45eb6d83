import { describeValidation } from '@self/http';
import { AiError } from '../ai/errors.js';
import { AuditError } from '../audit/index.js';
import { GrantError } from '../grants/errors.js';
import { AccessError } from '../instance.js';
import { InstanceError } from '../store/errors.js';

/**
 * Stable `error` codes of the instance API; clients branch on these, never on messages. Every
 * error body is `{error, message, details}`.
 */
export const INSTANCE_API_ERROR_CODES = [
  /** The actor headers are missing or malformed (401); nothing is audited: there is no actor. */
  'unauthenticated',
  /** The access rules refuse this actor (403); data accesses are audited as `denied`. */
  'forbidden',
  /** The request fails its schema: params, query, headers (400; details.issues says where). */
  'invalid_request',
  /** A collection name the store refuses (400). */
  'invalid_name',
  /** An object key or list prefix the store refuses (400). */
  'invalid_key',
  /** Another argument the instance refuses: a content type, a cursor, a limit (400). */
  'invalid_argument',
  'not_found',
  'method_not_allowed',
  /** `if-match` does not equal the object's current etag, or the object does not exist (412). */
  'conflict',
  /** The entry exists but no closed audit segment holds it yet, so it has no proof (409). */
  'not_segmented',
  /** The value (request body) is larger than the instance accepts (413). */
  'too_large',
  /** The write would take the instance over its quota; nothing was written (507). */
  'quota_exceeded',
  /** Stored data failed authentication or the audit log is inconsistent (500; logged). */
  'corrupt',
  /** The instance is closed (503). */
  'unavailable',
  'internal_error',
  // ---- the assistant (docs/instance-api.md, "The assistant") ----
  /** No AI is configured, or the inference service cannot be reached (503); the message says what to do. */
  'ai_unavailable',
  /** This month's AI token budget is spent (429; details {used, budget, resets_at}); nothing was stored. */
  'ai_budget_exhausted',
  /** The message does not fit in the model's context even alone (400); nothing was stored. */
  'prompt_too_large',
  /** The model is not one of this instance's (404). */
  'model_not_found',
  /** The inference service failed while answering (502). */
  'inference_failed',
  /** The inference service did not answer in time (504). */
  'inference_timeout',
  /** A memory item saying the same already exists (409; details.id names it). */
  'memory_duplicate',
  // ---- grants and app tokens (docs/instance-api.md, "Grants", "Apps") ----
  /** The app's access token, or the grant behind it, allows nothing (401; details.reason says why). */
  'invalid_token',
  /** The signed consent does not hold up (400; details.reason says which check failed). */
  'invalid_consent',
  /** A grant with this id exists with another consent statement (409). */
  'grant_conflict',
] as const;
export type InstanceApiErrorCode = (typeof INSTANCE_API_ERROR_CODES)[number];

export interface ErrorBody {
  error: InstanceApiErrorCode;
  message: string;
  details: Record<string, unknown>;
}

/** An error the API answers deliberately: status, stable code, safe message and details. */
export class InstanceApiError extends Error {
  override readonly name = 'InstanceApiError';

  constructor(
    readonly status: number,
    readonly code: InstanceApiErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { error: this.code, message: this.message, details: this.details };
  }
}

export const INTERNAL_ERROR = new InstanceApiError(500, 'internal_error', 'internal error');

const INSTANCE_STATUS: Readonly<Partial<Record<InstanceError['code'], [number, InstanceApiErrorCode]>>> = {
  invalid_name: [400, 'invalid_name'],
  invalid_key: [400, 'invalid_key'],
  invalid_argument: [400, 'invalid_argument'],
  not_found: [404, 'not_found'],
  conflict: [412, 'conflict'],
  too_large: [413, 'too_large'],
  quota_exceeded: [507, 'quota_exceeded'],
  closed: [503, 'unavailable'],
  corrupt: [500, 'corrupt'],
};

const AUDIT_STATUS: Readonly<Partial<Record<AuditError['code'], [number, InstanceApiErrorCode]>>> = {
  invalid_argument: [400, 'invalid_argument'],
  not_found: [404, 'not_found'],
  not_segmented: [409, 'not_segmented'],
  corrupt_log: [500, 'corrupt'],
};

/** Fastify's own client errors (parsers, limits, validation) carry a status and a code like FST_ERR_…. */
interface FastifyClientError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: Array<{ instancePath?: string; message?: string; keyword?: string; params?: unknown }>;
  validationContext?: string;
}

/**
 * Classifies anything a route or Fastify threw. Client mistakes become 4xx with a useful message;
 * a corrupt store is 500 `corrupt`; anything unknown is null (the caller answers 500
 * internal_error and logs it, never showing its message).
 */
export function classifyError(err: unknown, bodyLimit: number): InstanceApiError | null {
  if (err instanceof InstanceApiError) return err;
  if (err instanceof AccessError)
    return new InstanceApiError(403, 'forbidden', err.message, { ...err.details });
  if (err instanceof AiError)
    return new InstanceApiError(err.status, err.code, err.message, err.details, err.headers);
  if (err instanceof GrantError) {
    const headers: Record<string, string> =
      err.code === 'invalid_token' ? { 'www-authenticate': 'Bearer error="invalid_token"' } : {};
    return new InstanceApiError(err.status, err.code, err.message, err.details, headers);
  }
  if (err instanceof InstanceError) {
    const mapped = INSTANCE_STATUS[err.code];
    if (mapped === undefined) return null;
    return new InstanceApiError(mapped[0], mapped[1], err.message, { ...err.details });
  }
  if (err instanceof AuditError) {
    const mapped = AUDIT_STATUS[err.code];
    if (mapped === undefined) return null;
    return new InstanceApiError(mapped[0], mapped[1], err.message, { ...err.details });
  }
  if (typeof err !== 'object' || err === null) return null;
  const e = err as FastifyClientError;
  const invalid = describeValidation(e);
  if (invalid) return new InstanceApiError(400, 'invalid_request', invalid.message, invalid.details);
  const status = e.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (status === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new InstanceApiError(
      413,
      'too_large',
      `the request body is over ${bodyLimit} bytes, the largest value this instance accepts; split it into smaller objects`,
      { max: bodyLimit },
    );
  }
  if (status === 404) return new InstanceApiError(404, 'not_found', e.message);
  if (status === 405) return new InstanceApiError(405, 'method_not_allowed', e.message);
  // Bad URL encoding, bad Content-Length…: Fastify's messages describe the request itself.
  return new InstanceApiError(400, 'invalid_request', e.message, e.code ? { fastify_code: e.code } : {});
}
