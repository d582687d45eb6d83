import type { FastifyRequest } from 'fastify';
import { acceptJson, type AiRoutesApp } from '../ai/http.js';
import type { Actor, Instance } from '../instance.js';
import { InstanceApiError } from '../server/errors.js';
import { NoQuery } from '../server/schemas.js';
import { createGrant, ownGrant, revokeGrant } from './actions.js';
import { GrantError } from './errors.js';
import { grantJson } from './json.js';
import { CreateGrantBody, GrantIdParams } from './schemas.js';

/**
 * The grant routes and the profile (docs/instance-api.md, "Grants" and "Profile"):
 *
 *   POST   /v1/grants        the person stores a grant from a signed consent (the cloud relays it)
 *   GET    /v1/grants        the person's grants, newest first
 *   GET    /v1/grants/{id}   one of them
 *   DELETE /v1/grants/{id}   the person revokes one (idempotent)
 *   GET    /v1/grant         an app: the grant its token was issued under
 *   DELETE /v1/grant         an app gives its own grant up
 *   GET    /v1/profile       the person's profile: the person, or an app with profile:read
 *
 * Changes and every app access are audited (grants/actions.ts); the person reading their own grants
 * is not, like reading the audit log: it reveals nothing to anyone else.
 */

export interface GrantRouteDeps {
  instance: Instance;
  actorOf: (request: FastifyRequest) => Actor;
  now: () => number;
}

/** Most a profile object may be to be answered: it is a name and a few fields, not a file. */
const PROFILE_MAX_BYTES = 64 * 1024;

export function registerGrantRoutes(app: AiRoutesApp, deps: GrantRouteDeps): void {
  const { instance, now } = deps;
  acceptJson(app);

  const person = (request: FastifyRequest): void => {
    const actor = deps.actorOf(request);
    if (actor.kind !== 'person' || actor.did !== instance.did) {
      throw new InstanceApiError(
        403,
        'forbidden',
        'only the person who owns this instance manages its grants',
        {
          scope: 'grants',
        },
      );
    }
  };
  const get = (id: string) => {
    const grant = instance.grants().get(id);
    if (grant === null) throw new GrantError('not_found', `there is no grant ${id}`, { grant: id });
    return grant;
  };

  app.post(
    '/v1/grants',
    { schema: { body: CreateGrantBody, querystring: NoQuery }, bodyLimit: 64 * 1024 },
    async (request, reply) => {
      const { grant, created } = createGrant(instance, deps.actorOf(request), request.body, now());
      reply.code(created ? 201 : 200);
      return { grant: grantJson(grant, now()) };
    },
  );

  app.get('/v1/grants', { schema: { querystring: NoQuery } }, async (request) => {
    person(request);
    const t = now();
    return {
      grants: instance
        .grants()
        .list()
        .map((g) => grantJson(g, t)),
    };
  });

  app.get('/v1/grants/:id', { schema: { params: GrantIdParams, querystring: NoQuery } }, async (request) => {
    person(request);
    return { grant: grantJson(get(request.params.id), now()) };
  });

  app.delete(
    '/v1/grants/:id',
    { schema: { params: GrantIdParams, querystring: NoQuery } },
    async (request) => ({
      grant: grantJson(revokeGrant(instance, deps.actorOf(request), request.params.id), now()),
    }),
  );

  const appOnly = (request: FastifyRequest): Actor & { kind: 'app' } => {
    const actor = deps.actorOf(request);
    if (actor.kind !== 'app' || actor.grantId === undefined) {
      throw new InstanceApiError(
        403,
        'forbidden',
        'this route is for an app about its own grant; see GET /v1/grants',
        {
          scope: 'grants',
        },
      );
    }
    return actor;
  };

  app.get('/v1/grant', { schema: { querystring: NoQuery } }, async (request) => ({
    grant: grantJson(ownGrant(instance, appOnly(request)), now()),
  }));

  app.delete('/v1/grant', { schema: { querystring: NoQuery } }, async (request) => {
    const actor = appOnly(request);
    return { grant: grantJson(revokeGrant(instance, actor, actor.grantId!), now()) };
  });

  app.get('/v1/profile', { schema: { querystring: NoQuery } }, async (request) => {
    const obj = instance.readProfile(deps.actorOf(request));
    return { did: instance.did, ...profileFields(obj?.value ?? null) };
  });
}

/**
 * The fields of the profile object (JSON), with `name` always present. Anything that is not a JSON
 * object, or is too large, gives just `{name: null}`: the route never fails on what the person stored.
 */
function profileFields(value: Uint8Array | null): Record<string, unknown> & { name: unknown } {
  if (value === null || value.byteLength > PROFILE_MAX_BYTES) return { name: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    return { name: null };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { name: null };
  const { did: _did, ...fields } = parsed as Record<string, unknown>;
  return { ...fields, name: fields.name ?? null };
}
