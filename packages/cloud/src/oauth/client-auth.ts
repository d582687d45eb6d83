import type { RegisteredApp } from '../developers/apps.js';
import type { Clients } from './clients.js';
import { OAuthError, invalidRequest } from './errors.js';

export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

export interface AuthenticatedClient {
  app: RegisteredApp;
  method: ClientAuthMethod;
}

interface Credentials {
  clientId: string | undefined;
  secret: string | undefined;
  method: ClientAuthMethod;
}

/** RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret before base64. */
function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

const invalidClient = (message: string, basic: boolean): OAuthError =>
  new OAuthError(
    401,
    'invalid_client',
    message,
    {},
    basic ? { 'www-authenticate': 'Basic realm="self", charset="UTF-8"' } : {},
  );

function credentials(authorization: string | undefined, body: Record<string, unknown>): Credentials {
  const bodyId = typeof body.client_id === 'string' ? body.client_id : undefined;
  const bodySecret = typeof body.client_secret === 'string' ? body.client_secret : undefined;
  const basic =
    typeof authorization === 'string' ? /^Basic ([A-Za-z0-9+/=]{1,1024})$/i.exec(authorization) : null;
  if (basic) {
    // RFC 6749 §2.3: one authentication method per request.
    if (bodySecret !== undefined)
      throw invalidRequest('use one client authentication method: Basic or client_secret, not both');
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidClient('the Basic credentials are malformed', true);
    let clientId: string;
    let secret: string;
    try {
      clientId = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    } catch {
      throw invalidClient('the Basic credentials are malformed', true);
    }
    if (bodyId !== undefined && bodyId !== clientId)
      throw invalidClient('client_id differs from the authenticated client', true);
    return { clientId, secret, method: 'client_secret_basic' };
  }
  if (bodySecret !== undefined) return { clientId: bodyId, secret: bodySecret, method: 'client_secret_post' };
  return { clientId: bodyId, secret: undefined, method: 'none' };
}

/**
 * Authenticates the client of a token, revocation or introspection request. Confidential clients
 * must prove their secret (Basic or in the body); public clients send only their client_id and
 * must not send a secret. Every failure is `invalid_client`, 401, with a Basic challenge when
 * Basic was tried (RFC 6749 §5.2), and does not say whether the client exists.
 */
export function authenticateClient(
  clients: Clients,
  authorization: string | undefined,
  body: Record<string, unknown>,
): AuthenticatedClient {
  const creds = credentials(authorization, body);
  const basic = creds.method === 'client_secret_basic';
  if (creds.clientId === undefined)
    throw invalidClient(
      'client authentication is required: client_id (public clients) or a client secret',
      basic,
    );
  const app = clients.registered(creds.clientId);
  if (!app) throw invalidClient('client authentication failed', basic);
  if (app.clientType === 'confidential') {
    if (creds.secret === undefined || !clients.apps.verifySecret(app.appId, creds.secret))
      throw invalidClient('client authentication failed', basic);
  } else if (creds.secret !== undefined) {
    throw invalidClient('a public client has no secret; send client_id only', basic);
  }
  return { app, method: creds.method };
}
