import { grantState, type GrantRecord, type GrantState, type RevokedBy } from './store.js';

/** A grant on the wire (docs/instance-api.md, "Grants"). Times in ms since the epoch. */
export interface GrantJson {
  id: string;
  app_id: string;
  scopes: string[];
  issued_at: number;
  expires_at: number;
  created_at: number;
  revoked_at: number | null;
  revoked_by: RevokedBy | null;
  last_used_at: number | null;
  uses: number;
  state: GrantState;
}

export function grantJson(g: GrantRecord, now: number): GrantJson {
  return {
    id: g.id,
    app_id: g.appId,
    scopes: [...g.scopes],
    issued_at: g.issuedAt,
    expires_at: g.expiresAt,
    created_at: g.createdAt,
    revoked_at: g.revokedAt,
    revoked_by: g.revokedBy,
    last_used_at: g.lastUsedAt,
    uses: g.uses,
    state: grantState(g, now),
  };
}
