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

  /** Gives back a token taken for a request that another bucket then refused. */
  refund(key: string, cls: RateClass): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.classes[cls].burst, bucket.tokens + 1);
  }
}

/** Which bucket a refusal (`details.limit_scope`) or the X-RateLimit-* headers speak of. */
export type LimitScope = 'app' | 'person' | 'ip';

export interface RateVerdict {
  allowed: boolean;
  scope: LimitScope;
  /** The bucket's size (X-RateLimit-Limit). */
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full (X-RateLimit-Reset), or, refused, until the next request may pass. */
  resetSeconds: number;
}

/** The X-RateLimit-* headers (and Retry-After when refused) of a verdict, as @fastify/rate-limit names them. */
export function rateHeaders(v: RateVerdict): Record<string, string> {
  return {
    'x-ratelimit-limit': String(v.limit),
    'x-ratelimit-remaining': String(v.remaining),
    'x-ratelimit-reset': String(v.resetSeconds),
    ...(v.allowed ? {} : { 'retry-after': String(v.resetSeconds) }),
  };
}

/**
 * Rate limits of app requests (docs/cloud-api.md, "Rate limits"). An app request takes a token from
 * two buckets: the app's (`app:<client_id>` in the app's class) and the person's own, the same
 * bucket their own requests use, so an app cannot spend more of a person's allowance than the
 * person has. The headers describe the tighter of the two. A request whose token fails is counted
 * against its IP address instead, like any anonymous request.
 */
export class AppRateLimits {
  constructor(
    private readonly buckets: TokenBuckets,
    private readonly exempt: (ip: string) => boolean,
  ) {}

  take(
    ip: string,
    app: { appId: string; rateClass: RateClass },
    person: { did: string; rateClass: RateClass },
  ): RateVerdict | null {
    if (this.exempt(ip)) return null;
    const appKey = rateKey(app.rateClass, `app:${app.appId}`);
    const a = this.buckets.take(appKey, app.rateClass);
    if (!a.allowed) return this.verdict('app', app.rateClass, a);
    const p = this.buckets.take(rateKey(person.rateClass, person.did), person.rateClass);
    if (!p.allowed) {
      this.buckets.refund(appKey, app.rateClass);
      return this.verdict('person', person.rateClass, p);
    }
    return p.remaining < a.remaining
      ? this.verdict('person', person.rateClass, p)
      : this.verdict('app', app.rateClass, a);
  }

  /** A request with an access token that failed: one token from its IP address's bucket. */
  takeIp(ip: string): RateVerdict | null {
    if (this.exempt(ip)) return null;
    return this.verdict('ip', 'anonymous', this.buckets.take(rateKey('anonymous', ip), 'anonymous'));
  }

  private verdict(scope: LimitScope, cls: RateClass, t: Take): RateVerdict {
    return {
      allowed: t.allowed,
      scope,
      limit: this.buckets.classes[cls].burst,
      remaining: t.remaining,
      resetSeconds: Math.ceil(t.waitMs / 1000),
    };
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
