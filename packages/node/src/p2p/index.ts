/**
 * libp2p networking of a SELF Chain node.
 *
 * `P2PNode` is the consensus engine's transport between processes (it replaces LocalNetwork):
 *
 * ```ts
 * const p2p = new P2PNode({
 *   chainId, peerKey,                       // peerKey: generatePeerKey(), stored by the caller
 *   listen: ['/ip4/0.0.0.0/tcp/26656'], announce: [], bootstrap: ['/ip4/…/tcp/…/p2p/12D3KooW…'],
 *   maxConnections: 64, maxProposalBytes: params.max_block_bytes + 1024 * 1024,
 *   logger,
 *   onMessage: (msg, from) => engine.receive(msg, from),   // 'txs' batches go to the mempool
 *   onReject: (reason, peer) => metrics.countRejected(reason),
 *   blocksFrom: (from, max) => chain.blocksFrom(from, max),
 *   latestHeight: () => chain.latestHeight(),
 *   lookupTx: (sha256Hex) => recentTxs.get(sha256Hex),
 * });
 * await p2p.start();           // then engine.start(); transport: p2p
 * p2p.gossipTxs([txBytes]);    // after admitting a transaction
 * p2p.penalize(peer, code);    // for faults found later (bad signature, invalid block, …)
 * p2p.addPeerAddresses(record.peer_id, record.multiaddrs); // on-chain node.announce records
 * await p2p.stop();
 * ```
 *
 * Wire: gossipsub topics `/self/<chainId>/{tx,proposal,vote,block}/1` carrying deterministic CBOR;
 * request/response protocols `/self/<chainId>/{sync,txs,proposal}/1`; kad-dht on
 * `/self/<chainId>/kad/1.0.0`.
 */
import '../polyfills.js';

export { P2PNode, splitPeerAddr, type P2PNodeOptions } from './p2p-node.js';
export {
  createP2PHost,
  type P2PHost,
  type P2PHostOptions,
  type P2PServices,
  type GossipRouter,
} from './host.js';
export { generatePeerKey, peerIdFromKeyBytes, privateKeyFromBytes } from './keys.js';
export { DEFAULT_P2P_LIMITS, resolveLimits, type P2PLimits } from './limits.js';
export { P2PError, P2P_ERROR_CODES, REJECT_REASONS, type P2PErrorCode, type RejectReason } from './errors.js';
export { GOSSIP_KINDS, topicName, protocolIds, type GossipKind, type ProtocolIds } from './topics.js';
export { PENALTY_POINTS, DEFAULT_PENALTY } from './peer-scoring.js';
export { compactProposal, rebuildProposal } from './compact-proposal.js';
export {
  encodeGossip,
  parseGossip,
  type GossipPayload,
  type CompactProposalPayload,
} from './gossip-codec.js';
export type { SyncBlock } from './protocol-codec.js';
