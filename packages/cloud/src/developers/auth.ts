import type { FastifyRequest } from 'fastify';
import type { Hook } from '../auth/principal.js';
import { bearerToken } from '../auth/tokens.js';
import { forbidden, unauthenticated } from '../http/errors.js';
import type { CloudContext } from '../routes/context.js';
import { authenticateDeveloper, isApiKeyShape } from './api-keys.js';
import type { Developer, DeveloperStore } from './developers.js';

/** Who is calling a developer route, and with what. */
export interface DeveloperCaller {
  developer: Developer;
  via: 'api_key' | 'session';
}

/** What the identify hook learned; kept beside the request rather than decorating every request. */
type Seen = { caller: DeveloperCaller } | { refused: 'invalid_credentials' | 'not_a_developer' };
const seen = new WeakMap<FastifyRequest, Seen>();

/** The developer behind a request that passed the developer hooks. */
export function developerOf(request: FastifyRequest): Developer {
  const s = seen.get(request);
  if (!s || !('caller' in s)) throw unauthenticated('this route needs a developer API key or session');
  return s.caller.developer;
}

/**
 * onRequest hooks of developer routes: identify, rate-limit, require. An API key
 * (`Bearer self_dk_…`) or a session of the developer's own DID authenticates; either way the
 * request is counted against the developer as the person they are (their tier's rate class), so
 * a key is no way around the person's own limit. Without valid credentials it counts against the
 * IP, like anonymous requests, before it is refused.
 */
export function developerHooks(ctx: CloudContext, developers: DeveloperStore): Hook[] {
  const identify: Hook = async (request) => {
    const token = bearerToken(request.headers.authorization);
    if (token === null) return;
    let did: string;
    let via: DeveloperCaller['via'];
    let sessionExpiresAt = 0;
    if (isApiKeyShape(token)) {
      const auth = authenticateDeveloper(ctx.db, token);
      if (!auth) return void seen.set(request, { refused: 'invalid_credentials' });
      did = auth.did;
      via = 'api_key';
    } else {
      const session = ctx.sessions.resolve(token);
      if (!session) return void seen.set(request, { refused: 'invalid_credentials' });
      did = session.did;
      via = 'session';
      sessionExpiresAt = session.expiresAt;
    }
    const account = ctx.accounts.get(did);
    // A deactivated or unfinished account acts for nobody, whatever credentials it still has.
    if (!account || account.state !== 'active')
      return void seen.set(request, { refused: 'invalid_credentials' });
    // The rate limiter keys on the principal; an API key has no session, hence expiry 0.
    request.selfPrincipal = { did, account, sessionExpiresAt };
    const developer = developers.byDid(did);
    if (!developer) return void seen.set(request, { refused: 'not_a_developer' });
    seen.set(request, { caller: { developer, via } });
  };
  const require: Hook = async (request) => {
    const s = seen.get(request);
    if (s && 'caller' in s) return;
    if (s?.refused === 'not_a_developer')
      throw forbidden('this DID is not a developer here: register with POST /v1/developers/register', {
        reason: 'not_a_developer',
      });
    throw unauthenticated(
      s
        ? 'the API key or session is unknown, revoked or expired'
        : 'this route needs Authorization: Bearer <developer API key (self_dk_…) or session token>',
      { reason: s ? 'invalid_credentials' : 'missing_token' },
    );
  };
  return [identify, ...ctx.hooks.anonymous, require];
}
