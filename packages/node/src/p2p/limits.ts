const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Sizes, rates and timings of the networking layer. Every field has a default; a node overrides
 * what it needs (`maxProposalBytes` should follow the chain's `max_block_bytes`).
 */
export interface P2PLimits {
  /** Largest gossiped transaction batch (encoded message). */
  maxTxBatchBytes: number;
  /** Most transactions in one gossiped batch. */
  maxTxsPerBatch: number;
  /** Largest gossiped vote message. */
  maxVoteBytes: number;
  /** Largest gossiped status message. */
  maxStatusBytes: number;
  /** Largest proposal, full or compact: max_block_bytes plus header, certificate and signature. */
  maxProposalBytes: number;

  /** The transaction batcher flushes at this many transactions… */
  txFlushCount: number;
  /** …or this many bytes… */
  txFlushBytes: number;
  /** …or this long after the first transaction of a batch arrived. */
  txFlushMs: number;
  /** Transaction batches wait while this many bytes are queued on gossip streams… */
  txBacklogBytes: number;
  /** …and beyond this many waiting bytes the oldest batches are dropped. */
  txQueueBytes: number;

  /** Most blocks served per sync request. */
  maxSyncBlocks: number;
  /** A sync response stops adding blocks past this many bytes (it always carries at least one). */
  syncResponseSoftBytes: number;
  /** Most transactions asked for in one missing-data request. */
  maxFetchTxs: number;
  /** Time for a whole request/response exchange. */
  requestTimeoutMs: number;

  /** Inbound gossip per peer: messages per second and burst… */
  msgRatePerSec: number;
  msgBurst: number;
  /** …and bytes per second and burst (the burst is raised to fit one largest proposal). */
  bytesRatePerSec: number;
  bytesBurst: number;
  /** Inbound requests (sync, txs, proposal) per peer: per second and burst. */
  reqRatePerSec: number;
  reqBurst: number;

  /** Transactions seen in gossip or fetched, kept by digest to rebuild compact proposals. */
  txCacheBytes: number;
  /** Recent full proposals kept to serve peers that cannot rebuild a compact one. */
  proposalCacheEntries: number;

  /** Penalty points (see `penalize`) at which a peer is disconnected and banned. */
  banPoints: number;
  /** How long a ban lasts. */
  banMs: number;
  /** Penalty points halve this often, so an occasional fault is forgiven. */
  penaltyHalfLifeMs: number;

  /** First redial delay for a known peer that is not connected; doubles per failure… */
  redialBaseMs: number;
  /** …up to this. */
  redialMaxMs: number;
  /** How often the redial loop looks at known peers. */
  redialTickMs: number;
  /** Peers found by the DHT are dialled while fewer than this many are connected. */
  targetPeers: number;
}

export const DEFAULT_P2P_LIMITS: Readonly<P2PLimits> = Object.freeze({
  maxTxBatchBytes: 4 * MiB,
  maxTxsPerBatch: 8192,
  maxVoteBytes: 64 * KiB,
  maxStatusBytes: 1 * KiB,
  maxProposalBytes: 33 * MiB,

  txFlushCount: 256,
  txFlushBytes: 512 * KiB,
  txFlushMs: 20,
  txBacklogBytes: 1 * MiB,
  txQueueBytes: 64 * MiB,

  maxSyncBlocks: 64,
  syncResponseSoftBytes: 16 * MiB,
  maxFetchTxs: 65_536,
  requestTimeoutMs: 15_000,

  msgRatePerSec: 1000,
  msgBurst: 2000,
  bytesRatePerSec: 64 * MiB,
  bytesBurst: 128 * MiB,
  reqRatePerSec: 20,
  reqBurst: 40,

  txCacheBytes: 64 * MiB,
  proposalCacheEntries: 16,

  banPoints: 100,
  banMs: 10 * 60_000,
  penaltyHalfLifeMs: 60_000,

  redialBaseMs: 1000,
  redialMaxMs: 5_000,
  redialTickMs: 500,
  targetPeers: 16,
});

export function resolveLimits(overrides: Partial<P2PLimits> | undefined): P2PLimits {
  const limits: P2PLimits = { ...DEFAULT_P2P_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      throw new RangeError(`p2p limit ${key} must be a positive number, got ${String(value)}`);
  }
  // One largest proposal must fit a full bucket, or it could never be received.
  limits.bytesBurst = Math.max(limits.bytesBurst, limits.maxProposalBytes + 64 * KiB);
  return limits;
}

/** Largest sync response a client accepts: the soft cap plus one block that crosses it. */
export const maxSyncResponseBytes = (l: P2PLimits): number =>
  l.syncResponseSoftBytes + l.maxProposalBytes + 64 * KiB;

/** Largest message gossipsub must accept on its stream (the biggest topic limit plus framing). */
export const maxGossipFrameBytes = (l: P2PLimits): number =>
  Math.max(l.maxTxBatchBytes, l.maxVoteBytes, l.maxStatusBytes, l.maxProposalBytes) + 64 * KiB;
