import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score';

/**
 * Penalty points per fault. Faults the networking layer finds (shape, size, floods) and faults the
 * node finds later (signatures, invalid blocks, equivocation) share one scale; a peer is banned at
 * `banPoints` (default 100). Unknown reasons cost DEFAULT_PENALTY.
 */
export const PENALTY_POINTS: Readonly<Record<string, number>> = Object.freeze({
  rate_limited: 1,
  proposal_unavailable: 0,
  malformed: 10,
  non_canonical: 10,
  oversized: 10,
  wrong_chain: 10,
  unknown_topic: 5,
  bad_response: 10,
  not_validator: 10,
  proposal_mismatch: 25,
  bad_signature: 25,
  invalid_block: 25,
  invalid_certificate: 25,
  conflicting_proposal: 25,
  equivocation: 50,
});
export const DEFAULT_PENALTY = 10;

export interface PenaltyBookOptions {
  banPoints: number;
  banMs: number;
  halfLifeMs: number;
  now?: () => number;
}

/**
 * The application-specific part of a peer's score (gossipsub's P5): penalty points that halve
 * every `halfLifeMs`, and bans for peers whose points reach `banPoints`.
 */
export class PenaltyBook {
  private readonly points = new Map<string, { value: number; at: number }>();
  private readonly bans = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: PenaltyBookOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Adds the reason's points; returns true when this pushes the peer into a ban. */
  add(peer: string, reason: string, points = PENALTY_POINTS[reason] ?? DEFAULT_PENALTY): boolean {
    if (points <= 0) return false;
    const now = this.now();
    const value = this.current(peer, now) + points;
    this.points.set(peer, { value, at: now });
    if (value >= this.opts.banPoints && !this.isBanned(peer)) {
      this.bans.set(peer, now + this.opts.banMs);
      return true;
    }
    return false;
  }

  /** Decayed penalty points (0 for a well-behaved peer). */
  pointsOf(peer: string): number {
    return this.current(peer, this.now());
  }

  /** Gossipsub's appSpecificScore: minus the points. */
  appScore(peer: string): number {
    return -this.pointsOf(peer);
  }

  isBanned(peer: string): boolean {
    const until = this.bans.get(peer);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.bans.delete(peer);
    return false;
  }

  /** Forgets peers whose points have decayed away and expired bans. */
  prune(): void {
    const now = this.now();
    for (const [peer, p] of this.points)
      if (this.current(peer, now) < 0.01 && p.at < now) this.points.delete(peer);
    for (const [peer, until] of this.bans) if (until <= now) this.bans.delete(peer);
  }

  private current(peer: string, now: number): number {
    const p = this.points.get(peer);
    if (!p) return 0;
    return p.value * Math.pow(0.5, Math.max(0, now - p.at) / this.opts.halfLifeMs);
  }
}

/**
 * Gossipsub scoring for our topics. Invalid messages (validator REJECT) cost a peer a quadratic
 * penalty per topic; application penalties enter with weight 1; IP colocation is off because a
 * testnet's validators often share one host. Mesh-delivery penalties (P3) are off too: vote and
 * proposal rates depend on round timing, and a quiet honest peer must not look like a lazy one.
 *
 * Thresholds: below -50 a peer gets no gossip from us, below -80 we do not publish to it, below
 * -100 (a ban's worth of application points, or three invalid messages) its RPCs are ignored.
 */
export function gossipScoring(
  topics: string[],
  appScore: (peer: string) => number,
): { scoreParams: Partial<PeerScoreParams>; scoreThresholds: Partial<PeerScoreThresholds> } {
  const topic: Partial<TopicScoreParams> = {
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    firstMessageDeliveriesWeight: 0.5,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 20,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: -20,
    // Decays once a second: about a minute's half-life.
    invalidMessageDeliveriesDecay: 0.99,
  };
  return {
    scoreParams: {
      topics: Object.fromEntries(topics.map((t) => [t, topic as TopicScoreParams])),
      topicScoreCap: 20,
      appSpecificScore: appScore,
      appSpecificWeight: 1,
      IPColocationFactorWeight: 0,
      behaviourPenaltyWeight: -10,
      behaviourPenaltyThreshold: 6,
      behaviourPenaltyDecay: 0.99,
      decayInterval: 1000,
      decayToZero: 0.01,
      retainScore: 10 * 60_000,
    },
    scoreThresholds: {
      gossipThreshold: -50,
      publishThreshold: -80,
      graylistThreshold: -100,
      acceptPXThreshold: 100,
      opportunisticGraftThreshold: 1,
    },
  };
}
