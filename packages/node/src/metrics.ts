import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one node, in a registry of its own: tests and `self up` run several nodes in
 * one process, and the global registry would mix them (or refuse the second node's metric names).
 * Names carry their unit (`_seconds`, `_bytes`, `_total`), Lodestar style.
 */

/** Commits take from tens of milliseconds (local profile) to a minute (a stalled public network). */
const COMMIT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];
/** One verification batch: a single Ed25519 signature up to thousands of hybrid ones. */
const VERIFY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Label values callers may pass: short snake_case codes (ChainError codes, gossip topics). */
const LABEL_RE = /^[a-z0-9][a-z0-9_./-]{0,63}$/;
/** Distinct values one free-form label may take before new ones are folded into `other`. */
const MAX_LABEL_VALUES = 64;

/**
 * Keeps a free-form label's cardinality bounded: a peer that sends garbage with made-up reasons,
 * or a topic name per message, must not grow the registry without limit.
 */
class LabelBudget {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number) {}

  value(raw: string): string {
    if (this.seen.has(raw)) return raw;
    if (!LABEL_RE.test(raw) || this.seen.size >= this.limit) return 'other';
    this.seen.add(raw);
    return raw;
  }
}

export type RejectSource = 'gossip' | 'consensus' | 'sync' | 'api';
export type VoteKind = 'prevote' | 'precommit';

export class NodeMetrics {
  readonly registry: Registry;
  private readonly height: Gauge;
  private readonly round: Gauge;
  private readonly commitLatency: Histogram;
  private readonly committedTxs: Counter;
  private readonly mempoolTxs: Gauge;
  private readonly mempoolBytes: Gauge;
  private readonly peers: Gauge;
  private readonly votes: Counter<'type'>;
  private readonly rejected: Counter<'reason' | 'source'>;
  private readonly verifySeconds: Histogram;
  private readonly verifiedSignatures: Counter;
  private readonly gossipMessages: Counter<'topic' | 'direction'>;
  private readonly gossipBytes: Counter<'topic' | 'direction'>;
  private readonly txs: Counter<'result'>;
  private readonly syncing: Gauge;
  private readonly penalties: Counter<'reason'>;
  private readonly reasons = new LabelBudget(MAX_LABEL_VALUES);
  private readonly topics = new LabelBudget(MAX_LABEL_VALUES);

  constructor() {
    this.registry = new Registry();
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'self_' });
    this.height = new Gauge({
      name: 'self_height',
      help: 'Height of the latest committed block',
      registers,
    });
    this.round = new Gauge({
      name: 'self_round',
      help: 'Consensus round at the height being decided',
      registers,
    });
    this.commitLatency = new Histogram({
      name: 'self_commit_latency_seconds',
      help: 'Time from the start of a height to its commit',
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.committedTxs = new Counter({
      name: 'self_committed_transactions_total',
      help: 'Transactions in committed blocks',
      registers,
    });
    this.mempoolTxs = new Gauge({
      name: 'self_mempool_transactions',
      help: 'Transactions waiting in the mempool',
      registers,
    });
    this.mempoolBytes = new Gauge({
      name: 'self_mempool_bytes',
      help: 'Encoded size of the transactions waiting in the mempool',
      registers,
    });
    this.peers = new Gauge({
      name: 'self_peers',
      help: 'Connected libp2p peers',
      registers,
    });
    this.votes = new Counter({
      name: 'self_votes_total',
      help: 'Consensus votes received and accepted, by type',
      labelNames: ['type'],
      registers,
    });
    this.rejected = new Counter({
      name: 'self_rejected_messages_total',
      help: 'Messages and requests rejected, by reason (a stable error code) and where they came from',
      labelNames: ['reason', 'source'],
      registers,
    });
    this.verifySeconds = new Histogram({
      name: 'self_signature_verify_batch_seconds',
      help: 'Time to verify one batch of signatures',
      buckets: VERIFY_BUCKETS,
      registers,
    });
    this.verifiedSignatures = new Counter({
      name: 'self_signatures_verified_total',
      help: 'Signatures verified',
      registers,
    });
    this.gossipMessages = new Counter({
      name: 'self_gossip_messages_total',
      help: 'Gossip messages by topic and direction',
      labelNames: ['topic', 'direction'],
      registers,
    });
    this.gossipBytes = new Counter({
      name: 'self_gossip_bytes_total',
      help: 'Gossip payload bytes by topic and direction',
      labelNames: ['topic', 'direction'],
      registers,
    });
    this.txs = new Counter({
      name: 'self_transactions_received_total',
      help: 'Transactions submitted to this node (API and gossip), by admission result',
      labelNames: ['result'],
      registers,
    });
    this.syncing = new Gauge({
      name: 'self_syncing',
      help: '1 while the node catches up by block sync, else 0',
      registers,
    });
    this.penalties = new Counter({
      name: 'self_peer_penalties_total',
      help: 'Peers charged (scored down) for proven misbehaviour, by reason',
      labelNames: ['reason'],
      registers,
    });
  }

  setHeight(h: number): void {
    this.height.set(h);
  }

  setRound(r: number): void {
    this.round.set(r);
  }

  observeCommit(latencySeconds: number, txs: number): void {
    this.commitLatency.observe(latencySeconds);
    if (txs > 0) this.committedTxs.inc(txs);
  }

  setMempool(size: number, bytes: number): void {
    this.mempoolTxs.set(size);
    this.mempoolBytes.set(bytes);
  }

  setPeers(n: number): void {
    this.peers.set(n);
  }

  countVote(type: VoteKind): void {
    this.votes.inc({ type });
  }

  countRejected(reason: string, source: RejectSource): void {
    this.rejected.inc({ reason: this.reasons.value(reason), source });
  }

  observeVerify(seconds: number, count: number): void {
    this.verifySeconds.observe(seconds);
    if (count > 0) this.verifiedSignatures.inc(count);
  }

  countGossip(topic: string, direction: 'in' | 'out', bytes: number): void {
    const labels = { topic: this.topics.value(topic), direction };
    this.gossipMessages.inc(labels);
    if (bytes > 0) this.gossipBytes.inc(labels, bytes);
  }

  countTx(result: 'accepted' | 'rejected'): void {
    this.txs.inc({ result });
  }

  countPenalty(reason: string): void {
    this.penalties.inc({ reason: this.reasons.value(reason) });
  }

  setSyncing(b: boolean): void {
    this.syncing.set(b ? 1 : 0);
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
