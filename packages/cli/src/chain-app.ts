import type { AppRecord } from '@self/chain';
import { didFromAddress } from '@self/crypto';
import { NodeApiError, NodeClient } from '@self/node/client';
import { CliError } from './errors.js';
import { fromChain } from './commands/signup.js';

/** An app as SELF Chain holds it (GET /v1/apps/{id} of a node): the record and its owner's DID. */
export type ChainApp = AppRecord & { owner_did: string };

/**
 * The app's record from a chain node: `nodeUrl` is a SELF node's API, or a cloud, which forwards
 * the chain's routes to its node. Null when the chain has no such app.
 */
export async function chainApp(nodeUrl: string, appId: string): Promise<ChainApp | null> {
  let raw: Record<string, unknown>;
  try {
    raw = await new NodeClient(nodeUrl, { timeoutMs: 30_000 }).app(appId);
  } catch (err) {
    if (err instanceof NodeApiError && err.status === 404) return null;
    return fromChain(Promise.reject(err), nodeUrl);
  }
  const strings = (v: unknown): string[] | null =>
    Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null;
  const redirects = strings(raw.redirect_uris);
  const scopes = strings(raw.scopes);
  if (
    raw.app_id !== appId ||
    typeof raw.owner !== 'string' ||
    typeof raw.name !== 'string' ||
    redirects === null ||
    scopes === null ||
    typeof raw.active !== 'boolean'
  ) {
    throw new CliError(`${nodeUrl} answered the chain record of ${appId} oddly; is it a SELF node?`);
  }
  return {
    app_id: appId,
    owner: raw.owner,
    owner_did: didFromAddress(raw.owner),
    name: raw.name,
    logo_uri: typeof raw.logo_uri === 'string' ? raw.logo_uri : '',
    redirect_uris: redirects,
    scopes,
    active: raw.active,
    created_height: typeof raw.created_height === 'number' ? raw.created_height : 0,
    updated_height: typeof raw.updated_height === 'number' ? raw.updated_height : 0,
  };
}
