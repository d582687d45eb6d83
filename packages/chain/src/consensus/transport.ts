/** Messages the consensus engine exchanges with peers; the network layer (libp2p or the simulator) carries them. */
export type WireMessage =
  | { t: 'proposal'; data: Uint8Array }
  | { t: 'vote'; data: Uint8Array }
  /** Batched signed transactions (handled by the node's mempool, not the engine). */
  | { t: 'txs'; data: Uint8Array[] }
  | { t: 'status'; height: number }
  | { t: 'sync-req'; from: number }
  | { t: 'sync-res'; blocks: Array<{ block: Uint8Array; cert: Uint8Array }> };

export interface ConsensusTransport {
  /** Gossip to every peer. */
  broadcast(msg: WireMessage): void;
  /** Direct message to one peer (sync). */
  send(peer: string, msg: WireMessage): void;
  /** Currently connected peers (used by fault-injecting validators in the simulator). */
  peers(): string[];
}
