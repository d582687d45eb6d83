import { describeValidation } from '@self/http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Stable `error` codes of the gateway; clients branch on these, never on messages. Responses that
 * come from an instance (under /v1/i/) keep the instance's own codes (docs/instance-api.md).
 */
export type CloudErrorCode =
  | 'invalid_request'
  /** A transaction that cannot be relayed: `details.reason` says why (a chain code or `wrong_kind`). */
  | 'invalid_transaction'
  | 'invalid_path'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'exists'
  | 'in_progress'
  /** A sovereign-mode instance: it stays locked until the person's device unlocks it. */
  | 'locked'
  | 'method_not_allowed'
  | 'too_large'
  | 'unsupported_media_type'
  | 'rate_limit_exceeded'
  /** The chain, the sponsor or an instance cannot serve the request now; retry later. */
  | 'unavailable'
  /** Test users exist only on testnets. */
  | 'not_on_production'
  /** OAuth 2.1 (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1) and the consent step. */
  | 'invalid_grant'
  | 'invalid_client'
  | 'invalid_scope'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'unauthorized_client'
  | 'access_denied'
  | 'invalid_token'
  | 'request_expired'
  | 'internal_error';

export class CloudError extends Error {
  constructor(
    readonly status: number,
    readonly code: CloudErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'CloudError';
  }

  body(): { error: string; message: string; details: Record<string, unknown> } {
    return { error: this.code, message: this.message, details: this.details };
  }
}

export const unauthenticated = (message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(401, 'unauthenticated', message, details, { 'www-authenticate': 'Bearer' });

export const forbidden = (message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(403, 'forbidden', message, details);

export const notFound = (message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(404, 'not_found', message, details);

export const invalidRequest = (message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(400, 'invalid_request', message, details);

export const unavailable = (message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(503, 'unavailable', message, details, { 'retry-after': '5' });

const INTERNAL = new CloudError(500, 'internal_error', 'internal error; the details are in the server log');

/** What a ProvisionerError looks like (packages/cloud/src/instances); matched by shape, not class. */
interface ProvisionerFailure {
  name: string;
  code: string;
  message: string;
  details?: unknown;
}

function isProvisionerFailure(err: unknown): err is ProvisionerFailure {
  const e = err as Partial<ProvisionerFailure> | null;
  return typeof e === 'object' && e !== null && e.name === 'ProvisionerError' && typeof e.code === 'string';
}

/** A provisioner's refusal as an HTTP error; its message names no paths or secrets. */
export function fromProvisionerError(err: ProvisionerFailure): CloudError {
  const details = { reason: err.code };
  switch (err.code) {
    case 'not_found':
      return notFound('this person has no instance here', details);
    case 'exists':
      return new CloudError(409, 'exists', 'an instance for this DID already exists', details);
    case 'invalid_argument':
      return invalidRequest(err.message, details);
    case 'locked':
      return new CloudError(
        423,
        'locked',
        'this instance is in sovereign mode: it stays locked until your device unlocks it',
        details,
      );
    default:
      return unavailable('the instance cannot be reached right now; try again shortly', details);
  }
}

/** Fastify's own client errors (parsers, limits) carry a 4xx status and a code like FST_ERR_CTP_…. */
interface FastifyClientError {
  statusCode?: number;
  code?: string;
  message: string;
}

/**
 * Classifies anything a route, a hook or Fastify threw. Client mistakes become 4xx; anything else
 * is null (an internal error whose details stay in the log).
 */
export function classifyError(err: unknown, bodyLimit: number): CloudError | null {
  if (err instanceof CloudError) return err;
  if (isProvisionerFailure(err)) return fromProvisionerError(err);
  if (typeof err !== 'object' || err === null) return null;
  const invalid = describeValidation(err as Parameters<typeof describeValidation>[0]);
  if (invalid) return invalidRequest(invalid.message, invalid.details);
  const e = err as FastifyClientError;
  const status = e.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (status === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new CloudError(413, 'too_large', `the request body exceeds ${bodyLimit} bytes`, {
      limit: bodyLimit,
    });
  if (status === 415)
    return new CloudError(415, 'unsupported_media_type', 'unsupported Content-Type; send application/json', {
      supported: ['application/json'],
    });
  if (status === 404) return notFound(e.message);
  if (status === 429) return new CloudError(429, 'rate_limit_exceeded', e.message);
  // Malformed JSON, a bad Content-Length, bad URL encoding…: Fastify's messages describe the
  // request itself and echo no server state.
  return invalidRequest(e.message, e.code ? { fastify_code: e.code } : {});
}

export type ErrorResponder = (err: unknown, request: FastifyRequest, reply: FastifyReply) => void;

export function errorResponder(bodyLimit: number): ErrorResponder {
  return (err, request, reply) => {
    const classified = classifyError(err, bodyLimit);
    const cloudErr = classified ?? INTERNAL;
    if (classified === null) request.log.error({ err }, 'request failed');
    else if (cloudErr.status >= 500)
      request.log.warn({ code: cloudErr.code, msg: cloudErr.message }, 'request refused');
    for (const [name, value] of Object.entries(cloudErr.headers)) reply.header(name, value);
    reply.code(cloudErr.status).type('application/json; charset=utf-8').send(cloudErr.body());
  };
}
