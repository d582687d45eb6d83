import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isNodeApiError, type NodeClient } from '@self/node/client';
import { chainStepFailure } from '../chain/errors.js';
import { unavailable } from '../http/errors.js';

/** The part of the node's `GET /v1/apps/{id}` answer the cloud keeps (docs/api.md). */
const ChainAppJson = Type.Object({
  app_id: Type.String(),
  owner: Type.String(),
  name: Type.String(),
  logo_uri: Type.String(),
  redirect_uris: Type.Array(Type.String()),
  scopes: Type.Array(Type.String()),
  active: Type.Boolean(),
  created_height: Type.Integer({ minimum: 0 }),
  updated_height: Type.Integer({ minimum: 0 }),
});
export type ChainApp = Static<typeof ChainAppJson>;

/**
 * The app as the chain holds it now, or null when the chain has no such app. The cloud mirrors
 * what committed rather than what the transaction said, so its rows never run ahead of the chain.
 */
export async function readChainApp(client: NodeClient, appId: string): Promise<ChainApp | null> {
  let raw: Record<string, unknown>;
  try {
    raw = await client.app(appId);
  } catch (err) {
    if (isNodeApiError(err) && err.status === 404) return null;
    throw chainStepFailure(err, 'reading the app from the chain');
  }
  // A node of another version could answer another shape: refuse it rather than store half.
  if (!Value.Check(ChainAppJson, raw) || raw.app_id !== appId)
    throw unavailable('the chain node answered an app record this cloud does not understand', {
      step: 'reading the app from the chain',
    });
  return {
    app_id: raw.app_id,
    owner: raw.owner,
    name: raw.name,
    logo_uri: raw.logo_uri,
    redirect_uris: raw.redirect_uris,
    scopes: raw.scopes,
    active: raw.active,
    created_height: raw.created_height,
    updated_height: raw.updated_height,
  };
}
