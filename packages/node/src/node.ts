import './polyfills.js';
import { addressFromPublicKey, sha256, toHex, type SigningKey } from '@self/crypto';
import {
  Chain,
  ChainError,
  ConsensusEngine,
  TIMING_PROFILES,
  VerifiedCache,
  decodeBlock,
  decodeSignedProposal,
  decodeSignedVote,
  evidenceTransaction,
  listNodes,
  systemClock,
  type Block,
  type ByzantineBehaviour,
  type Genesis,
  type WireMessage,
} from '@self/chain';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createApiServer } from './api/index.js';
import type { NodeConfig } from './config.js';
import { NodeMetrics } from './metrics.js';
import type { ApiNode, NodeEvent, NodeInfo, SubmitOutcome } from './node-api.js';
import { P2PNode } from './p2p/index.js';
import { RecentTxs } from './recent-txs.js';
import { VerifyPool, signedDigestHex, verifyInto, type VerifyResult } from './verify/index.js';

export const NODE_VERSION = '0.1.0';

export interface SelfNodeOptions {
  config: NodeConfig;
  genesis: Genesis;
  validatorKey: SigningKey;
  peerKey: Uint8Array;
  /** SQLite file of the chain (':memory:' for none). */
  chainDbPath: string;
  logger: Logger;
  /** Fault injection for Byzantine-node tests. Never set in production. */
  byzantine?: ByzantineBehaviour;
  /** Start the HTTP API (default true). */
  api?: boolean;
  /** Verify-queue depth per thread at which new transactions are shed (SHED_QUEUED_PER_THREAD). */
  shedQueuedPerThread?: number;
}

/** Rejection reasons that prove the sending peer misbehaved (not merely late or out of date). */
const PUNISHABLE = new Set([
  'bad_signature',
  'malformed',
  'non_canonical',
  'oversized',
  'wrong_chain',
  'invalid_block',
  'invalid_certificate',
  'conflicting_proposal',
  'not_validator',
]);

/** Transactions submitted through the API wait at most this long to share a verification batch. */
const API_BATCH_MS = 2;
const API_BATCH_MAX = 256;
/**
 * Transactions waiting for a verify worker, per thread, above which the node sheds new work: API
 * submissions get 503 and gossiped batches are dropped (compact proposals fetch what they need).
 * About a quarter to half a second of one thread's work: past that, queueing only adds latency
 * and starves consensus of CPU, and a client that backs off loses nothing.
 */
const SHED_QUEUED_PER_THREAD = 1024;
/** How often on-chain `node.announce` records are fed to peer discovery. */
const ANNOUNCE_REFRESH_BLOCKS = 20;
const RECENT_TXS = 100_000;

/**
 * One SELF Chain node: the chain (SQLite + Merkle state), the consensus engine the simulator also
 * runs, libp2p networking, signature verification on worker threads, and the HTTP/WebSocket API.
 * Every message from the network passes the verification pool before the (synchronous) engine
 * sees it, so the event loop never verifies signatures in bulk.
 */
export class SelfNode implements ApiNode {
  readonly chain: Chain;
  readonly metrics = new NodeMetrics();
  private readonly cache = new VerifiedCache();
  /** Signed transactions admitted lately, by digest: peers rebuild compact proposals from them. */
  private readonly recent = new RecentTxs(RECENT_TXS);
  private readonly listeners = new Set<(e: NodeEvent) => void>();
  private readonly log: Logger;
  private engine!: ConsensusEngine;
  private p2p!: P2PNode;
  private pool!: VerifyPool;
  private api: FastifyInstance | null = null;
  private apiBatch: Array<{ bytes: Uint8Array; done: (err: Error | null, digest?: string) => void }> = [];
  private apiTimer: NodeJS.Timeout | null = null;
  private reported = new Set<string>();
  /** Digests of proposals whose transactions were already verified on the pool. */
  private preverified = new Set<string>();
  private stopped = false;
  private readonly address: string;

  private constructor(private readonly opts: SelfNodeOptions) {
    this.log = opts.logger;
    this.address = addressFromPublicKey(opts.validatorKey.publicKey);
    this.chain = Chain.open({
      genesis: opts.genesis,
      path: opts.chainDbPath,
      verifiedCache: this.cache,
      // A process crash loses nothing with NORMAL in WAL mode; only power loss could drop the tip,
      // which peers hold too.
      store: { synchronous: 'NORMAL' },
    });
  }

  static async start(opts: SelfNodeOptions): Promise<SelfNode> {
    const node = new SelfNode(opts);
    try {
      await node.startParts();
    } catch (err) {
      await node.stop();
      throw err;
    }
    return node;
  }

  private async startParts(): Promise<void> {
    const { config, genesis } = this.opts;
    this.pool = VerifyPool.create({
      genesis,
      ...(config.verify_threads > 0 ? { threads: config.verify_threads } : {}),
    });
    this.p2p = new P2PNode({
      chainId: genesis.chain_id,
      peerKey: this.opts.peerKey,
      listen: config.p2p.listen,
      announce: config.p2p.announce,
      bootstrap: config.p2p.bootstrap,
      maxConnections: config.p2p.max_connections,
      maxProposalBytes: genesis.params.max_block_bytes + 1024 * 1024,
      logger: this.log.child({ part: 'p2p' }),
      onMessage: (msg, from) => this.onMessage(msg, from),
      onReject: (reason, from) => {
        this.metrics.countRejected(reason, 'gossip');
        // Gossipsub already scored the sender down for an invalid message; count it.
        if (from && PUNISHABLE.has(reason)) this.metrics.countPenalty(reason);
        this.log.debug({ reason, peer: from }, 'gossip message rejected');
      },
      onTraffic: (kind, direction, bytes) => this.metrics.countGossip(kind, direction, bytes),
      blocksFrom: (from, max) => this.chain.blocksFrom(from, max),
      latestHeight: () => this.chain.latestHeight(),
      lookupTx: (digestHex) => this.recent.get(digestHex),
    });
    const timing = TIMING_PROFILES[genesis.params.timing];
    this.engine = new ConsensusEngine(
      {
        key: this.opts.validatorKey,
        timing,
        ...(config.empty_block_wait_ms > 0 ? { emptyBlockWaitMs: config.empty_block_wait_ms } : {}),
        ...(this.opts.byzantine ? { byzantine: this.opts.byzantine } : {}),
      },
      {
        chain: this.chain,
        transport: this.p2p,
        clock: systemClock,
        events: {
          onCommit: ({ height, round, hash, block }) => this.onCommit(height, round, hash, block),
          onReject: (reason, from) => this.onConsensusReject(reason, from),
          onEquivocation: (a, b, voter) => this.onEquivocation(a, b, voter),
          onRound: (_height, round) => this.metrics.setRound(round),
        },
        privState: {
          load: () => this.chain.store.getMeta('consensus/priv'),
          save: (bytes) => this.chain.store.putMeta('consensus/priv', bytes),
        },
      },
    );
    await this.p2p.start();
    this.refreshAnnouncedPeers();
    this.engine.start();
    this.metrics.setHeight(this.chain.latestHeight());
    if (this.opts.api !== false) {
      this.api = createApiServer(this, {
        logger: this.log.child({ part: 'api' }),
        rateLimit: {
          max: config.api.rate_limit.max,
          windowMs: config.api.rate_limit.window_ms,
          allowList: config.api.rate_limit.allow,
        },
        cors: config.api.cors,
      });
      await this.api.listen({ host: config.api.host, port: config.api.port });
    }
    this.log.info(
      {
        chainId: genesis.chain_id,
        height: this.chain.latestHeight(),
        peerId: this.p2p.peerId,
        listen: this.p2p.multiaddrs(),
        api: this.apiUrl(),
        validator: this.isValidator() ? this.address : null,
      },
      'node started',
    );
  }

  /** Connects to a peer now (besides bootstrap and discovery). */
  async dial(multiaddr: string): Promise<void> {
    await this.p2p.dial(multiaddr);
  }

  /** Base URL of the HTTP API (null when it is off). */
  apiUrl(): string | null {
    const addr = this.api?.server.address();
    if (!addr || typeof addr === 'string') return null;
    return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.engine?.stop();
    if (this.apiTimer) clearTimeout(this.apiTimer);
    for (const item of this.apiBatch.splice(0))
      item.done(new ChainError('unavailable', 'the node is shutting down; retry on another node'));
    await this.api?.close().catch((err: unknown) => this.log.warn({ err }, 'api close failed'));
    await this.p2p?.stop().catch((err: unknown) => this.log.warn({ err }, 'p2p stop failed'));
    await this.pool?.close();
    this.chain.close();
    this.log.info('node stopped');
  }

  // ---------------------------------------------------------------- ApiNode

  info(): NodeInfo {
    return {
      version: NODE_VERSION,
      peerId: this.p2p?.peerId ?? '',
      moniker: this.opts.config.moniker,
      listenAddrs: this.p2p?.multiaddrs() ?? [],
      validator: this.isValidator() ? this.address : null,
    };
  }

  peerCount(): number {
    return this.p2p?.peerCount() ?? 0;
  }

  syncing(): boolean {
    return this.p2p?.syncing ?? false;
  }

  consensus(): { height: number; round: number; step: string } {
    const s = this.engine.status;
    return { height: s.height, round: s.round, step: s.step };
  }

  subscribe(listener: (event: NodeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  submitTransaction(bytes: Uint8Array): Promise<{ hash: Uint8Array }> {
    const busy = this.overloaded();
    if (busy) return Promise.reject(busy);
    return new Promise((resolve, reject) => {
      this.apiBatch.push({
        bytes,
        done: (err, digest) => {
          if (err) return reject(err);
          try {
            const hash = this.admit(bytes, digest);
            this.metrics.countTx('accepted');
            this.engine.nudge();
            this.p2p.gossipTxs([bytes]);
            resolve({ hash });
          } catch (e) {
            this.metrics.countTx('rejected');
            reject(e);
          }
        },
      });
      if (this.apiBatch.length >= API_BATCH_MAX) this.flushApiBatch();
      else this.apiTimer ??= setTimeout(() => this.flushApiBatch(), API_BATCH_MS);
    });
  }

  /**
   * A batch from the API: verified in one pool call (the batch is already as large as the 2 ms
   * gathering of single submissions would make it), admitted in order, gossiped together.
   */
  async submitTransactions(batch: Uint8Array[]): Promise<SubmitOutcome[]> {
    if (batch.length === 0) return [];
    const stopping = (): ChainError =>
      new ChainError('unavailable', 'the node is shutting down; retry on another node');
    if (this.stopped) throw stopping();
    const busy = this.overloaded();
    if (busy) throw busy;
    const verified = await this.verify(batch);
    if (this.stopped) throw stopping();
    const outcomes: SubmitOutcome[] = [];
    const admitted: Uint8Array[] = [];
    try {
      batch.forEach((bytes, i) => {
        const r = verified[i]!;
        if (!r.ok) {
          this.metrics.countTx('rejected');
          outcomes.push({ ok: false, error: new ChainError(r.code, r.message) });
          return;
        }
        try {
          const hash = this.admit(bytes, r.digest);
          this.metrics.countTx('accepted');
          admitted.push(bytes);
          outcomes.push({ ok: true, hash });
        } catch (err) {
          if (!(err instanceof ChainError)) throw err;
          this.metrics.countTx('rejected');
          outcomes.push({ ok: false, error: err });
        }
      });
    } finally {
      // Even when an internal failure cut the batch short, what got in is announced.
      if (admitted.length > 0) {
        this.p2p.gossipTxs(admitted);
        this.engine.nudge();
      }
      this.metrics.setMempool(this.chain.mempool.size, this.chain.mempool.bytes);
    }
    return outcomes;
  }

  /**
   * Admits a transaction that passed the verification pool to the mempool (throws its ChainError
   * otherwise) and announces it locally: the recent set for compact proposals, and subscribers.
   * The callers nudge the engine and gossip (the batch path once for the whole batch).
   */
  private admit(bytes: Uint8Array, digest: string | undefined): Uint8Array {
    const { hash } = this.chain.submitTransaction(bytes);
    this.recent.add(bytes, digest);
    this.emit({ type: 'tx', hash });
    return hash;
  }

  /** Verifies the waiting API submissions together on the worker threads. */
  private flushApiBatch(): void {
    if (this.apiTimer) clearTimeout(this.apiTimer);
    this.apiTimer = null;
    const batch = this.apiBatch.splice(0);
    if (batch.length === 0) return;
    this.verify(batch.map((b) => b.bytes)).then(
      (results) =>
        batch.forEach((item, i) => {
          const r = results[i]!;
          if (r.ok) return item.done(null, r.digest);
          this.metrics.countTx('rejected');
          item.done(new ChainError(r.code, r.message));
        }),
      (err: unknown) => batch.forEach((item) => item.done(err as Error)),
    );
  }

  // ---------------------------------------------------------------- network in

  private onMessage(msg: WireMessage, from: string): void {
    if (this.stopped) return;
    switch (msg.t) {
      case 'txs':
        void this.admitGossipTxs(msg.data, from);
        return;
      case 'proposal':
        void this.preverify(() => decodeSignedProposal(msg.data).proposal.block.txs, msg, from);
        return;
      case 'sync-res':
        void this.preverify(() => msg.blocks.flatMap((b) => decodeBlock(b.block).txs), msg, from);
        return;
      case 'vote':
        this.countVote(msg.data);
        this.engine.receive(msg, from);
        return;
      default:
        this.engine.receive(msg, from);
    }
  }

  /**
   * Signatures of a proposal's (or synced blocks') transactions are checked on the worker threads
   * first; the engine's block check then finds them in the verified cache.
   */
  private async preverify(txsOf: () => Uint8Array[], msg: WireMessage, from: string): Promise<void> {
    // Builders re-send their proposal every few hundred ms: decode and check each one once.
    const digest = msg.t === 'proposal' ? toHex(sha256(msg.data)) : null;
    if (digest && this.preverified.has(digest)) {
      this.engine.receive(msg, from);
      return;
    }
    let txs: Uint8Array[];
    try {
      txs = txsOf();
    } catch {
      // Undecodable: the engine rejects it with the precise reason and charges the sender.
      this.engine.receive(msg, from);
      return;
    }
    try {
      const results = await this.verify(txs, { urgent: true });
      results.forEach((r, i) => this.recent.add(txs[i]!, r.digest));
    } catch (err) {
      this.log.warn({ err }, 'verification pool failed; the engine verifies inline');
    }
    if (digest) {
      if (this.preverified.size >= 256) this.preverified.clear();
      this.preverified.add(digest);
    }
    if (!this.stopped) this.engine.receive(msg, from);
  }

  private async admitGossipTxs(batch: Uint8Array[], from: string): Promise<void> {
    if (this.overloaded()) {
      // Not the sender's fault: no penalty. A proposal that includes them fetches them.
      this.metrics.countRejected('overloaded', 'gossip');
      return;
    }
    let results;
    try {
      results = await this.verify(batch);
    } catch (err) {
      this.log.warn({ err }, 'verification pool failed');
      return;
    }
    if (this.stopped) return;
    let punished = false;
    batch.forEach((bytes, i) => {
      const r = results[i]!;
      if (!r.ok) {
        this.metrics.countRejected(r.code, 'gossip');
        if (!punished && PUNISHABLE.has(r.code)) {
          punished = true;
          this.penalize(from, r.code);
        }
        return;
      }
      try {
        this.admit(bytes, r.digest);
        this.engine.nudge();
      } catch (err) {
        // Duplicates and stale nonces are normal under gossip; only count them.
        if (err instanceof ChainError && err.code !== 'duplicate')
          this.metrics.countRejected(err.code, 'gossip');
      }
    });
    this.metrics.setMempool(this.chain.mempool.size, this.chain.mempool.bytes);
  }

  /**
   * Every path in (API, gossip, proposals, sync) verifies here: encodings already in the verified
   * cache are answered at once, the rest go to the worker threads together.
   */
  private async verify(
    batch: readonly Uint8Array[],
    opts: { urgent?: boolean } = {},
  ): Promise<VerifyResult[]> {
    const results: VerifyResult[] = batch.map((bytes) => ({ ok: true, digest: signedDigestHex(bytes) }));
    const fresh = results.flatMap((r, i) => (this.cache.has(r.digest) ? [] : [i]));
    if (fresh.length === 0) return results;
    const started = performance.now();
    const verified = await verifyInto(
      this.pool,
      this.cache,
      fresh.map((i) => batch[i]!),
      opts,
    );
    this.metrics.observeVerify((performance.now() - started) / 1000, fresh.length);
    fresh.forEach((i, k) => (results[i] = verified[k]!));
    return results;
  }

  /** The error to shed new transactions with while the verify workers are behind, else null. */
  private overloaded(): ChainError | null {
    const queued = this.pool.queued;
    const perThread = this.opts.shedQueuedPerThread ?? SHED_QUEUED_PER_THREAD;
    if (queued < perThread * this.pool.threads) return null;
    return new ChainError(
      'unavailable',
      `the node is overloaded (${queued} transactions wait for signature checks); retry in a moment`,
      { queued },
    );
  }

  private countVote(bytes: Uint8Array): void {
    try {
      this.metrics.countVote(decodeSignedVote(bytes).vote.type);
    } catch {
      // The engine rejects and counts it.
    }
  }

  // ---------------------------------------------------------------- engine events

  private onCommit(height: number, round: number, hash: Uint8Array, block: Block): void {
    this.metrics.setHeight(height);
    this.metrics.setPeers(this.peerCount());
    this.metrics.setSyncing(this.syncing());
    this.metrics.observeCommit(Math.max(0, Date.now() - block.header.timestamp) / 1000, block.txs.length);
    this.metrics.setMempool(this.chain.mempool.size, this.chain.mempool.bytes);
    this.emit({ type: 'block', height, hash, round, block });
    if (height % ANNOUNCE_REFRESH_BLOCKS === 0) this.refreshAnnouncedPeers();
    this.log.debug({ height, round, txs: block.txs.length, hash: toHex(hash) }, 'block committed');
  }

  /** Engine reasons may carry a detail (`invalid_block:invalid_state_root`); the prefix decides. */
  private onConsensusReject(reason: string, from: string | null): void {
    const [kind = reason] = reason.split(':', 1);
    this.metrics.countRejected(reason.replace(':', '/'), 'consensus');
    if (from && PUNISHABLE.has(kind)) this.penalize(from, kind);
  }

  private penalize(peer: string, reason: string): void {
    this.metrics.countPenalty(reason);
    this.p2p.penalize(peer, reason);
  }

  /** Two conflicting votes by one validator: sign and gossip an `evidence` transaction once. */
  private onEquivocation(a: Uint8Array, b: Uint8Array, voter: string): void {
    if (this.reported.has(voter) || !this.isValidator() || this.opts.byzantine) return;
    const bytes = evidenceTransaction(this.chain, this.opts.validatorKey, voter, a, b);
    if (!bytes) return;
    this.reported.add(voter);
    this.log.warn({ voter }, 'equivocation seen; submitting evidence');
    this.submitTransaction(bytes).catch((err: unknown) =>
      this.log.warn({ err, voter }, 'evidence transaction rejected'),
    );
  }

  private refreshAnnouncedPeers(): void {
    try {
      for (const record of listNodes(this.chain.store))
        if (record.peer_id !== this.p2p.peerId) this.p2p.addPeerAddresses(record.peer_id, record.multiaddrs);
    } catch (err) {
      this.log.debug({ err }, 'announced peers not usable');
    }
  }

  private isValidator(): boolean {
    return this.opts.genesis.validators.some((v) => v.address === this.address);
  }

  private emit(event: NodeEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.log.warn({ err }, 'event listener failed');
      }
    }
  }
}
