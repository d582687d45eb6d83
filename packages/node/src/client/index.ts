export { NodeClient, type NodeClientOptions, type WaitOptions } from './node-client.js';
export { NodeApiError, isNodeApiError } from './errors.js';
export type {
  AccountInfo,
  ApiErrorBody,
  BatchItemResult,
  BatchRejection,
  BatchSubmitResult,
  BlockInfo,
  CommittedTransaction,
  HealthInfo,
  NodeStatus,
  PendingTransaction,
  SubmitResult,
  TransactionInfo,
  ValidatorInfo,
} from './types.js';
