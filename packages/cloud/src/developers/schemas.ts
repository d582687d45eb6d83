import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyRequest } from 'fastify';
import { invalidRequest } from '../http/errors.js';
import { TIERS } from '../config/tiers.js';

/** TypeBox schemas of the developer routes' inputs (strict, like http/schemas.ts). */

// A signed transaction is at most 64 KiB: 87,382 base64url characters.
const Transaction = Type.String({
  minLength: 1,
  maxLength: 87_382,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'base64url of encodeSignedTransaction(...), signed by the developer’s account key',
});

export const RegisterDeveloperBody = Type.Object(
  {
    // RFC 5321 bounds a path at 256 octets; the pattern only keeps out what is plainly not one.
    email: Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' }),
    project: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
  },
  { additionalProperties: false },
);
export type RegisterDeveloperBody = Static<typeof RegisterDeveloperBody>;

export const KeyParams = Type.Object(
  {
    prefix: Type.String({
      pattern: '^self_dk_[A-Za-z0-9_-]{8}$',
      description: 'as GET /v1/developers/keys lists it',
    }),
  },
  { additionalProperties: false },
);
export type KeyParams = Static<typeof KeyParams>;

export const CreateAppBody = Type.Object(
  {
    transaction: Transaction,
    client_type: Type.Union([Type.Literal('public'), Type.Literal('confidential')]),
  },
  { additionalProperties: false },
);
export type CreateAppBody = Static<typeof CreateAppBody>;

export const UpdateAppBody = Type.Object({ transaction: Transaction }, { additionalProperties: false });
export type UpdateAppBody = Static<typeof UpdateAppBody>;

export const AppParams = Type.Object(
  { app_id: Type.String({ pattern: '^app_[0-9a-f]{32}$' }) },
  { additionalProperties: false },
);
export type AppParams = Static<typeof AppParams>;

export const TestUserBody = Type.Object(
  { tier: Type.Union(TIERS.map((t) => Type.Literal(t))) },
  { additionalProperties: false },
);
export type TestUserBody = Static<typeof TestUserBody>;

const EmptyBody = Type.Object({}, { additionalProperties: false });

/**
 * Routes that take no input accept no body or `{}`. Checked in the handler: a Fastify body schema
 * would refuse the absent body that plain clients (curl -X POST) send.
 */
export function expectNoBody(request: FastifyRequest): void {
  if (request.body !== undefined && !Value.Check(EmptyBody, request.body))
    throw invalidRequest('this route takes no body (or an empty JSON object)', { field: 'body' });
}
