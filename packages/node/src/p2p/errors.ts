/** Stable codes for misuse of the networking layer (bad keys or addresses given by the operator). */
export const P2P_ERROR_CODES = ['bad_peer_key', 'bad_peer_id', 'bad_multiaddr', 'not_started'] as const;
export type P2PErrorCode = (typeof P2P_ERROR_CODES)[number];

export class P2PError extends Error {
  constructor(
    readonly code: P2PErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'P2PError';
  }
}

/**
 * Reasons passed to `onReject`: why a peer's message or request was dropped. Metrics count them
 * by reason, so a code is never renamed or reused for another meaning.
 */
export const REJECT_REASONS = [
  /** Not the expected shape for its topic or protocol (bad CBOR, wrong fields, bad embedded object). */
  'malformed',
  /** Larger than the topic's or protocol's size limit. */
  'oversized',
  /** A vote or proposal for another chain id. */
  'wrong_chain',
  /** A message on a topic this node does not serve. */
  'unknown_topic',
  /** The peer sent more messages, bytes or requests than its token bucket allows. */
  'rate_limited',
  /** A compact proposal whose transactions could not be found or fetched in time. */
  'proposal_unavailable',
  /** A compact proposal whose rebuilt bytes do not hash to the digest it announced. */
  'proposal_mismatch',
  /** A request/response peer answered with something unusable (bad shape, wrong data, too big). */
  'bad_response',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
