import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { RATE_CLASSES_LIST, type RateClass, type RateClassLimits } from '../config/tiers.js';

interface Bucket {
  tokens: number;
  at: number;
}

export interface Take {
  allowed: boolean;
  /** Whole requests left in the bucket. */
  remaining: number;
  /** Allowed: until the bucket is full again. Refused: until the next request may pass. */
  waitMs: number;
}

/**
 * Token buckets, one per caller key: a bucket holds up to `burst` requests and refills at
 * `perMinute`, so a caller may spend a burst at once and then keeps the steady rate. Buckets live
 * in memory (oldest dropped past `limit` keys; a dropped caller starts again with a full bucket).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly classes: Readonly<Record<RateClass, RateClassLimits>>,
    private readonly limit = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, cls: RateClass): Take {
    const { perMinute, burst } = this.classes[cls];
    const perMs = perMinute / 60_000;
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs);
      bucket.at = now;
    } else {
      if (this.buckets.size >= this.limit) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      bucket = { tokens: burst, at: now };
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return {
        allowed: true,
        remaining: Math.floor(bucket.tokens),
        waitMs: Math.ceil((burst - bucket.tokens) / perMs),
      };
    }
    return { allowed: false, remaining: 0, waitMs: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs)) };
  }
}

/** Rate-limit keys are `<class>|<caller>`: the class picks the bucket's size and refill rate. */
export function rateKey(cls: RateClass, caller: string): string {
  return `${cls}|${caller}`;
}

export function classOfKey(key: string): RateClass {
  const cls = key.slice(0, key.indexOf('|'));
  return (RATE_CLASSES_LIST as readonly string[]).includes(cls) ? (cls as RateClass) : 'anonymous';
}

/**
 * A @fastify/rate-limit store over TokenBuckets. The plugin counts "requests in the window" and
 * refuses when the count passes `max`; with `max` = the class's burst this store reports
 * `burst − tokens left`, so the plugin's remaining-requests header is the bucket's content, and a
 * refusal's TTL (Retry-After) is the time until the next token.
 */
export function tokenBucketStore(buckets: TokenBuckets): FastifyRateLimitStoreCtor {
  class TokenBucketStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      _timeWindow: number,
      max: number,
    ): void {
      const taken = buckets.take(key, classOfKey(key));
      callback(
        null,
        taken.allowed
          ? { current: max - taken.remaining, ttl: taken.waitMs }
          : { current: max + 1, ttl: taken.waitMs },
      );
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  }
  return TokenBucketStore;
}
