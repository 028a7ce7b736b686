/**
 * The `ingest_points_per_second` quota: a token bucket per tenant holding at most one second of
 * its rate, refilled continuously. A payload takes all its points at once or none: past the
 * budget it is refused whole (429 / a nack naming the quota) and nothing of it is stored, so a
 * client that keeps sending is throttled to its rate and a payload larger than one second's
 * budget is never accepted.
 *
 * Cost on the ingest path: one Map lookup and a few float operations per payload, not per point.
 */
import { QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';

interface Bucket {
  tokens: number;
  /** performance.now() of the last refill. */
  at: number;
}

/** Past this many tenants with a bucket, full buckets (idle for a second or more) are dropped. */
const SWEEP_AT_BUCKETS = 10_000;

export class IngestRateLimiter {
  readonly #quotas: QuotaLookup;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(quotas: QuotaLookup, now: () => number = () => performance.now()) {
    this.#quotas = quotas;
    this.#now = now;
  }

  /** Takes `points` from the tenant's budget, or throws QuotaExceededError taking nothing. */
  take(tenant: string, points: number): void {
    const rate = this.#quotas(tenant).ingestPointsPerSecond;
    const now = this.#now();
    let bucket = this.#buckets.get(tenant);
    if (bucket === undefined) {
      if (this.#buckets.size >= SWEEP_AT_BUCKETS) this.#sweep(now);
      bucket = { tokens: rate, at: now };
      this.#buckets.set(tenant, bucket);
    } else {
      bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
      bucket.at = now;
    }
    if (points > bucket.tokens) {
      const detail = points > rate
        ? `a batch of ${points} points is more than one second's budget`
        : `a batch of ${points} points with ${Math.floor(bucket.tokens)} left this second; slow down or retry`;
      throw new QuotaExceededError(tenant, 'ingestPointsPerSecond', rate, detail);
    }
    bucket.tokens -= points;
  }

  #sweep(now: number): void {
    for (const [tenant, b] of this.#buckets) if (now - b.at >= 1000) this.#buckets.delete(tenant);
  }
}
