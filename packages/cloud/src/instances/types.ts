import type { Readable } from 'node:stream';
import type { Tier } from '@self/instance';
import type { JWK } from 'jose';

/**
 * The contract between the gateway and whatever runs people's instances (docs: Contract 3 of the
 * issue-4 split). LocalProvisioner (local-provisioner.ts) runs them as processes on this machine.
 */

export type { Tier };

export interface InstanceSpec {
  did: string;
  tier: Tier;
  /**
   * The enterprise tier's custom quota (required there). Other tiers have fixed quotas: leave it
   * out, or pass exactly the tier's quota.
   */
  quotaBytes?: number;
  mode: 'always-on' | 'sovereign';
  /** The person's hybrid encryption public key: the recovery phrase can always unwrap the data key. */
  personEncryptionKey: Uint8Array;
}

export interface Placement {
  did: string;
  instanceId: string;
  /** The provisioner's kind (`local`). */
  provisioner: string;
  /** Where the instance lives, in the provisioner's terms (for LocalProvisioner: its directory). */
  location: string;
  instancePublicKey: Uint8Array;
  instanceAddress: string;
}

export interface InstanceRequest {
  method: string;
  /** The instance API path with its query, e.g. `/v1/data/notes/a?x=1` (docs/instance-api.md). */
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

export interface InstanceResponse {
  status: number;
  headers: Record<string, string>;
  /** The whole body; empty when `stream` is set. */
  body: Uint8Array;
  /**
   * A body that arrives over time (server-sent events: AI replies token by token), passed on as it
   * comes instead of being read whole. Whoever gets it must consume or destroy it.
   */
  stream?: Readable;
}

export type InstanceState = 'stopped' | 'starting' | 'running' | 'stopping' | 'locked';

export interface InstanceStatus {
  did: string;
  instanceId: string;
  tier: Tier;
  state: InstanceState;
  /** The host pid of the instance's process (the sandbox's, under bubblewrap); null when stopped. */
  pid: number | null;
  /** Bytes the instance directory takes on disk (database, WAL, blobs). */
  storageBytes: number;
  quotaBytes: number;
  /** Milliseconds since the epoch of the last forwarded request, in this provisioner's lifetime. */
  lastActiveAt: number | null;
  /** How the process is confined: `bwrap` or `none`. */
  sandbox: string;
}

/**
 * Who signs app access tokens (the cloud's OAuth authorization server) and its public keys, so
 * each instance verifies app tokens itself (docs/scopes.md).
 */
export interface AppTokenIssuer {
  /** The `iss` of every access token: the cloud's public URL. */
  issuer: string;
  /** Public JWKs (Ed25519, `kty: OKP`, `crv: Ed25519`, with `kid`), newest first. */
  keys: JWK[];
}

export interface Provisioner {
  readonly kind: string;
  /**
   * Tells instances which issuer and keys sign app tokens; called once by createCloud before any
   * request. Instances started afterwards get it in their configuration.
   */
  setAppTokenIssuer(issuer: AppTokenIssuer): void;
  /** Creates the instance (it does not start it); ProvisionerError 'exists' for a DID it has. */
  provision(spec: InstanceSpec): Promise<Placement>;
  /** Starts the instance on demand and restarts it after a crash; answers the instance's response. */
  forward(did: string, req: InstanceRequest): Promise<InstanceResponse>;
  stop(did: string): Promise<void>;
  status(did: string): Promise<InstanceStatus>;
  list(): Promise<InstanceStatus[]>;
  /** Stops every process; later calls fail with ProvisionerError 'closed'. */
  close(): Promise<void>;
}
