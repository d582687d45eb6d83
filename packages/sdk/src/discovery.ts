import { SELFError } from './errors.js';
import { ok, readJson, send, type FetchLike } from './http.js';
import { isJsonObject, stringField, type JsonObject } from './json.js';

/** What the SDK uses of the cloud's authorization server metadata (RFC 8414). */
export interface AuthorizationServerMetadata {
  /** The issuer: the cloud's public URL; access tokens' `iss` and the redirect's `iss` (RFC 9207). */
  issuer: string;
  /** Where the person's browser is sent to approve the app. */
  authorizationEndpoint: string;
  /** Where codes and refresh tokens are exchanged. */
  tokenEndpoint: string;
  /** Where tokens are revoked (RFC 7009). */
  revocationEndpoint: string | undefined;
  /** Whether the server puts `iss` in every authorization response (RFC 9207). */
  issParameterSupported: boolean;
  /** The client authentication methods the token endpoint takes. */
  tokenEndpointAuthMethods: string[];
  /** The metadata document as served. */
  raw: JsonObject;
}

/** The metadata URL of an issuer: the well-known suffix goes between host and path (RFC 8414 §3.1). */
export function metadataUrl(issuer: string): string {
  const u = new URL(issuer);
  const path = u.pathname === '/' ? '' : u.pathname;
  return `${u.origin}/.well-known/oauth-authorization-server${path}`;
}

function endpoint(doc: JsonObject, name: string, required: true): string;
function endpoint(doc: JsonObject, name: string, required: false): string | undefined;
function endpoint(doc: JsonObject, name: string, required: boolean): string | undefined {
  const v = stringField(doc, name);
  if (v === undefined) {
    if (!required) return undefined;
    throw new SELFError('SERVER_ERROR', `the authorization server metadata lacks ${name}`);
  }
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new SELFError('SERVER_ERROR', `the authorization server's ${name} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new SELFError('SERVER_ERROR', `the authorization server's ${name} is not http(s)`);
  }
  return v;
}

/** Fetches and checks the metadata of `issuer` (its `issuer` must be exactly `issuer`, RFC 8414 §3.3). */
export async function discover(fetchFn: FetchLike, issuer: string): Promise<AuthorizationServerMetadata> {
  const res = await ok(
    await send(fetchFn, metadataUrl(issuer), { method: 'GET', headers: { accept: 'application/json' } }),
  );
  const doc = await readJson(res);
  if (!isJsonObject(doc))
    throw new SELFError('SERVER_ERROR', 'the authorization server metadata is not an object');
  const served = stringField(doc, 'issuer');
  if (served !== issuer) {
    // A mismatch means a misconfigured cloud or a mix-up attack; either way, no tokens go there.
    throw new SELFError(
      'SERVER_ERROR',
      `the authorization server says it is ${served ?? '(nothing)'}, not ${issuer}`,
      {
        reason: 'issuer_mismatch',
      },
    );
  }
  const methods = doc['code_challenge_methods_supported'];
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new SELFError('SERVER_ERROR', 'the authorization server does not support PKCE S256');
  }
  const auth = doc['token_endpoint_auth_methods_supported'];
  return {
    issuer,
    authorizationEndpoint: endpoint(doc, 'authorization_endpoint', true),
    tokenEndpoint: endpoint(doc, 'token_endpoint', true),
    revocationEndpoint: endpoint(doc, 'revocation_endpoint', false),
    issParameterSupported: doc['authorization_response_iss_parameter_supported'] === true,
    // RFC 8414 §2: absent means client_secret_basic.
    tokenEndpointAuthMethods: Array.isArray(auth)
      ? auth.filter((m): m is string => typeof m === 'string')
      : ['client_secret_basic'],
    raw: doc,
  };
}
