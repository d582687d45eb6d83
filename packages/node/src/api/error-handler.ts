import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiNode } from '../node-api.js';
import { ApiError, classifyError } from './errors.js';

/**
 * Answers any error in the API's one error shape. `decorate` lets a route add fields to the body
 * (the DID route adds W3C resolution fields).
 */
export type ErrorResponder = (
  err: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  decorate?: (body: Record<string, unknown>, status: number) => Record<string, unknown>,
) => void;

const INTERNAL = new ApiError(500, 'internal_error', 'internal error');

export function errorResponder(node: ApiNode, bodyLimit: number): ErrorResponder {
  return (err, request, reply, decorate) => {
    const classified = classifyError(err, bodyLimit);
    const apiErr = classified ?? INTERNAL;
    if (classified === null || apiErr.status >= 500) {
      // Details stay in the log; the client learns only that it was not its fault.
      if (classified === null) request.log.error({ err }, 'request failed');
      else request.log.warn({ code: apiErr.code, msg: apiErr.message }, 'request refused');
    }
    if (classified !== null) node.metrics.countRejected(apiErr.reason, 'api');
    for (const [name, value] of Object.entries(apiErr.headers)) reply.header(name, value);
    const body: Record<string, unknown> = { ...apiErr.body() };
    reply.code(apiErr.status).send(decorate ? decorate(body, apiErr.status) : body);
  };
}
