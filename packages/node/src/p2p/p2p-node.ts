import '../polyfills.js';
import { TopicValidatorResult, type GossipsubMessage, type Message } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { ConsensusTransport, WireMessage } from '@self/chain';
import { equalBytes, sha256, toHex } from '@self/crypto';
import { pino, type Logger } from 'pino';
import { ByteCache } from './byte-cache.js';
import { compactProposal } from './compact-proposal.js';
import { P2PError, type RejectReason } from './errors.js';
import { FloodGuard } from './flood-guard.js';
import {
  encodeGossip,
  parseGossip,
  type CompactProposalPayload,
  type GossipPayload,
} from './gossip-codec.js';
import { createP2PHost, type GossipRouter, type P2PHost } from './host.js';
import { privateKeyFromBytes, peerIdFromKeyBytes } from './keys.js';
import { maxSyncResponseBytes, resolveLimits, type P2PLimits } from './limits.js';
import { PeerBook } from './peer-book.js';
import { PenaltyBook } from './peer-scoring.js';
import { ProposalAssembler } from './proposal-assembler.js';
import {
  encodeBody,
  parseProposalRequest,
  parseProposalResponse,
  parseSyncRequest,
  parseSyncResponse,
  parseTxsRequest,
  parseTxsResponse,
  type SyncBlock,
} from './protocol-codec.js';
import { RequestError, request, serve, type RequestFailure } from './request-response.js';
import { GOSSIP_KINDS, protocolIds, topicName, type GossipKind, type ProtocolIds } from './topics.js';
import { TxBatcher } from './tx-batcher.js';
import { TxGossipQueue } from './tx-queue.js';

export interface P2PNodeOptions {
  chainId: string;
  /** Protobuf-marshalled Ed25519 libp2p private key (`generatePeerKey()`): the peer identity. */
  peerKey: Uint8Array;
  /** Listen multiaddrs (default `/ip4/127.0.0.1/tcp/0`). */
  listen?: string[];
  /** Advertised multiaddrs instead of the listen ones (e.g. a public IP). */
  announce?: string[];
  /** Static bootstrap peers, `/ip4/…/tcp/…/p2p/<peer id>`; kept connected like announced validators. */
  bootstrap?: string[];
  /** Connection manager limit (default 64). */
  maxConnections?: number;
  /** Shortcut for `limits.maxProposalBytes`: the chain's max_block_bytes plus about 1 MiB. */
  maxProposalBytes?: number;
  limits?: Partial<P2PLimits>;
  /** kad-dht discovery (default true). */
  dht?: boolean;
  logger?: Logger;
  /**
   * A valid message from the network. `from` is the peer answerable for it: the signer of the
   * gossip message for transactions, proposals and votes; the relay for status; the peer that
   * answered a sync request for `sync-res`. Proposals arrive as
   * `{t:'proposal', data}` with the exact bytes their builder signed, compact or not on the wire.
   */
  onMessage(msg: WireMessage, from: string): void;
  /** Every gossip message published or received, for traffic metrics. */
  onTraffic?(kind: GossipKind, direction: 'in' | 'out', bytes: number): void;
  /** A dropped message or request, with a stable reason (REJECT_REASONS) for metrics. */
  onReject?(reason: RejectReason, peer: string | null): void;
  /** Committed blocks for sync requests (`Chain.blocksFrom`). */
  blocksFrom(from: number, max: number): SyncBlock[];
  latestHeight(): number;
  /** A signed transaction by the hex SHA-256 of its full encoding (mempool / recent txs). */
  lookupTx?(digestHex: string): Uint8Array | undefined;
}

/** Distinct proposal messages whose parse is kept: a few heights' worth of builders and rounds. */
const PARSED_PROPOSALS = 64;
const MAX_TRACKED_HEIGHTS = 1024;
const KNOWN_PEER_TAG = 'self-known-peer';
const PRUNE_EVERY_MS = 60_000;

/**
 * The libp2p transport of a SELF Chain node, implementing the engine's ConsensusTransport:
 * gossipsub topics per message kind with structural validation, scoring and flood protection;
 * batched transaction gossip; compact proposals rebuilt from the receiver's transactions;
 * block sync and missing-data fetches over request/response streams; discovery through
 * bootstrap peers, kad-dht and on-chain `node.announce` records, with redial and backoff.
 */
export class P2PNode implements ConsensusTransport {
  readonly peerId: string;
  readonly limits: P2PLimits;
  private readonly log: Logger;
  private readonly ids: ProtocolIds;
  private readonly topics: Record<GossipKind, string>;
  private readonly topicKinds: Map<string, GossipKind>;
  private readonly penalties: PenaltyBook;
  private readonly book: PeerBook;
  private readonly gossipGuard: FloodGuard;
  private readonly requestGuard: FloodGuard;
  private readonly txCache: ByteCache;
  private readonly proposalCache: ByteCache;
  /**
   * Encoded gossip of our own proposals: the engine re-sends the same bytes every few hundred ms,
   * and a multi-megabyte proposal should be hashed and compacted once.
   */
  private readonly ownProposals = new WeakMap<Uint8Array, { key: string; wire: Uint8Array }>();
  private readonly batcher: TxBatcher;
  private readonly txQueue: TxGossipQueue;
  private readonly parsed = new WeakMap<Message, GossipPayload>();
  /** Parsed proposal gossip by the digest of its bytes (see validate). */
  private readonly parsedProposals = new Map<string, GossipPayload>();
  private readonly assembler: ProposalAssembler;
  private readonly peerHeights = new Map<string, number>();
  private readonly dialing = new Set<string>();
  private host: P2PHost | null = null;
  private state: 'idle' | 'starting' | 'running' | 'stopping' = 'idle';
  private transition: Promise<void> | null = null;
  private abort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private syncInFlight = false;

  constructor(private readonly opts: P2PNodeOptions) {
    this.peerId = peerIdFromKeyBytes(opts.peerKey);
    this.limits = resolveLimits({
      ...(opts.maxProposalBytes ? { maxProposalBytes: opts.maxProposalBytes } : {}),
      ...opts.limits,
    });
    const l = this.limits;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.ids = protocolIds(opts.chainId);
    this.topics = Object.fromEntries(GOSSIP_KINDS.map((k) => [k, topicName(opts.chainId, k)])) as Record<
      GossipKind,
      string
    >;
    this.topicKinds = new Map(GOSSIP_KINDS.map((k) => [this.topics[k], k]));
    this.penalties = new PenaltyBook({
      banPoints: l.banPoints,
      banMs: l.banMs,
      halfLifeMs: l.penaltyHalfLifeMs,
    });
    this.book = new PeerBook({ baseMs: l.redialBaseMs, maxMs: l.redialMaxMs });
    this.gossipGuard = new FloodGuard({
      ratePerSec: l.msgRatePerSec,
      burst: l.msgBurst,
      bytesPerSec: l.bytesRatePerSec,
      bytesBurst: l.bytesBurst,
    });
    this.requestGuard = new FloodGuard({ ratePerSec: l.reqRatePerSec, burst: l.reqBurst });
    this.txCache = new ByteCache(l.txCacheBytes);
    this.proposalCache = new ByteCache(Number.POSITIVE_INFINITY, l.proposalCacheEntries);
    this.batcher = new TxBatcher({
      maxCount: l.txFlushCount,
      maxBytes: Math.min(l.txFlushBytes, l.maxTxBatchBytes - 64 * 1024),
      delayMs: l.txFlushMs,
      publish: (batch) => this.txQueue.push(encodeGossip({ t: 'txs', data: batch })),
    });
    this.txQueue = new TxGossipQueue({
      maxQueuedBytes: l.txQueueBytes,
      maxBacklogBytes: l.txBacklogBytes,
      retryMs: 5,
      backlog: () => this.gossipBacklog(),
      send: (bytes) => this.host?.services.pubsub.publish(this.topics.tx, bytes) ?? Promise.resolve(),
    });
    this.assembler = new ProposalAssembler({
      findTx: (d) => this.findTx(d),
      rememberTx: (d, tx) => this.txCache.set(d, tx),
      proposals: this.proposalCache,
      fetchTxs: (peer, digests) => this.fetchTxs(peer, digests),
      fetchProposal: (peer, digest) => this.fetchProposal(peer, digest),
      onFetchError: (err, peer, what) => this.requestFailed(err, peer, what),
      maxFetchTxs: l.maxFetchTxs,
      active: () => this.running,
    });
    for (const addr of opts.bootstrap ?? []) {
      const parsed = splitPeerAddr(addr);
      if (!parsed)
        throw new P2PError('bad_multiaddr', `bootstrap address ${addr} must end in /p2p/<peer id>`);
      if (parsed.peer !== this.peerId) this.book.add(parsed.peer, [parsed.addr]);
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts listening, joins the topics and starts dialling known peers. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.transition) await this.transition.catch(() => undefined);
    if (this.running) return;
    this.state = 'starting';
    this.transition = this.doStart().finally(() => (this.transition = null));
    try {
      await this.transition;
      this.state = 'running';
    } catch (err) {
      this.state = 'idle';
      await Promise.resolve(this.host?.stop()).catch(() => undefined);
      this.host = null;
      throw err;
    }
  }

  private async doStart(): Promise<void> {
    this.abort = new AbortController();
    const host = await createP2PHost({
      chainId: this.opts.chainId,
      privateKey: privateKeyFromBytes(this.opts.peerKey),
      listen: this.opts.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      ...(this.opts.announce ? { announce: this.opts.announce } : {}),
      // A shared testnet list may name this node too: never dial ourselves.
      bootstrap: (this.opts.bootstrap ?? []).filter((a) => splitPeerAddr(a)?.peer !== this.peerId),
      ...(this.opts.maxConnections ? { maxConnections: this.opts.maxConnections } : {}),
      limits: this.limits,
      topics: Object.values(this.topics),
      appScore: (peer) => this.penalties.appScore(peer),
      isBanned: (peer) => this.penalties.isBanned(peer),
      ...(this.opts.dht === undefined ? {} : { dht: this.opts.dht }),
    });
    this.host = host;
    await this.serveProtocols(host);
    const pubsub = host.services.pubsub;
    for (const kind of GOSSIP_KINDS)
      pubsub.topicValidators.set(this.topics[kind], (peer, msg) => this.validate(kind, peer, msg));
    pubsub.addEventListener('gossipsub:message', (evt) => this.onGossip(evt.detail));
    host.addEventListener('peer:connect', (evt) => this.onConnect(evt.detail));
    host.addEventListener('peer:disconnect', (evt) => this.onDisconnect(evt.detail));
    host.addEventListener('peer:discovery', (evt) => this.onDiscovery(evt.detail.id));
    await host.start();
    for (const topic of Object.values(this.topics)) pubsub.subscribe(topic);
    for (const p of this.book.list()) this.rememberAddrs(p.id, p.addrs);
    this.every(this.limits.redialTickMs, () => this.redial());
    this.every(PRUNE_EVERY_MS, () => this.penalties.prune());
    this.log.info({ peerId: this.peerId, listen: this.multiaddrs() }, 'p2p started');
  }

  /** Stops gracefully (closes connections, drops pending gossip). Safe to call twice. */
  async stop(): Promise<void> {
    if (this.transition) await this.transition.catch(() => undefined);
    if (!this.running) return;
    this.state = 'stopping';
    this.transition = (async () => {
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
      this.batcher.clear();
      this.txQueue.clear();
      this.abort.abort();
      const host = this.host;
      this.host = null;
      await host?.stop();
    })().finally(() => (this.transition = null));
    try {
      await this.transition;
    } finally {
      this.state = 'idle';
      this.syncInFlight = false;
      this.assembler.clear();
      this.dialing.clear();
      this.peerHeights.clear();
    }
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** The libp2p host (for tests and diagnostics); throws before `start()`. */
  get libp2p(): P2PHost {
    if (!this.host) throw new P2PError('not_started', 'the p2p node is not running');
    return this.host;
  }

  // ---------------------------------------------------------------- peers

  /** Our listen addresses with `/p2p/<peer id>` (empty before start). */
  multiaddrs(): string[] {
    return this.host?.getMultiaddrs().map((m) => m.toString()) ?? [];
  }

  /** Connected peer ids. */
  peers(): string[] {
    return this.host?.getPeers().map((p) => p.toString()) ?? [];
  }

  peerCount(): number {
    return this.host?.getPeers().length ?? 0;
  }

  /** Connects to a multiaddr now (ending in `/p2p/<id>` or not). */
  async dial(addr: string): Promise<void> {
    let ma: Multiaddr;
    try {
      ma = multiaddr(addr);
    } catch (err) {
      throw new P2PError('bad_multiaddr', `${addr}: ${(err as Error).message}`);
    }
    await this.libp2p.dial(ma, { signal: AbortSignal.timeout(this.limits.requestTimeoutMs) });
  }

  /**
   * Peers to keep connected (validators' on-chain `node.announce` records): remembered, dialled
   * while not connected, redialled with backoff. Returns false (and ignores the record) for an
   * invalid peer id, our own id, or no usable address.
   */
  addPeerAddresses(peerId: string, multiaddrs: string[]): boolean {
    if (peerId === this.peerId) return false;
    try {
      peerIdFromString(peerId);
    } catch {
      return false;
    }
    const addrs: string[] = [];
    for (const a of multiaddrs) {
      const parsed = splitPeerAddr(a) ?? plainAddr(a);
      if (parsed && (parsed.peer === null || parsed.peer === peerId)) addrs.push(parsed.addr);
    }
    if (addrs.length === 0) return false;
    this.book.add(peerId, addrs);
    if (this.running) this.rememberAddrs(peerId, addrs);
    return true;
  }

  /** Stops keeping a peer connected (an unbonded validator). */
  forgetPeer(peerId: string): void {
    this.book.remove(peerId);
  }

  /**
   * Charges a peer for a fault found after delivery (bad signature, invalid block, equivocation…).
   * Points feed gossipsub's application score; at `banPoints` the peer is disconnected and
   * refused for `banMs`.
   */
  penalize(peer: string, reason: string): void {
    if (peer === this.peerId) return;
    const banned = this.penalties.add(peer, reason);
    if (!banned) return;
    this.log.warn({ peer, reason }, 'peer banned');
    const host = this.host;
    const id = parsePeerId(peer);
    if (host && id) void host.hangUp(id).catch(() => undefined);
  }

  /** Gossipsub's score of a peer (including the application score). */
  peerScore(peer: string): number {
    return this.host?.services.pubsub.getScore(peer) ?? 0;
  }

  /** Current (decaying) penalty points of a peer. */
  penaltyPoints(peer: string): number {
    return this.penalties.pointsOf(peer);
  }

  isBanned(peer: string): boolean {
    return this.penalties.isBanned(peer);
  }

  /** Highest committed height a peer has gossiped (0 when none). */
  bestPeerHeight(): number {
    let best = 0;
    for (const h of this.peerHeights.values()) best = Math.max(best, h);
    return best;
  }

  /** True while a sync request is outstanding or a peer is more than one block ahead. */
  get syncing(): boolean {
    return this.syncInFlight || this.bestPeerHeight() > this.opts.latestHeight() + 1;
  }

  // ---------------------------------------------------------------- ConsensusTransport

  broadcast(msg: WireMessage): void {
    if (!this.running) return;
    switch (msg.t) {
      case 'txs':
        this.gossipTxs(msg.data);
        return;
      case 'vote':
        this.publish('vote', encodeGossip({ t: 'vote', data: msg.data }));
        return;
      case 'status':
        this.publish('block', encodeGossip({ t: 'status', height: msg.height }));
        return;
      case 'proposal':
        this.publishProposal(msg.data);
        return;
      case 'sync-req':
        void this.syncFrom(msg.from, null);
        return;
      case 'sync-res':
        // Sync is answered by the request/response protocol itself.
        return;
    }
  }

  /**
   * Sync requests go to that peer over the sync protocol (or to a better-placed peer when it is
   * known to be behind). Other kinds have no direct channel: they are gossiped to everyone.
   */
  send(peer: string, msg: WireMessage): void {
    if (!this.running) return;
    if (msg.t === 'sync-req') void this.syncFrom(msg.from, peer);
    else if (msg.t !== 'sync-res') this.broadcast(msg);
  }

  /** Gossips signed transactions, batched (see `limits.txFlush*`). */
  gossipTxs(txs: Uint8Array[]): void {
    if (!this.running) return;
    for (const tx of txs) this.txCache.set(toHex(sha256(tx)), tx);
    this.batcher.add(txs);
  }

  /** Transaction gossip counters: batches handed to gossipsub, and batches dropped under overload. */
  txGossipStats(): { sent: number; dropped: number } {
    return { sent: this.txQueue.sent, dropped: this.txQueue.dropped };
  }

  // ---------------------------------------------------------------- gossip out

  /** Bytes waiting in the fullest outbound gossip stream. */
  private gossipBacklog(): number {
    let most = 0;
    for (const s of this.host?.services.pubsub.streamsOutbound.values() ?? [])
      most = Math.max(most, s.rawStream.writeBufferLength);
    return most;
  }

  private publish(kind: GossipKind, bytes: Uint8Array): void {
    const host = this.host;
    if (!host) return;
    this.opts.onTraffic?.(kind, 'out', bytes.length);
    host.services.pubsub.publish(this.topics[kind], bytes).catch((err: unknown) => {
      this.log.debug({ err, kind }, 'publish failed');
    });
  }

  private publishProposal(data: Uint8Array): void {
    let own = this.ownProposals.get(data);
    if (!own) {
      const split = compactProposal(data);
      if (split) {
        // Peers may ask us for any of these; the mempool may already have dropped some.
        split.txs.forEach((tx, i) => this.txCache.set(toHex(split.compact.digests[i]!), tx));
      }
      own = {
        key: split ? toHex(split.compact.digest) : toHex(sha256(data)),
        wire: encodeGossip(split ? split.compact : { t: 'proposal', data }),
      };
      this.ownProposals.set(data, own);
    }
    // Refreshed on every re-send, so peers can fetch it in full while it is current.
    this.proposalCache.set(own.key, data);
    this.publish('proposal', own.wire);
  }

  // ---------------------------------------------------------------- gossip in

  private validate(kind: GossipKind, peer: PeerId, msg: Message): TopicValidatorResult {
    const from = peer.toString();
    if (!this.gossipGuard.allow(from, msg.data.length)) {
      this.reject('rate_limited', from);
      this.penalize(from, 'rate_limited');
      return TopicValidatorResult.Ignore;
    }
    // Builders re-send their proposal every propose window, byte for byte: parse each one once.
    const key = kind === 'proposal' ? toHex(sha256(msg.data)) : null;
    const known = key ? this.parsedProposals.get(key) : undefined;
    if (known) {
      this.parsed.set(msg, known);
      return TopicValidatorResult.Accept;
    }
    const result = parseGossip(kind, msg.data, { chainId: this.opts.chainId, limits: this.limits });
    if (result.ok && key) {
      if (this.parsedProposals.size >= PARSED_PROPOSALS) {
        const oldest = this.parsedProposals.keys().next().value;
        if (oldest !== undefined) this.parsedProposals.delete(oldest);
      }
      this.parsedProposals.set(key, result.payload);
    }
    if (!result.ok) {
      this.log.debug({ peer: from, kind, reason: result.reason, detail: result.detail }, 'gossip rejected');
      this.reject(result.reason, from);
      return TopicValidatorResult.Reject;
    }
    this.parsed.set(msg, result.payload);
    return TopicValidatorResult.Accept;
  }

  private onGossip({ propagationSource, msgId, msg }: GossipsubMessage): void {
    const from = propagationSource.toString();
    const pubsub = this.host?.services.pubsub;
    if (!pubsub) return;
    const kind = this.topicKinds.get(msg.topic);
    const payload = this.parsed.get(msg);
    if (kind) this.opts.onTraffic?.(kind, 'in', msg.data.length);
    if (!kind || !payload) {
      // Validators run for every subscribed topic, so this is a topic we do not serve.
      this.reject('unknown_topic', from);
      pubsub.reportMessageValidationResult(msgId, from, TopicValidatorResult.Reject);
      return;
    }
    // Gossip is relayed once it parses, before consensus has judged it, so a fault found later
    // (bad signature, invalid block) belongs to the peer that signed the gossip message, not to
    // the honest relay that happened to hand it over first. Status stays with the relay: it only
    // steers whom to ask for blocks.
    const origin = msg.type === 'signed' ? msg.from.toString() : from;
    if (payload.t === 'proposal-compact') {
      void this.onCompactProposal(pubsub, payload, msgId, from, origin);
      return;
    }
    pubsub.reportMessageValidationResult(msgId, from, TopicValidatorResult.Accept);
    switch (payload.t) {
      case 'txs':
        for (const tx of payload.data) this.txCache.set(toHex(sha256(tx)), tx);
        this.deliver(payload, origin);
        return;
      case 'status':
        this.noteHeight(origin, payload.height);
        this.deliver(payload, from);
        return;
      case 'proposal':
        this.proposalCache.set(toHex(sha256(payload.data)), payload.data);
        this.deliver(payload, origin);
        return;
      case 'vote':
        this.deliver(payload, origin);
        return;
    }
  }

  private async onCompactProposal(
    pubsub: GossipRouter,
    payload: CompactProposalPayload,
    msgId: string,
    from: string,
    origin: string,
  ): Promise<void> {
    const sources = [from, ...(origin !== from && this.isConnected(origin) ? [origin] : [])];
    const outcome = await this.assembler.assemble(payload, sources);
    if (!this.running || this.host?.services.pubsub !== pubsub) return;
    if ('bytes' in outcome) {
      pubsub.reportMessageValidationResult(msgId, from, TopicValidatorResult.Accept);
      this.deliver({ t: 'proposal', data: outcome.bytes }, origin);
      return;
    }
    const mismatch = outcome.fail === 'proposal_mismatch';
    pubsub.reportMessageValidationResult(
      msgId,
      from,
      mismatch ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore,
    );
    this.reject(outcome.fail, from);
  }

  private findTx(digestHex: string): Uint8Array | undefined {
    return this.txCache.get(digestHex) ?? this.opts.lookupTx?.(digestHex);
  }

  private deliver(msg: WireMessage, from: string): void {
    try {
      this.opts.onMessage(msg, from);
    } catch (err) {
      this.log.error({ err, t: msg.t, peer: from }, 'message handler failed');
    }
  }

  private reject(reason: RejectReason, peer: string | null): void {
    try {
      this.opts.onReject?.(reason, peer);
    } catch (err) {
      this.log.error({ err }, 'onReject handler failed');
    }
  }

  private noteHeight(peer: string, height: number): void {
    if (peer === this.peerId) return;
    if (!this.peerHeights.has(peer) && this.peerHeights.size >= MAX_TRACKED_HEIGHTS) {
      const oldest = this.peerHeights.keys().next().value;
      if (oldest !== undefined) this.peerHeights.delete(oldest);
    }
    this.peerHeights.set(peer, Math.max(height, this.peerHeights.get(peer) ?? 0));
  }

  // ---------------------------------------------------------------- request/response

  private async serveProtocols(host: P2PHost): Promise<void> {
    const l = this.limits;
    const common = {
      timeoutMs: l.requestTimeoutMs,
      maxInboundStreams: 8,
      admit: (peer: string) => this.requestGuard.allow(peer),
      onFailure: (kind: RequestFailure, peer: string, err: Error) => this.serveFailed(kind, peer, err),
    };
    await serve(host, this.ids.sync, (body) => this.answerSync(body), { ...common, maxRequestBytes: 256 });
    await serve(host, this.ids.txs, (body) => this.answerTxs(body), {
      ...common,
      maxRequestBytes: l.maxFetchTxs * 34 + 64,
    });
    await serve(host, this.ids.proposal, (body) => this.answerProposal(body), {
      ...common,
      maxRequestBytes: 64,
    });
  }

  private answerSync(body: Uint8Array): Uint8Array {
    const req = parseSyncRequest(body);
    const out: SyncBlock[] = [];
    if (req.from <= this.opts.latestHeight()) {
      let bytes = 0;
      for (const b of this.opts.blocksFrom(req.from, Math.min(req.max, this.limits.maxSyncBlocks))) {
        const size = b.block.length + b.cert.length;
        if (out.length > 0 && bytes + size > this.limits.syncResponseSoftBytes) break;
        out.push({ block: b.block, cert: b.cert });
        bytes += size;
      }
    }
    return encodeBody({ blocks: out });
  }

  private answerTxs(body: Uint8Array): Uint8Array {
    const digests = parseTxsRequest(body, this.limits.maxFetchTxs);
    let budget = this.limits.maxProposalBytes;
    const txs = digests.map((d) => {
      const tx = this.findTx(toHex(d));
      if (!tx || tx.length > budget) return null;
      budget -= tx.length;
      return tx;
    });
    return encodeBody({ txs });
  }

  private answerProposal(body: Uint8Array): Uint8Array {
    const digest = parseProposalRequest(body);
    return encodeBody({ data: this.proposalCache.get(toHex(digest)) ?? null });
  }

  private serveFailed(kind: RequestFailure, peer: string, err: Error): void {
    const reason: RejectReason | null =
      kind === 'refused' ? 'rate_limited' : kind === 'malformed' || kind === 'oversized' ? kind : null;
    this.log.debug({ peer, kind, err: err.message }, 'request not served');
    if (!reason) return;
    this.reject(reason, peer);
    this.penalize(peer, reason);
  }

  private requestFailed(err: unknown, peer: string, what: string): void {
    const kind = err instanceof RequestError ? err.kind : 'closed';
    this.log.debug({ peer, what, kind, err: (err as Error).message }, 'request failed');
    if (kind === 'malformed' || kind === 'oversized') {
      this.reject('bad_response', peer);
      this.penalize(peer, 'bad_response');
    }
  }

  private call(peer: string, protocol: string, body: unknown, maxResponseBytes: number): Promise<Uint8Array> {
    return request(this.libp2p, peerIdFromString(peer), protocol, encodeBody(body), {
      maxResponseBytes,
      timeoutMs: this.limits.requestTimeoutMs,
      signal: this.abort.signal,
    });
  }

  /** Asks a peer for committed blocks from `from` (at most `max`, capped at `limits.maxSyncBlocks`). */
  async requestBlocks(peer: string, from: number, max = this.limits.maxSyncBlocks): Promise<SyncBlock[]> {
    const capped = Math.max(1, Math.min(max, this.limits.maxSyncBlocks));
    const res = await this.call(
      peer,
      this.ids.sync,
      { from, max: capped },
      maxSyncResponseBytes(this.limits),
    );
    return parseSyncResponse(res, capped);
  }

  /** Asks a peer for transactions by digest; every returned one is checked against its digest. */
  async fetchTxs(peer: string, digests: Uint8Array[]): Promise<Array<Uint8Array | null>> {
    // The server sends at most maxProposalBytes of transactions, plus CBOR headers (<= 9 bytes each).
    const limit = this.limits.maxProposalBytes + digests.length * 9 + 64;
    const res = await this.call(peer, this.ids.txs, { digests }, limit);
    const txs = parseTxsResponse(res, digests.length);
    txs.forEach((tx, i) => {
      if (tx && !equalBytes(sha256(tx), digests[i]!))
        throw new RequestError('malformed', 'a returned transaction does not match its digest');
    });
    return txs;
  }

  /** Asks a peer for a full proposal by the SHA-256 of its bytes; checked against the digest. */
  async fetchProposal(peer: string, digest: Uint8Array): Promise<Uint8Array | null> {
    const res = await this.call(peer, this.ids.proposal, { digest }, this.limits.maxProposalBytes + 1024);
    const data = parseProposalResponse(res);
    if (data && !equalBytes(sha256(data), digest))
      throw new RequestError('malformed', 'returned proposal does not match its digest');
    return data;
  }

  /**
   * One sync exchange at a time: asks the preferred peer (unless it is known to be behind), then
   * the best other one, and hands the first non-empty answer to the engine as `sync-res`.
   */
  private async syncFrom(from: number, preferred: string | null): Promise<void> {
    if (this.syncInFlight || !Number.isSafeInteger(from) || from < 1) return;
    const candidates = this.syncCandidates(from, preferred).slice(0, 2);
    if (candidates.length === 0) return;
    this.syncInFlight = true;
    let answer: { peer: string; blocks: SyncBlock[] } | null = null;
    try {
      for (const peer of candidates) {
        try {
          const blocks = await this.requestBlocks(peer, from);
          if (blocks.length > 0) {
            answer = { peer, blocks };
            break;
          }
          // It claimed a height it could not serve: stop believing it.
          if ((this.peerHeights.get(peer) ?? 0) >= from) this.peerHeights.delete(peer);
        } catch (err) {
          this.requestFailed(err, peer, 'sync');
        }
        if (!this.running) return;
      }
    } finally {
      this.syncInFlight = false;
    }
    if (answer && this.running) this.deliver({ t: 'sync-res', blocks: answer.blocks }, answer.peer);
  }

  private syncCandidates(from: number, preferred: string | null): string[] {
    const connected = this.peers();
    const height = (p: string): number => this.peerHeights.get(p) ?? -1;
    const ranked = connected
      .filter((p) => p !== preferred && (this.peerHeights.has(p) ? height(p) >= from : true))
      .sort((a, b) => height(b) - height(a));
    const preferredOk =
      preferred !== null &&
      connected.includes(preferred) &&
      (!this.peerHeights.has(preferred) || height(preferred) >= from);
    return preferredOk ? [preferred, ...ranked] : ranked;
  }

  // ---------------------------------------------------------------- discovery

  private isConnected(peer: string): boolean {
    const id = parsePeerId(peer);
    return !!id && (this.host?.getConnections(id).length ?? 0) > 0;
  }

  private rememberAddrs(peer: string, addrs: string[]): void {
    const host = this.host;
    if (!host) return;
    host.peerStore
      .merge(peerIdFromString(peer), {
        multiaddrs: addrs.map((a) => multiaddr(a)),
        tags: { [KNOWN_PEER_TAG]: { value: 100 } },
      })
      .catch((err: unknown) => this.log.debug({ err, peer }, 'peer store update failed'));
  }

  private redial(): void {
    const host = this.host;
    if (!host || !this.running) return;
    const max = this.opts.maxConnections ?? 64;
    for (const p of this.book.due((id) => this.isConnected(id))) {
      if (this.dialing.has(p.id) || this.penalties.isBanned(p.id)) continue;
      if (host.getConnections().length >= max) break;
      this.dialing.add(p.id);
      host
        .dial(peerIdFromString(p.id), { signal: AbortSignal.timeout(this.limits.requestTimeoutMs) })
        .then(
          () => this.book.connected(p.id),
          (err: unknown) => {
            this.book.failed(p.id);
            this.log.debug({ peer: p.id, err: (err as Error).message }, 'redial failed');
          },
        )
        .finally(() => this.dialing.delete(p.id));
    }
  }

  private onConnect(peer: PeerId): void {
    const id = peer.toString();
    if (this.penalties.isBanned(id)) {
      void this.host?.hangUp(peer).catch(() => undefined);
      return;
    }
    this.book.connected(id);
    this.log.debug({ peer: id }, 'peer connected');
  }

  private onDisconnect(peer: PeerId): void {
    const id = peer.toString();
    this.book.disconnected(id);
    this.peerHeights.delete(id);
    this.log.debug({ peer: id }, 'peer disconnected');
  }

  /** Peers the DHT finds are dialled while we have fewer than `targetPeers`. */
  private onDiscovery(peer: PeerId): void {
    const host = this.host;
    const id = peer.toString();
    if (!host || !this.running || id === this.peerId || this.dialing.has(id)) return;
    if (this.penalties.isBanned(id) || this.isConnected(id)) return;
    if (host.getPeers().length >= this.limits.targetPeers) return;
    this.dialing.add(id);
    host
      .dial(peer, { signal: AbortSignal.timeout(this.limits.requestTimeoutMs) })
      .catch((err: unknown) =>
        this.log.debug({ peer: id, err: (err as Error).message }, 'discovered peer dial failed'),
      )
      .finally(() => this.dialing.delete(id));
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}

function parsePeerId(peer: string): PeerId | null {
  try {
    return peerIdFromString(peer);
  } catch {
    return null;
  }
}

/** Splits `/ip4/…/tcp/…/p2p/<id>` into the transport address and the peer id. */
export function splitPeerAddr(addr: string): { addr: string; peer: string } | null {
  let ma: Multiaddr;
  try {
    ma = multiaddr(addr);
  } catch {
    return null;
  }
  const components = ma.getComponents();
  const last = components.at(-1);
  if (!last || last.code !== CODE_P2P || !last.value) return null;
  try {
    peerIdFromString(last.value);
  } catch {
    return null;
  }
  const transport = components.slice(0, -1);
  if (transport.length === 0) return null;
  return { addr: multiaddr(transport).toString(), peer: last.value };
}

function plainAddr(addr: string): { addr: string; peer: null } | null {
  try {
    const ma = multiaddr(addr);
    if (ma.getComponents().some((c) => c.code === CODE_P2P)) return null;
    return { addr: ma.toString(), peer: null };
  } catch {
    return null;
  }
}
