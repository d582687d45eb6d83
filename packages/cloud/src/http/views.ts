import type { InstanceStatus } from '../instances/index.js';
import type { Account } from '../db/accounts.js';

/** The URL a person's instance answers at through this gateway. */
export const instanceEndpoint = (publicUrl: string, did: string): string => `${publicUrl}/v1/i/${did}`;

/** An account's instance as the API shows it; `status` null when the provisioner could not say. */
export function instanceJson(
  account: Account,
  status: InstanceStatus | null,
  publicUrl: string,
): Record<string, unknown> | null {
  const p = account.placement;
  if (!p) return null;
  return {
    id: p.instanceId,
    endpoint: instanceEndpoint(publicUrl, account.did),
    state: status?.state ?? 'unknown',
    public_key: p.instancePublicKey,
    address: p.instanceAddress,
    provisioner: p.provisioner,
    ...(status
      ? {
          pid: status.pid,
          storage_bytes: status.storageBytes,
          quota_bytes: status.quotaBytes,
          last_active_at: status.lastActiveAt,
          sandbox: status.sandbox,
        }
      : {}),
  };
}

/** What the operator sees of an account (no session, no secrets). */
export function accountJson(account: Account): Record<string, unknown> {
  return {
    did: account.did,
    address: account.address,
    tier: account.tier,
    mode: account.mode,
    state: account.state,
    quota_bytes: account.quotaBytes,
    created_at: account.createdAt,
    ...(account.failure ? { failure: account.failure } : {}),
  };
}
