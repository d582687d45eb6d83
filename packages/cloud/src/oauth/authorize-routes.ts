import { isDid, normalizeScopes } from '@self/crypto';
import { isValidScope } from '@self/chain';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { classifyError } from '../http/errors.js';
import type { CloudApp, CloudContext } from '../routes/context.js';
import type { Client } from './clients.js';
import { withQuery, scopeList } from './consent.js';
import { consentPage, errorPage } from './consent-page.js';
import { OAuthError } from './errors.js';
import { isCodeChallenge } from './pkce.js';
import type { OAuthServer } from './server.js';

const param = (maxLength: number) => Type.Optional(Type.String({ maxLength }));

// Unknown parameters are ignored (RFC 6749 §3.1); a repeated one fails its string type.
const AuthorizeQuery = Type.Object(
  {
    response_type: param(64),
    response_mode: param(32),
    client_id: param(128),
    redirect_uri: param(2048),
    scope: param(4096),
    state: param(1024),
    code_challenge: param(128),
    code_challenge_method: param(32),
    login_hint: param(128),
  },
  { additionalProperties: true },
);
interface AuthorizeQuery {
  response_type?: string;
  response_mode?: string;
  client_id?: string;
  redirect_uri?: string;
  scope?: string;
  state?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  login_hint?: string;
}

const PollParams = Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false });
const PollQuery = Type.Object(
  { poll: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

const wantsJson = (request: FastifyRequest): boolean => {
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
};

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * An error the authorization endpoint answers itself, with no redirect: when the client or its
 * redirect URI cannot be trusted, sending the browser anywhere would make this an open redirector.
 */
function refuseHere(request: FastifyRequest, reply: FastifyReply, e: OAuthError): FastifyReply {
  reply.code(e.status).headers(PAGE_HEADERS);
  if (wantsJson(request)) return reply.type('application/json; charset=utf-8').send(e.body(true));
  const page = errorPage('This sign-in link is not valid', e.message);
  return reply.header('content-security-policy', page.csp).type('text/html; charset=utf-8').send(page.html);
}

/** An error sent back to the app at its registered redirect URI (RFC 6749 §4.1.2.1, RFC 9207 `iss`). */
function refuseToApp(
  reply: FastifyReply,
  issuer: string,
  redirectUri: string,
  state: string | undefined,
  error: string,
  description: string,
): FastifyReply {
  const url = withQuery(redirectUri, {
    error,
    error_description: description,
    state: state ?? null,
    iss: issuer,
  });
  return reply.headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).redirect(url, 302);
}

/** What is wrong with the request once client and redirect URI are trusted, or null. */
function problem(q: AuthorizeQuery, s: OAuthServer, client: Client): [string, string] | null {
  if (q.response_type !== 'code')
    return ['unsupported_response_type', 'response_type must be code (the authorization code flow)'];
  if (q.response_mode !== undefined && q.response_mode !== 'query')
    return ['invalid_request', 'response_mode must be query'];
  if (q.code_challenge === undefined)
    return ['invalid_request', 'code_challenge is required (PKCE with S256)'];
  if (q.code_challenge_method !== 'S256')
    return ['invalid_request', 'code_challenge_method must be S256 (plain is not supported)'];
  if (!isCodeChallenge(q.code_challenge))
    return ['invalid_request', 'code_challenge must be 43 base64url characters (S256)'];
  if (q.login_hint !== undefined && !isDid(q.login_hint))
    return ['invalid_request', 'login_hint must be a did:self identifier'];
  const asked = (q.scope ?? '').split(' ').filter((x) => x !== '');
  if (asked.length === 0) return ['invalid_scope', 'scope is required'];
  const refused = asked.filter((x) => !isValidScope(x) || !s.clients.allowsScope(client, x));
  if (refused.length > 0)
    return ['invalid_scope', `not among the app's registered scopes: ${refused.slice(0, 8).join(' ')}`];
  try {
    normalizeScopes(asked);
  } catch (err) {
    return ['invalid_scope', (err as Error).message];
  }
  return null;
}

/** `GET /oauth/authorize` and the authorization page's poll `GET /oauth/requests/{id}`. */
export function registerAuthorizeRoutes(scope: CloudApp, ctx: CloudContext, s: OAuthServer): void {
  scope.get(
    '/oauth/authorize',
    {
      onRequest: [...ctx.hooks.anonymous],
      schema: { querystring: AuthorizeQuery },
      // A malformed query (a repeated or oversized parameter) is answered here, never redirected.
      errorHandler: (err, request, reply) => {
        const c = err instanceof OAuthError ? err : classifyError(err, 0);
        if (c === null || c.status >= 500 || c.status === 429) throw err;
        refuseHere(request, reply, new OAuthError(c.status, c.code, c.message, c.details, c.headers));
      },
    },
    async (request, reply) => {
      const q = request.query as AuthorizeQuery;
      const client = q.client_id === undefined ? undefined : await s.clients.resolve(q.client_id);
      if (!client)
        return refuseHere(
          request,
          reply,
          new OAuthError(400, 'invalid_request', 'client_id is missing, unknown or inactive', {
            reason: 'unknown_client',
          }),
        );
      if (q.redirect_uri === undefined || !s.clients.allowsRedirect(client, q.redirect_uri))
        return refuseHere(
          request,
          reply,
          new OAuthError(
            400,
            'invalid_request',
            'redirect_uri is missing or not exactly one the app registered',
            {
              reason: 'redirect_uri_not_registered',
            },
          ),
        );
      const bad = problem(q, s, client);
      if (bad) return refuseToApp(reply, s.issuer, q.redirect_uri, q.state, bad[0], bad[1]);

      const scopes = normalizeScopes((q.scope ?? '').split(' ').filter((x) => x !== ''));
      const { request: req, poll } = s.requests.create({
        clientId: client.app.appId,
        redirectUri: q.redirect_uri,
        scopes,
        state: q.state ?? null,
        codeChallenge: q.code_challenge!,
        did: q.login_hint ?? null,
      });
      const app = s.clients.view(client);
      reply.headers(PAGE_HEADERS);
      if (wantsJson(request))
        return reply.send({
          request_id: req.id,
          user_code: req.userCode,
          poll,
          expires_at: req.expiresAt,
          app,
          scopes: scopeList(scopes),
        });
      const page = consentPage({
        requestId: req.id,
        poll,
        userCode: req.userCode,
        app,
        scopes: scopeList(scopes),
      });
      return reply
        .header('content-security-policy', page.csp)
        .type('text/html; charset=utf-8')
        .send(page.html);
    },
  );

  scope.get(
    '/oauth/requests/:id',
    { onRequest: [...ctx.hooks.anonymous], schema: { params: PollParams, querystring: PollQuery } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { poll } = request.query as { poll: string };
      const req = s.requests.polled(id, poll);
      if (!req)
        throw new OAuthError(404, 'not_found', 'no authorization request with this id and poll secret');
      const expired = req.status === 'pending' && ctx.now() >= req.expiresAt;
      reply.header('cache-control', 'no-store');
      return {
        status: expired ? 'expired' : req.status,
        expires_at: req.expiresAt,
        redirect_to: req.status === 'pending' ? null : req.redirectTo,
      };
    },
  );
}
