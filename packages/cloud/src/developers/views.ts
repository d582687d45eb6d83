import type { ApiKeyInfo } from './api-keys.js';
import type { StoredApp } from './apps.js';
import type { Developer } from './developers.js';
import type { TestUser } from './test-users.js';

/** JSON of the developer routes (snake_case, times in ms since the epoch). */

export const developerJson = (d: Developer) => ({
  id: d.id,
  did: d.did,
  email: d.email,
  project: d.project,
  created_at: d.createdAt,
});

export const keyJson = (k: ApiKeyInfo) => ({
  prefix: k.prefix,
  created_at: k.createdAt,
  revoked_at: k.revokedAt,
});

export const appJson = (a: StoredApp) => ({
  app_id: a.appId,
  client_id: a.appId,
  client_type: a.clientType,
  name: a.name,
  logo_uri: a.logoUri,
  redirect_uris: a.redirectUris,
  scopes: a.scopes,
  active: a.active,
  owner_did: a.ownerDid,
  rate_class: a.rateClass,
  chain: { tx_hash: a.txHash, height: a.height },
  created_at: a.createdAt,
  updated_at: a.updatedAt,
});

export const testUserJson = (u: TestUser) => ({
  did: u.did,
  tier: u.tier,
  test: true as const,
  created_at: u.createdAt,
});
