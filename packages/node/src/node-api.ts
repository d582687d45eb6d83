import type { Block, Chain, ChainError } from '@self/chain';
import type { NodeMetrics } from './metrics.js';

/** Static facts about a running node, for `/v1/status` and logs. */
export interface NodeInfo {
  version: string;
  /** libp2p peer id (base58), empty until the network has started. */
  peerId: string;
  moniker: string;
  listenAddrs: string[];
  /** Address of this node's validator key, when it is one. */
  validator: string | null;
}

/** What became of one transaction of a batch submission. */
export type SubmitOutcome = { ok: true; hash: Uint8Array } | { ok: false; error: ChainError };

/** Events the node publishes to API subscribers (WebSocket channels are derived from these). */
export type NodeEvent =
  | { type: 'block'; height: number; hash: Uint8Array; round: number; block: Block }
  /** A transaction was admitted to this node's mempool (through the API or gossip). */
  | { type: 'tx'; hash: Uint8Array };

/**
 * What the HTTP/WebSocket API needs from a running node. `SelfNode` implements it; API tests may
 * implement it over a real Chain without networking.
 */
export interface ApiNode {
  readonly chain: Chain;
  readonly metrics: NodeMetrics;
  info(): NodeInfo;
  peerCount(): number;
  /** True while the node is catching up by block sync. */
  syncing(): boolean;
  consensus(): { height: number; round: number; step: string };
  /**
   * Decodes, verifies (worker threads) and admits a signed transaction to the mempool, then
   * gossips it. Rejects with a ChainError (stable `code`) for any problem with the transaction.
   */
  submitTransaction(bytes: Uint8Array): Promise<{ hash: Uint8Array }>;
  /**
   * Verifies a batch of signed transactions together (worker threads) and admits each valid one to
   * the mempool in order, then gossips the admitted ones together. One outcome per item, in order:
   * a problem with an item is its ChainError, never a rejection of the whole batch. Rejects only
   * when the node cannot judge the batch at all (shutting down: ChainError `unavailable`; an
   * internal failure of the verification pool).
   */
  submitTransactions(batch: Uint8Array[]): Promise<SubmitOutcome[]>;
  /** Returns an unsubscribe function. */
  subscribe(listener: (event: NodeEvent) => void): () => void;
}
