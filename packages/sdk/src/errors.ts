import { isJsonObject, stringField, type JsonObject, type JsonValue } from './json.js';

/**
 * What went wrong, in the few kinds an app branches on. The server's own, finer code is
 * {@link SELFError.reason}.
 *
 * - `PERMISSION_DENIED`: the grant lacks the scope, or the person refused the app (403, `access_denied`).
 * - `RATE_LIMITED`: too many requests (429); wait {@link SELFError.retryAfter} seconds.
 * - `QUOTA_EXCEEDED`: the person's storage is full (507) or their monthly AI budget is spent.
 * - `NOT_FOUND`: no such object, model or route (404).
 * - `NETWORK_ERROR`: no HTTP answer at all (offline, DNS, connection refused, CORS).
 * - `UNAUTHENTICATED`: the session is over (revoked grant, expired or reused refresh token, bad
 *   client credentials): sign the person in again.
 * - `INVALID_REQUEST`: the app asked for something malformed (bad key, bad scope, state or issuer
 *   mismatch on the redirect, a conflicting write).
 * - `AI_UNAVAILABLE`: the person's AI cannot answer now (no model, the inference service is down
 *   or busy).
 * - `SERVER_ERROR`: anything else the server could not do (5xx, a locked sovereign instance).
 */
export type SELFErrorCode =
  | 'PERMISSION_DENIED'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'NOT_FOUND'
  | 'NETWORK_ERROR'
  | 'UNAUTHENTICATED'
  | 'INVALID_REQUEST'
  | 'AI_UNAVAILABLE'
  | 'SERVER_ERROR';

/** What {@link SELFError}'s constructor takes besides the code and message. */
export interface SELFErrorInit {
  /** The HTTP status; 0 (the default) when there was no HTTP answer. */
  status?: number;
  /** The server's own error code (`quota_exceeded`, `invalid_grant`, `insufficient_quota`, …). */
  reason?: string;
  /** Seconds to wait before retrying, from `Retry-After`. */
  retryAfter?: number;
  /** The server's `details` object. */
  details?: JsonObject;
  /** The request's id when the server sent one (`x-request-id`). */
  requestId?: string;
  /** The underlying error (a network failure). */
  cause?: unknown;
}

/** Every failure of the SDK is a SELFError; branch on {@link SELFError.code}, never on the message. */
export class SELFError extends Error {
  override readonly name = 'SELFError';
  /** The kind of failure. */
  readonly code: SELFErrorCode;
  /** The HTTP status, or 0 when there was no HTTP answer. */
  readonly status: number;
  /** The server's own error code, when it sent one. */
  readonly reason: string | undefined;
  /** Seconds to wait before retrying (from `Retry-After`), when the server said. */
  readonly retryAfter: number | undefined;
  /** The server's `details` (for example `{used, quota, needed}` for a full store); `{}` if none. */
  readonly details: JsonObject;
  /** The request's id when the server sent one, for support. */
  readonly requestId: string | undefined;

  /** Makes an error; the SDK makes them for you, this is public for tests and wrappers. */
  constructor(code: SELFErrorCode, message: string, init: SELFErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.status = init.status ?? 0;
    this.reason = init.reason;
    this.retryAfter = init.retryAfter;
    this.details = init.details ?? {};
    this.requestId = init.requestId;
  }
}

/** True when `err` is a {@link SELFError} (optionally of the given code). */
export function isSELFError(err: unknown, code?: SELFErrorCode): err is SELFError {
  return err instanceof SELFError && (code === undefined || err.code === code);
}

const QUOTA_REASONS = new Set(['quota_exceeded', 'insufficient_quota', 'ai_budget_exhausted']);
const AI_REASONS = new Set([
  'ai_unavailable',
  'inference_failed',
  'inference_timeout',
  'model_unavailable',
  'busy',
  'upstream_error',
  'upstream_timeout',
]);
// invalid_grant: the code or refresh token is dead (used, expired, revoked family): sign in again.
const AUTH_REASONS = new Set(['invalid_grant', 'invalid_client', 'invalid_token', 'unauthenticated']);

/** The {@link SELFErrorCode} for an HTTP status and the server's error code. */
export function codeFor(status: number, reason: string | undefined): SELFErrorCode {
  if (reason !== undefined) {
    if (QUOTA_REASONS.has(reason)) return 'QUOTA_EXCEEDED';
    if (AI_REASONS.has(reason)) return 'AI_UNAVAILABLE';
    if (AUTH_REASONS.has(reason)) return 'UNAUTHENTICATED';
    if (reason === 'access_denied' || reason === 'insufficient_scope') return 'PERMISSION_DENIED';
    // OAuth redirect errors carry no HTTP status of their own.
    if (reason === 'server_error' || reason === 'temporarily_unavailable') return 'SERVER_ERROR';
  }
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 507) return 'QUOTA_EXCEEDED';
  // 423: a sovereign instance waits for the person's device; nothing the app can fix.
  if (status >= 400 && status < 500 && status !== 423) return 'INVALID_REQUEST';
  return 'SERVER_ERROR';
}

/** `Retry-After` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

interface ParsedBody {
  reason: string | undefined;
  message: string | undefined;
  details: JsonObject;
}

/**
 * Reads the error shapes SELF answers: the cloud's and the instance's `{error, message, details}`,
 * OAuth's `{error, error_description}` and the OpenAI-compatible API's `{error: {message, type, code,
 * param}}`.
 */
export function parseErrorBody(body: JsonValue | undefined): ParsedBody {
  if (!isJsonObject(body)) return { reason: undefined, message: undefined, details: {} };
  const err = body['error'];
  if (isJsonObject(err)) {
    const details: JsonObject = {};
    for (const name of ['type', 'param'] as const) {
      const v = err[name];
      if (v !== undefined && v !== null) details[name] = v;
    }
    return {
      reason: stringField(err, 'code') ?? stringField(err, 'type'),
      message: stringField(err, 'message'),
      details,
    };
  }
  const details = body['details'];
  return {
    reason: typeof err === 'string' ? err : undefined,
    message: stringField(body, 'message') ?? stringField(body, 'error_description'),
    details: isJsonObject(details) ? details : {},
  };
}

/** A SELFError from an error body and its status (also for errors sent inside an event stream). */
export function errorFromBody(
  status: number,
  body: JsonValue | undefined,
  extra: { retryAfter?: number; requestId?: string } = {},
): SELFError {
  const p = parseErrorBody(body);
  const code = codeFor(status, p.reason);
  const message = p.message ?? p.reason ?? (status > 0 ? `HTTP ${status}` : 'request failed');
  return new SELFError(code, message, {
    status,
    ...(p.reason !== undefined ? { reason: p.reason } : {}),
    details: p.details,
    ...extra,
  });
}

/** The SELFError for a non-2xx response (reads its body). */
export async function errorFromResponse(res: Response): Promise<SELFError> {
  let body: JsonValue | undefined;
  try {
    const text = await res.text();
    body = text === '' ? undefined : (JSON.parse(text) as JsonValue);
  } catch {
    body = undefined;
  }
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
  const requestId = res.headers.get('x-request-id') ?? undefined;
  return errorFromBody(res.status, body, {
    ...(retryAfter !== undefined ? { retryAfter } : {}),
    ...(requestId !== undefined ? { requestId } : {}),
  });
}
