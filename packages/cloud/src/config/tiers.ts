import { TIERS, TIER_QUOTA_BYTES, type Tier } from '@self/instance';

export { TIERS, type Tier };

/**
 * Rate classes (design §7, the reference gateway's defaults): a token bucket per caller that holds
 * `burst` requests and refills at `perMinute`. Anonymous callers are counted per IP address,
 * signed-in people per DID.
 */
export type RateClass = 'anonymous' | 'authenticated' | 'partner';
export const RATE_CLASSES_LIST: readonly RateClass[] = ['anonymous', 'authenticated', 'partner'];

export interface RateClassLimits {
  perMinute: number;
  burst: number;
}

export const DEFAULT_RATE_CLASSES: Readonly<Record<RateClass, RateClassLimits>> = {
  anonymous: { perMinute: 100, burst: 200 },
  authenticated: { perMinute: 500, burst: 1_000 },
  partner: { perMinute: 2_000, burst: 4_000 },
};

export interface TierConfig {
  tier: Tier;
  /** Storage quota in bytes; enterprise quotas are set per account (this is the default). */
  quotaBytes: number;
  /**
   * Largest value (request body) the gateway forwards to the instance. At most the instance's
   * own limit (DEFAULT_MAX_VALUE_BYTES, 32 MiB), which answers anything larger with 413 anyway.
   */
  maxValueBytes: number;
  rateClass: RateClass;
  /**
   * The private AI's monthly budget: prompt plus completion tokens per UTC month, metered by the
   * instance. Null: unlimited (enterprise, where the operator bills usage instead).
   */
  aiMonthlyTokens: number | null;
}

const MiB = 1024 * 1024;
/** Enterprise quota when the sign-up names none: 1 TB (decimal, like the fixed tiers). */
export const ENTERPRISE_DEFAULT_QUOTA_BYTES = 1_000_000_000_000;
/** Bounds of a custom enterprise quota: 1 GB to 1 PB. */
export const MIN_CUSTOM_QUOTA_BYTES = 1_000_000_000;
export const MAX_CUSTOM_QUOTA_BYTES = 1_000_000_000_000_000;

export const TIER_CONFIG: Readonly<Record<Tier, TierConfig>> = {
  free: {
    tier: 'free',
    quotaBytes: TIER_QUOTA_BYTES.free,
    maxValueBytes: 8 * MiB,
    rateClass: 'authenticated',
    aiMonthlyTokens: 500_000,
  },
  growth: {
    tier: 'growth',
    quotaBytes: TIER_QUOTA_BYTES.growth,
    maxValueBytes: 16 * MiB,
    rateClass: 'authenticated',
    aiMonthlyTokens: 5_000_000,
  },
  pro: {
    tier: 'pro',
    quotaBytes: TIER_QUOTA_BYTES.pro,
    maxValueBytes: 32 * MiB,
    rateClass: 'partner',
    aiMonthlyTokens: 25_000_000,
  },
  enterprise: {
    tier: 'enterprise',
    quotaBytes: ENTERPRISE_DEFAULT_QUOTA_BYTES,
    maxValueBytes: 32 * MiB,
    rateClass: 'partner',
    aiMonthlyTokens: null,
  },
};

/** The largest body any tier may forward: the raw-body parser's hard limit. */
export const MAX_VALUE_BYTES_ANY_TIER = Math.max(...TIERS.map((t) => TIER_CONFIG[t].maxValueBytes));

export function isTier(value: unknown): value is Tier {
  return typeof value === 'string' && (TIERS as readonly string[]).includes(value);
}
