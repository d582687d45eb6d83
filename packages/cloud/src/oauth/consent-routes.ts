import { GRANT_ID_RE } from '@self/crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { NoQuery } from '../http/schemas.js';
import type { CloudApp, CloudContext } from '../routes/context.js';
import { OAuthError } from './errors.js';
import { callAsPerson, instanceFailure, type InstanceGrant } from './instance-calls.js';
import type { OAuthServer } from './server.js';

const Base64url = (maxLength: number): ReturnType<typeof Type.String> =>
  Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+$' });
const Millis = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const RefParams = Type.Object(
  { ref: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
const GrantParams = Type.Object(
  { grant_id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const ApproveBody = Type.Object(
  {
    // A hybrid account key is 1,985 bytes (2,647 characters), its signature 3,374 (4,499).
    public_key: Base64url(4_096),
    signature: Base64url(8_192),
    issued_at: Millis,
    expires_at: Millis,
  },
  { additionalProperties: false },
);
interface ApproveBody {
  public_key: string;
  signature: string;
  issued_at: number;
  expires_at: number;
}

const DenyBody = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]);

/** The signed-in person; the person hooks have refused requests without one. */
function personDid(request: FastifyRequest): string {
  const p = request.selfPrincipal;
  if (!p) throw new OAuthError(401, 'unauthenticated', 'this route needs a session');
  return p.did;
}

/**
 * The person's side of consent (session routes): pending requests, one request (claimed by its
 * code), approve with a consent signed on the device, deny; and the person's apps (their grants,
 * from their instance) with revocation that also ends every token of the grant at once.
 */
export function registerConsentRoutes(
  scope: CloudApp,
  ctx: CloudContext,
  s: OAuthServer,
  bodyLimit: number,
): void {
  const hooks = { onRequest: [...ctx.hooks.person], bodyLimit };

  scope.get('/v1/consent/requests', { ...hooks, schema: { querystring: NoQuery } }, async (request) => {
    const did = personDid(request);
    const requests = await Promise.all(s.requests.pendingFor(did).map((r) => s.consent.view(r)));
    return { requests };
  });

  scope.get(
    '/v1/consent/requests/:ref',
    { ...hooks, schema: { params: RefParams, querystring: NoQuery } },
    async (request) => {
      const did = personDid(request);
      const req = s.consent.forPerson((request.params as { ref: string }).ref, did);
      return { request: await s.consent.view(req) };
    },
  );

  scope.post(
    '/v1/consent/requests/:ref/approve',
    { ...hooks, schema: { params: RefParams, querystring: NoQuery, body: ApproveBody } },
    async (request) => {
      const did = personDid(request);
      const req = s.consent.forPerson((request.params as { ref: string }).ref, did);
      const b = request.body as ApproveBody;
      return s.consent.approve(req, did, {
        publicKey: Buffer.from(b.public_key, 'base64url'),
        signature: Buffer.from(b.signature, 'base64url'),
        issuedAt: b.issued_at,
        expiresAt: b.expires_at,
      });
    },
  );

  scope.post(
    '/v1/consent/requests/:ref/deny',
    { ...hooks, schema: { params: RefParams, querystring: NoQuery, body: DenyBody } },
    async (request) => {
      const did = personDid(request);
      return s.consent.deny(s.consent.forPerson((request.params as { ref: string }).ref, did));
    },
  );

  scope.get('/v1/me/apps', { ...hooks, schema: { querystring: NoQuery } }, async (request) => {
    const did = personDid(request);
    const answer = await callAsPerson(ctx.provisioner, did, 'GET', '/v1/grants');
    const grants = answer.body.grants;
    if (answer.status !== 200 || !Array.isArray(grants)) throw instanceFailure(answer, 'list the grants');
    const apps = (grants as InstanceGrant[]).map((grant) => {
      const app = s.clients.apps.get(grant.app_id);
      return {
        grant,
        app: app
          ? { app_id: app.appId, name: app.name, owner_did: app.ownerDid, logo_uri: app.logoUri }
          : { app_id: grant.app_id, name: null, owner_did: null, logo_uri: '' },
      };
    });
    return { apps };
  });

  scope.post(
    '/v1/me/apps/:grant_id/revoke',
    { ...hooks, schema: { params: GrantParams, querystring: NoQuery } },
    async (request) => {
      const did = personDid(request);
      const { grant_id: grantId } = request.params as { grant_id: string };
      if (!GRANT_ID_RE.test(grantId)) throw new OAuthError(404, 'not_found', 'no grant with this id');
      // Tokens end here first, at once; then the instance records the revocation (and anchors it).
      s.families.revokeGrant(did, grantId, 'grant_revoked');
      const answer = await callAsPerson(ctx.provisioner, did, 'DELETE', `/v1/grants/${grantId}`);
      if (answer.status !== 200 || typeof answer.body.grant !== 'object')
        throw instanceFailure(answer, 'revoke the grant');
      return { grant: answer.body.grant };
    },
  );
}
