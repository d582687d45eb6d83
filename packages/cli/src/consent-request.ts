import { signInOrigin } from '@self/crypto';
import { CliError } from './errors.js';
import { chainApp, type ChainApp } from './chain-app.js';

/** A pending authorization request as the cloud shows it to the person (docs/cloud-api.md). */
export interface ConsentRequest {
  id: string;
  user_code: string;
  app: {
    app_id: string;
    name: string;
    owner_did: string;
    logo_uri: string;
    verified_on_chain: boolean;
    height: number;
  };
  scopes: Array<{ scope: string; description?: string }>;
  redirect_uri: string;
  grant_id: string;
  origin: string;
  created_at: number;
  expires_at: number;
  status: string;
}

/** `abcd-efgh` or `ABCDEFGH` as the cloud writes user codes (`ABCD-EFGH`); anything else as given. */
export function requestRef(ref: string): string {
  const m = /^([A-Za-z0-9]{4})-?([A-Za-z0-9]{4})$/.exec(ref.trim());
  return m === null ? ref : `${m[1]}-${m[2]}`.toUpperCase();
}

export function requestPath(ref: string, action?: 'approve' | 'deny'): string {
  const base = `/v1/consent/requests/${encodeURIComponent(requestRef(ref))}`;
  return action === undefined ? base : `${base}/${action}`;
}

/** The request as the cloud answered it, or a CliError when its answer lacks what consent needs. */
export function checkRequest(server: string, raw: unknown): ConsentRequest {
  const r = (raw as { request?: unknown } | undefined)?.request as Partial<ConsentRequest> | undefined;
  const ok =
    r !== undefined &&
    typeof r.id === 'string' &&
    typeof r.grant_id === 'string' &&
    typeof r.origin === 'string' &&
    typeof r.redirect_uri === 'string' &&
    typeof r.expires_at === 'number' &&
    typeof r.app?.app_id === 'string' &&
    Array.isArray(r.scopes) &&
    r.scopes.every((s) => typeof s?.scope === 'string');
  if (!ok) throw new CliError(`${server} answered the consent request oddly; is the cloud up to date?`);
  return r as ConsentRequest;
}

/** What the device established about a request before it may sign anything for it. */
export interface CheckedRequest {
  request: ConsentRequest;
  chain: ChainApp;
}

/**
 * Checks the request against what the device knows itself rather than what the cloud says: the
 * origin it would sign is the server this device talks to, and the app, as SELF Chain holds it
 * (read from `nodeUrl`: the cloud's chain routes, or an independent node with --node), is active,
 * is the one named, registered the redirect URI and every scope asked for. A cloud that misstated
 * any of these would get a consent the person did not mean, so any mismatch stops here.
 */
export async function verifyRequest(
  server: string,
  nodeUrl: string,
  request: ConsentRequest,
): Promise<CheckedRequest> {
  const expected = signInOrigin(server);
  if (request.origin !== expected)
    throw new CliError(
      `the request names the origin ${request.origin}, but this device talks to ${expected}: ` +
        'not approving a consent for another service',
    );
  const appId = request.app.app_id;
  const chain = await chainApp(nodeUrl, appId);
  if (chain === null)
    throw new CliError(`${appId} is not registered on SELF Chain (asked ${nodeUrl}): not approving it`);
  const problems: string[] = [];
  if (request.app.verified_on_chain !== true) problems.push('the cloud itself could not verify it on chain');
  if (!chain.active) problems.push('the app is deactivated on chain');
  if (chain.name !== request.app.name)
    problems.push(`its name on chain is "${chain.name}", not "${request.app.name}"`);
  if (typeof request.app.owner_did === 'string' && chain.owner_did !== request.app.owner_did)
    problems.push(`its owner on chain is ${chain.owner_did}, not ${request.app.owner_did}`);
  if ((request.app.logo_uri ?? '') !== chain.logo_uri)
    problems.push(`its logo on chain is "${chain.logo_uri}", not "${request.app.logo_uri}"`);
  if (!chain.redirect_uris.includes(request.redirect_uri))
    problems.push(`it did not register the redirect URI ${request.redirect_uri}`);
  const extra = request.scopes.map((s) => s.scope).filter((s) => !chain.scopes.includes(s));
  if (extra.length > 0) problems.push(`it did not register the scopes ${extra.join(', ')}`);
  if (problems.length > 0)
    throw new CliError(
      `the request does not match ${appId} on SELF Chain: ${problems.join('; ')}. Not approving it.`,
    );
  return { request, chain };
}
