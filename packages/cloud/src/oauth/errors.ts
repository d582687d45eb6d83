import type { FastifyReply, FastifyRequest } from 'fastify';
import { classifyError, errorResponder } from '../http/errors.js';

/**
 * Error codes of the OAuth routes and of app access at the gateway: RFC 6749 §5.2 and RFC 6750
 * §3.1 codes, plus the consent flow's own. They are not CloudErrorCodes because those are the
 * rest of the cloud's stable set; the OAuth scopes answer them with their own error handler.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_token'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'temporarily_unavailable'
  | 'invalid_consent'
  | 'request_expired'
  | 'request_decided'
  | 'not_on_production'
  | 'forbidden'
  | 'not_found'
  | 'unauthenticated'
  | 'rate_limit_exceeded'
  | 'unavailable';

export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: OAuthErrorCode | (string & {}),
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'OAuthError';
  }

  /** SELF's `{error, message, details}`; OAuth endpoints add RFC 6749's `error_description`. */
  body(withDescription: boolean): Record<string, unknown> {
    return {
      error: this.code,
      ...(withDescription ? { error_description: this.message } : {}),
      message: this.message,
      details: this.details,
    };
  }
}

export const invalidGrant = (message: string, details: Record<string, unknown> = {}): OAuthError =>
  new OAuthError(400, 'invalid_grant', message, details);

export const invalidRequest = (message: string, details: Record<string, unknown> = {}): OAuthError =>
  new OAuthError(400, 'invalid_request', message, details);

export const invalidScope = (message: string, details: Record<string, unknown> = {}): OAuthError =>
  new OAuthError(400, 'invalid_scope', message, details);

/** RFC 6750 §3: a refused bearer token says why in WWW-Authenticate too. */
export const invalidToken = (message: string, reason: string): OAuthError =>
  new OAuthError(
    401,
    'invalid_token',
    message,
    { reason },
    { 'www-authenticate': `Bearer error="invalid_token", error_description="${reason}"` },
  );

/**
 * The error handler of a scope that throws OAuthErrors: those are answered as they are; anything
 * else goes through the cloud's own classification. `withDescription`: OAuth endpoints (RFC 6749)
 * carry `error_description` on every error, including the cloud's own (a bad body is
 * `invalid_request` there too).
 */
export function oauthErrorHandler(
  bodyLimit: number,
  withDescription: boolean,
): (err: unknown, request: FastifyRequest, reply: FastifyReply) => void {
  const respond = errorResponder(bodyLimit);
  return (err, request, reply) => {
    if (!(err instanceof OAuthError)) {
      const classified = withDescription ? classifyError(err, bodyLimit) : null;
      if (classified === null) {
        respond(err, request, reply);
        return;
      }
      err = new OAuthError(
        classified.status,
        classified.code,
        classified.message,
        classified.details,
        classified.headers,
      );
    }
    const e = err as OAuthError;
    for (const [name, value] of Object.entries(e.headers)) reply.header(name, value);
    if (withDescription) reply.header('cache-control', 'no-store');
    reply.code(e.status).type('application/json; charset=utf-8').send(e.body(withDescription));
  };
}
