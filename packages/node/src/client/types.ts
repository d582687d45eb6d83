/**
 * Responses of the node's HTTP API (`/v1/...`). Byte strings are lowercase hex, heights and
 * amounts are JSON numbers. The server may add fields, so the records keep an index signature
 * for what they do not name.
 */

export interface NodeStatus {
  chain_id: string;
  latest_block: { height: number; hash: string; timestamp: number };
  node_info: {
    version: string;
    peer_id: string;
    peer_count: number;
    syncing: boolean;
    moniker: string;
    /** Address of the node's validator key, or null when it only follows the chain. */
    validator: string | null;
    [field: string]: unknown;
  };
  consensus: { height: number; round: number; step: string; [field: string]: unknown };
  mempool: { size: number; bytes: number; [field: string]: unknown };
  [field: string]: unknown;
}

export interface HealthInfo {
  [field: string]: unknown;
}

export interface BlockInfo {
  height: number;
  hash: string;
  /** Transactions in block order; `tx` is the decoded transaction (bytes as hex). */
  txs: Array<{ hash: string; from: string; size: number; [field: string]: unknown }>;
  [field: string]: unknown;
}

export interface AccountInfo {
  address: string;
  balance: number;
  /** Nonce of the account's last committed transaction (0 before the first). */
  nonce: number;
  [field: string]: unknown;
}

export interface CommittedTransaction {
  hash: string;
  status: 'committed';
  height: number;
  /** Position in the block. */
  index: number;
  block_hash: string;
  tx: unknown;
  [field: string]: unknown;
}

export interface PendingTransaction {
  hash: string;
  status: 'pending';
  [field: string]: unknown;
}

export type TransactionInfo = CommittedTransaction | PendingTransaction;

export interface ValidatorInfo {
  address: string;
  [field: string]: unknown;
}

export interface SubmitResult {
  /** Transaction hash, lowercase hex. */
  hash: string;
}

/** A transaction of a batch that the node refused: the error the single submission would get. */
export interface BatchRejection {
  /** `transaction_rejected`, or `service_unavailable` when the mempool is full. */
  error: string;
  /** The chain's rejection code (`bad_signature`, `duplicate`, `mempool_full`, …). */
  code: string;
  message: string;
  details?: unknown;
}

/** One entry of a batch result: the hash of an admitted transaction, or why it was refused. */
export type BatchItemResult = SubmitResult | BatchRejection;

export interface BatchSubmitResult {
  /** Transactions admitted to the mempool. */
  accepted: number;
  /** Transactions refused. */
  rejected: number;
  /** One per submitted transaction, in order. */
  results: BatchItemResult[];
}

/** The body of every API error. */
export interface ApiErrorBody {
  error: string;
  message: string;
  details?: unknown;
}
