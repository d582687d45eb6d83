import type { Address, TxKind } from '../types.js';
import type { RiskStats } from '../state-types.js';
import { assertBps, assertUint, mulDivFloor } from './order.js';
import { countInBlock, RATE_SCALE, rateBefore } from './risk-stats.js';

/** Risk is in basis points: 0 (benign) ..= 10000 (certainly abusive). */
export const RISK_MAX_BPS = 10_000;

/** (a) The recipient sent to the sender recently: value bouncing back and forth. */
export const CIRCULAR_SCORE = 3_000;

/** (b) Frequency spike: the sender's count in this block against its usual per-block rate. */
export const FREQUENCY_MAX_SCORE = 3_000;
/** A count up to this multiple of the baseline rate scores 0; twice this multiple scores the maximum. */
export const FREQUENCY_SPIKE_MULTIPLE = 4;
/** The baseline rate never counts as less than 1 tx/block, so a quiet account may send a few at once. */
export const FREQUENCY_BASELINE_FLOOR = RATE_SCALE;

/** (c) Amount outlier: a transfer far above the sender's average transfer. */
export const AMOUNT_MAX_SCORE = 2_500;
/** Up to this multiple of amount_ewma scores 0 ... */
export const AMOUNT_OUTLIER_MULTIPLE = 4;
/** ... and the score grows linearly to the maximum at this multiple. */
export const AMOUNT_FULL_MULTIPLE = 20;
/** Transactions the sender must already have made before its average is trusted as a baseline. */
export const AMOUNT_WARMUP_TXS = 8;

/** (d) New-account burst: many transactions from an account that started sending recently. */
export const NEW_ACCOUNT_MAX_SCORE = 2_000;
/** An account is new while fewer than this many heights passed since its first transaction. */
export const NEW_ACCOUNT_HEIGHTS = 100;
/** A new account's first this-many transactions score 0 ... */
export const NEW_ACCOUNT_FREE_TXS = 10;
/** ... and the score reaches the maximum at this many. */
export const NEW_ACCOUNT_FULL_TXS = 50;

/** Transactions at or above this risk are delayed (see isDelayed). */
export const RISK_DELAY_BPS = 7_000;
/** A delayed transaction needs this many heights before it with no transaction from its sender. */
export const RISK_DELAY_HEIGHTS = 2;

export interface RiskInput {
  kind: TxKind;
  sender: Address;
  /** Transfer amount; 0 for every other kind. */
  amount: number;
  /** The transaction's nonce = the sender's transaction count including this one. */
  nonce: number;
  /** Height of the block the transaction goes into. */
  height: number;
  /** The sender's stats before this transaction. */
  stats: RiskStats;
  /**
   * The transfer recipient's stats (only recent_to is read), or null for other kinds and when the
   * recipient account does not exist yet (a new account cannot have sent anything back).
   */
  recipient: Pick<RiskStats, 'recent_to'> | null;
}

export interface RiskComponents {
  circular: number;
  frequency: number;
  amount: number;
  new_account: number;
  /** Sum of the components, capped at RISK_MAX_BPS. */
  total: number;
}

/** The risk model: a capped sum of four independently pinned integer components. */
export function riskComponents(input: RiskInput): RiskComponents {
  assertUint('amount', input.amount);
  assertUint('nonce', input.nonce);
  const circular = circularScore(input);
  const frequency = frequencyScore(input.stats, input.height);
  const amount = amountScore(input);
  const new_account = newAccountScore(input.stats, input.height, input.nonce);
  const total = Math.min(RISK_MAX_BPS, circular + frequency + amount + new_account);
  return { circular, frequency, amount, new_account, total };
}

export function txRisk(input: RiskInput): number {
  return riskComponents(input).total;
}

function circularScore({ kind, sender, recipient }: RiskInput): number {
  if (kind !== 'transfer' || recipient === null) return 0;
  return recipient.recent_to.includes(sender) ? CIRCULAR_SCORE : 0;
}

/**
 * n = the sender's transactions in this block (this one included), baseline = max(rate, 1 tx/block),
 * T = 4 × baseline, all × RATE_SCALE. Score = 0 when n ≤ T, else min(3000, floor(3000 × (n − T) / T)):
 * linear from 4× the usual rate (0) to 8× (3000).
 */
export function frequencyScore(stats: RiskStats, height: number): number {
  const n = countInBlock(stats, height) * RATE_SCALE;
  const threshold = FREQUENCY_SPIKE_MULTIPLE * Math.max(rateBefore(stats, height), FREQUENCY_BASELINE_FLOOR);
  if (n <= threshold) return 0;
  return Math.min(FREQUENCY_MAX_SCORE, mulDivFloor(n - threshold, FREQUENCY_MAX_SCORE, threshold));
}

/**
 * Transfers only, after AMOUNT_WARMUP_TXS earlier transactions and with a non-zero average e.
 * Score = 0 when amount ≤ 4e, else min(2500, floor(2500 × (amount − 4e) / (16e))): linear from
 * 4× the average (0) to 20× (2500). BigInt keeps 4e and the product exact near 2^53.
 */
export function amountScore({
  kind,
  amount,
  nonce,
  stats,
}: Pick<RiskInput, 'kind' | 'amount' | 'nonce' | 'stats'>): number {
  const e = BigInt(stats.amount_ewma);
  if (kind !== 'transfer' || e === 0n || nonce - 1 < AMOUNT_WARMUP_TXS) return 0;
  const low = e * BigInt(AMOUNT_OUTLIER_MULTIPLE);
  const a = BigInt(amount);
  if (a <= low) return 0;
  const span = e * BigInt(AMOUNT_FULL_MULTIPLE - AMOUNT_OUTLIER_MULTIPLE);
  const score = ((a - low) * BigInt(AMOUNT_MAX_SCORE)) / span;
  return Number(score < BigInt(AMOUNT_MAX_SCORE) ? score : BigInt(AMOUNT_MAX_SCORE));
}

/**
 * An account is new when it has not sent before (first_height 0) or its first transaction was
 * fewer than NEW_ACCOUNT_HEIGHTS heights ago; all its transactions so far then fall in that window,
 * so the tx nonce counts the burst. Score = 0 when nonce ≤ 10, else
 * min(2000, floor(2000 × (nonce − 10) / 40)): linear from 10 transactions (0) to 50 (2000).
 */
export function newAccountScore(stats: RiskStats, height: number, nonce: number): number {
  const isNew = stats.first_height === 0 || height - stats.first_height < NEW_ACCOUNT_HEIGHTS;
  if (!isNew || nonce <= NEW_ACCOUNT_FREE_TXS) return 0;
  const span = NEW_ACCOUNT_FULL_TXS - NEW_ACCOUNT_FREE_TXS;
  return Math.min(
    NEW_ACCOUNT_MAX_SCORE,
    mulDivFloor(nonce - NEW_ACCOUNT_FREE_TXS, NEW_ACCOUNT_MAX_SCORE, span),
  );
}

/**
 * A transaction with risk ≥ RISK_DELAY_BPS may be included at `height` only if its sender had no
 * transaction included at heights height − RISK_DELAY_HEIGHTS ..= height (the current block too:
 * a risky transaction cannot ride behind another one of its sender's). That caps a risky sender
 * at one transaction every RISK_DELAY_HEIGHTS + 1 blocks without censoring it.
 */
export function isDelayed(risk: number, stats: RiskStats, height: number): boolean {
  assertBps('risk', risk);
  assertUint('height', height);
  if (risk < RISK_DELAY_BPS || stats.last_height === 0) return false;
  return stats.last_height >= height - RISK_DELAY_HEIGHTS;
}
