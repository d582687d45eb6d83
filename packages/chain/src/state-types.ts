import type { Address, Bytes, DidDocumentData } from './types.js';

/** Per-account features the deterministic risk model reads and updates (fixed-point integers). */
export interface RiskStats {
  /** Height of the account's first included transaction (0: none yet). */
  first_height: number;
  /** Height of the account's last included transaction. */
  last_height: number;
  /** Exponentially weighted moving average of transactions per block, scaled by 1e4. */
  rate_ewma: number;
  /** Exponentially weighted moving average of transfer amounts (base units). */
  amount_ewma: number;
  /** Addresses this account last sent to, newest first, at most RISK_RECENT_PEERS. */
  recent_to: Address[];
  /** Transactions included at `last_height` (for frequency spikes inside one block). */
  count_at_last: number;
}

export interface UnbondingEntry {
  amount: number;
  /** Height at which the amount returns to the balance. */
  release_height: number;
}

export interface Account {
  address: Address;
  balance: number;
  /** Nonce of the last included transaction (0: none). */
  nonce: number;
  /** Colour marker, 0x000000..0xFFFFFF. */
  colour: number;
  /** Stake bonded as a validator. */
  bonded: number;
  unbonding: UnbondingEntry[];
  /** Encoded public key, recorded on the first signed transaction (needed to verify votes). */
  public_key: Bytes | null;
  risk: RiskStats;
}

export interface ValidatorRecord {
  address: Address;
  public_key: Bytes;
  /** Fixed-point reputation in [0, 10000]. */
  reputation: number;
  /** Jailed validators are out of committees until this height (0: not jailed). */
  jailed_until: number;
  /** Set once an equivocation was proven; slashed validators cannot rejoin with the same key. */
  slashed: boolean;
  /** Heights where this validator's precommit made it into a certificate (for participation stats). */
  last_signed_height: number;
}

export interface DidRecord {
  did: string;
  controller: Address;
  document: DidDocumentData;
  version: number;
  created_height: number;
  updated_height: number;
  deactivated: boolean;
}

export interface AppRecord {
  app_id: string;
  owner: Address;
  name: string;
  /** '' when the app has no logo. */
  logo_uri: string;
  redirect_uris: string[];
  scopes: string[];
  active: boolean;
  created_height: number;
  updated_height: number;
}

export interface NodeRecord {
  did: string;
  peer_id: string;
  multiaddrs: string[];
  roles: string[];
  version: string;
  announced_by: Address;
  height: number;
}

export interface AnchorRecord {
  did: string;
  kind: string;
  seq: number;
  root: Bytes;
  count: number;
  signer: Address;
  height: number;
  tx_hash: Bytes;
}

/**
 * State is a flat key → record map; keys are namespaced strings. The Merkle state root commits to
 * every (key, canonical CBOR of record) pair.
 */
export const StateKey = {
  account: (address: Address) => `account/${address}`,
  validator: (address: Address) => `validator/${address}`,
  did: (did: string) => `did/${did}`,
  app: (appId: string) => `app/${appId}`,
  node: (did: string, peerId: string) => `node/${did}/${peerId}`,
  anchor: (did: string, kind: string, seq: number) => `anchor/${did}/${kind}/${seq}`,
  /** Chain-wide values: reserve balance, total supply, parameters in force. */
  meta: (name: string) => `meta/${name}`,
} as const;
