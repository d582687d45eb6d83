import type { Address } from '../types.js';
import { assertBps } from './order.js';

export const REPUTATION_MAX = 10_000;
/** A new validator starts in the middle: it must earn the top weight, and is not starved either. */
export const INITIAL_REPUTATION = 5_000;
/** Each committed block moves reputation 1/16 of the way to the outcome's target. */
export const REPUTATION_STEP_DIVISOR = 16;

export type ReputationOutcome = 'timely' | 'disagreed' | 'absent' | 'equivocated';

/**
 * Targets: signing the commit certificate of the committed block → 10000; voting but for
 * something else → 5000 (present, but out of step with the committee); absent → 0. Equivocation
 * resets to 0 at once instead (see updateReputation).
 */
export const REPUTATION_TARGETS: Readonly<Record<Exclude<ReputationOutcome, 'equivocated'>, number>> = {
  timely: 10_000,
  disagreed: 5_000,
  absent: 0,
};

/**
 * rep' = rep + d/16 rounded toward the target (d = target − rep): the step is sign(d) × ceil(|d|/16).
 * Rounding toward the target (not toward −∞) treats rises and falls alike and lets reputation
 * reach the target exactly (a floor step would stall 15 short of it), never past it.
 */
export function updateReputation(reputation: number, outcome: ReputationOutcome): number {
  assertBps('reputation', reputation);
  if (outcome === 'equivocated') return 0;
  const d = REPUTATION_TARGETS[outcome] - reputation;
  const step = Math.ceil(Math.abs(d) / REPUTATION_STEP_DIVISOR);
  return d >= 0 ? reputation + step : reputation - step;
}

export interface ParticipationFacts {
  /** Its precommit is in the certificate of the committed block. */
  signed: boolean;
  /** It prevoted or precommitted something else (another block or nil) at this height. */
  voted_other: boolean;
  /** Evidence of two conflicting votes from it at this height was seen. */
  equivocated: boolean;
}

/** Precedence: equivocation beats everything, a certificate signature beats a dissenting vote. */
export function classifyOutcome(facts: ParticipationFacts): ReputationOutcome {
  if (facts.equivocated) return 'equivocated';
  if (facts.signed) return 'timely';
  return facts.voted_other ? 'disagreed' : 'absent';
}

/**
 * New reputations after a committed block. Only committee members have an outcome; every other
 * validator keeps its reputation (it had no chance to take part). Returns a new map.
 */
export function applyReputation(
  reputations: ReadonlyMap<Address, number>,
  outcomes: ReadonlyMap<Address, ReputationOutcome>,
): Map<Address, number> {
  const out = new Map(reputations);
  for (const [address, outcome] of outcomes) {
    const rep = reputations.get(address);
    if (rep === undefined) throw new RangeError(`no reputation for ${address}`);
    out.set(address, updateReputation(rep, outcome));
  }
  return out;
}

/** Votes needed to commit: more than two thirds, floor(2n/3) + 1. */
export function quorum(committeeSize: number): number {
  return Math.floor((2 * committeeSize) / 3) + 1;
}

/** Participation rule: at least 60% of the committee voted in the round. */
export function participationOk(votes: number, committeeSize: number): boolean {
  return votes * 100 >= 60 * committeeSize;
}
