/** Gossip topics: one per message kind. `status` (committed height) travels on `block`. */
export const GOSSIP_KINDS = ['tx', 'proposal', 'vote', 'block'] as const;
export type GossipKind = (typeof GOSSIP_KINDS)[number];

/** Topic and protocol names carry the chain id and a version, so two chains never mix. */
export function topicName(chainId: string, kind: GossipKind): string {
  return `/self/${chainId}/${kind}/1`;
}

export interface ProtocolIds {
  /** Block sync: `{from, max}` -> `{blocks: [{block, cert}]}`. */
  sync: string;
  /** Missing transactions of a compact proposal: `{digests}` -> `{txs}`. */
  txs: string;
  /** A full proposal by the SHA-256 of its bytes: `{digest}` -> `{data}`. */
  proposal: string;
  /** kad-dht, so this chain's DHT is separate from the public IPFS one. */
  kad: string;
}

export function protocolIds(chainId: string): ProtocolIds {
  return {
    sync: `/self/${chainId}/sync/1`,
    txs: `/self/${chainId}/txs/1`,
    proposal: `/self/${chainId}/proposal/1`,
    kad: `/self/${chainId}/kad/1.0.0`,
  };
}
