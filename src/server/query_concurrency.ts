/**
 * The `query_concurrency` quota: queries (and /federate scrapes) of one tenant running at once.
 * One past the quota is refused at once with QuotaExceededError (429, Retry-After 1) rather
 * than queued, so a tenant's burst cannot hold the query workers or the main thread from the
 * others.
 */
import { QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';

export class QueryConcurrency {
  readonly #quotas: QuotaLookup;
  readonly #running = new Map<string, number>();

  constructor(quotas: QuotaLookup) {
    this.#quotas = quotas;
  }

  /** Runs `query` as one of the tenant's concurrent queries, or throws QuotaExceededError. */
  async run<T>(tenant: string, query: () => Promise<T>): Promise<T> {
    const limit = this.#quotas(tenant).queryConcurrency;
    const running = this.#running.get(tenant) ?? 0;
    if (running >= limit) throw new QuotaExceededError(tenant, 'queryConcurrency', limit, `${running} queries of this tenant are running; retry when one finishes`);
    this.#running.set(tenant, running + 1);
    try {
      return await query();
    } finally {
      const left = this.#running.get(tenant)! - 1;
      if (left === 0) this.#running.delete(tenant);
      else this.#running.set(tenant, left);
    }
  }

  /** Queries running now, over every tenant (for tests). */
  get running(): number {
    let n = 0;
    for (const v of this.#running.values()) n += v;
    return n;
  }
}
