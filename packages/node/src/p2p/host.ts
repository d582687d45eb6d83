import { createHash } from 'node:crypto';
import '../polyfills.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import {
  gossipsub,
  type GossipSub,
  type GossipSubComponents,
  type TopicValidatorResult,
} from '@libp2p/gossipsub';
import { identify, type Identify } from '@libp2p/identify';
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface';
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { maxGossipFrameBytes, maxSyncResponseBytes, type P2PLimits } from './limits.js';
import { gossipScoring } from './peer-scoring.js';
import { protocolIds } from './topics.js';

/**
 * The gossipsub router as it is at runtime: the package's exported interface leaves out the
 * scoring and asynchronous-validation methods its router class has.
 */
export interface GossipRouter extends GossipSub {
  getScore(peerId: string): number;
  reportMessageValidationResult(
    msgId: string,
    propagationSource: string,
    acceptance: TopicValidatorResult,
  ): void;
  getMeshPeers(topic: string): string[];
  /** Outbound gossip streams by peer id; their write buffers are the send backlog. */
  readonly streamsOutbound: Map<string, { rawStream: { writeBufferLength: number } }>;
}

// A type alias, not an interface: libp2p's ServiceMap constraint needs an index-compatible type.
export type P2PServices = {
  identify: Identify;
  ping: Ping;
  pubsub: GossipRouter;
  dht?: KadDHT;
};

export type P2PHost = Libp2p<P2PServices>;

export interface P2PHostOptions {
  chainId: string;
  privateKey: PrivateKey;
  /** Listen multiaddrs, e.g. `/ip4/0.0.0.0/tcp/26656`; `/tcp/0` picks a free port. */
  listen: string[];
  /** Addresses to advertise instead of the listen addresses (public IP behind NAT). */
  announce?: string[];
  /** Static bootstrap peers: full multiaddrs ending in `/p2p/<peer id>`. */
  bootstrap?: string[];
  /** Connection manager limit (default 64). */
  maxConnections?: number;
  limits: P2PLimits;
  /** Gossip topics, for per-topic score parameters. */
  topics: string[];
  /** Application-specific score (gossipsub P5) of a peer. */
  appScore(peer: string): number;
  /** Banned peers are refused when dialling and when they connect. */
  isBanned?(peer: string): boolean;
  /** kad-dht for peer discovery (default true). */
  dht?: boolean;
}

/**
 * A libp2p 3 host for a SELF Chain node: TCP + Noise + Yamux, identify, ping, gossipsub with
 * peer scoring and asynchronous validation, kad-dht under a chain-specific protocol, static
 * bootstrap peers and a connection gater for banned peers. Created stopped: the caller registers
 * its protocol handlers, then starts it.
 */
export async function createP2PHost(opts: P2PHostOptions): Promise<P2PHost> {
  const { limits } = opts;
  const banned = (peer: PeerId): boolean => opts.isBanned?.(peer.toString()) ?? false;
  const frame = maxGossipFrameBytes(limits);
  const scoring = gossipScoring(opts.topics, (p) => opts.appScore(p));
  const discovery: Array<ReturnType<typeof bootstrap>> = [];
  const bootstrapList = opts.bootstrap ?? [];
  if (bootstrapList.length > 0) discovery.push(bootstrap({ list: bootstrapList, timeout: 50 }));
  const pubsub = gossipsub({
    allowPublishToZeroTopicPeers: true,
    fallbackToFloodsub: false,
    emitSelf: false,
    // Messages are forwarded only after the node reports them valid: a compact proposal is
    // passed on once this node has rebuilt it, so the next hop can always fetch what it lacks.
    asyncValidation: true,
    // Gossipsub checks a message's signature before its seen-cache, so each copy a mesh peer
    // relays would cost an Ed25519 verification. Origin + sequence number (the default message id)
    // names the message before that check; only validly signed messages enter this cache.
    fastMsgIdFn: (m: { from?: Uint8Array; seqno?: Uint8Array; data?: Uint8Array }) =>
      m.from && m.seqno
        ? `${Buffer.from(m.from).toString('base64')}/${Buffer.from(m.seqno).toString('base64')}`
        : createHash('sha256')
            .update(m.data ?? new Uint8Array())
            .digest('base64'),
    allowedTopics: opts.topics,
    maxInboundDataLength: frame,
    // A peer that stops reading is cut off after two largest messages queue up.
    maxOutboundBufferSize: frame * 2,
    scoreParams: scoring.scoreParams,
    scoreThresholds: scoring.scoreThresholds,
  }) as unknown as (components: GossipSubComponents) => GossipRouter;
  const services = {
    identify: identify(),
    ping: ping(),
    pubsub,
    ...(opts.dht === false
      ? {}
      : {
          dht: kadDHT({
            protocol: protocolIds(opts.chainId).kad,
            clientMode: false,
            // Validators of a testnet share loopback or a LAN: keep private addresses.
            peerInfoMapper: passthroughMapper,
            logPrefix: 'libp2p:self-kad',
          }),
        }),
  };
  return createLibp2p({
    start: false,
    privateKey: opts.privateKey,
    addresses: { listen: opts.listen, ...(opts.announce?.length ? { announce: opts.announce } : {}) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        // A paused stream may buffer one whole response (a sync batch or a big proposal).
        streamOptions: { maxReadBufferLength: Math.max(frame, maxSyncResponseBytes(limits)) },
      }),
    ],
    peerDiscovery: discovery,
    connectionManager: {
      maxConnections: opts.maxConnections ?? 64,
      // Testnet validators all connect from one address; libp2p's default (5/s) is for the open internet.
      inboundConnectionThreshold: 100,
    },
    connectionGater: {
      denyDialPeer: banned,
      denyInboundEncryptedConnection: banned,
      denyOutboundEncryptedConnection: banned,
    },
    services,
  }) as Promise<P2PHost>;
}
