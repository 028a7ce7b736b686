/**
 * Coalescing of "points written" notices between flushes: per tenant, the newest point of each
 * series written since the last flush, then cut into notices of at most MAX_NOTICE_BYTES.
 * The publisher flushes every 100 ms, so a node publishes at most ten rounds a second however
 * fast it ingests, and each round is bounded in bytes (MAX_BYTES_PER_FLUSH).
 *
 * Memory is bounded too, with a fallback at each bound that keeps subscribers correct rather
 * than precise: past MAX_PENDING_SERIES a tenant's further new series are not listed but the
 * tenant's notice says `truncated` (re-read it whole); past MAX_PENDING_TENANTS one notice for
 * every tenant replaces the lot. Pure: no timers, no I/O, so the bounds are unit-tested.
 *
 * `note()` is on the ingest path (once per stored point, after acknowledgement): a map lookup
 * by the engine's series id, no string building, no allocation for a series already pending.
 */
import type { Tags } from '../model/metric.js';
import type { SeriesUpdate } from './live_notice_codec.js';
import { NoticeWriter } from './live_notice_writer.js';

/** Series listed per flush, all tenants together; past it tenants are marked truncated. */
export const MAX_PENDING_SERIES = 10_000;
/** Tenants per flush; past it one notice covers every tenant. */
export const MAX_PENDING_TENANTS = 1_000;
/** Encoded entries per flush: 512 KiB every 100 ms is at most ~5 MB/s of notices per node. */
export const MAX_BYTES_PER_FLUSH = 512 * 1024;

interface TenantPending {
  readonly series: Map<number | string, SeriesUpdate>;
  /** Series were left out (a bound was reached): subscribers re-read the tenant whole. */
  truncated: boolean;
}

export interface CoalescerCounters {
  /** Points noted. */
  noted: number;
  /** Series left out of notices because a bound was reached. */
  seriesLeftOut: number;
  /** Flushes that fell back to one notice for every tenant. */
  everyTenantFlushes: number;
}

export class NoticeCoalescer {
  readonly #nodeId: string;
  #tenants = new Map<string, TenantPending>();
  #pendingSeries = 0;
  #everyTenant = false;
  readonly #writer = new NoticeWriter();
  readonly counters: CoalescerCounters = { noted: 0, seriesLeftOut: 0, everyTenantFlushes: 0 };

  constructor(nodeId: string) {
    this.#nodeId = nodeId;
  }

  /** Nothing to flush. */
  get empty(): boolean {
    return this.#tenants.size === 0 && !this.#everyTenant;
  }

  /**
   * A point stored for `tenant` in the series the engine knows as `seriesKey`. Only the newest
   * timestamp per series is kept (a later call with an older point changes nothing).
   */
  note(tenant: string, seriesKey: number | string, metricId: string, tags: Tags, timestamp: number, value: number): void {
    this.counters.noted++;
    if (this.#everyTenant) return;
    let pending = this.#tenants.get(tenant);
    if (pending === undefined) {
      if (this.#tenants.size >= MAX_PENDING_TENANTS) {
        this.#everyTenant = true;
        return;
      }
      pending = { series: new Map(), truncated: false };
      this.#tenants.set(tenant, pending);
    }
    const known = pending.series.get(seriesKey);
    if (known !== undefined) {
      if (timestamp >= known.timestamp) {
        known.timestamp = timestamp;
        known.value = value;
      }
      return;
    }
    if (this.#pendingSeries >= MAX_PENDING_SERIES) {
      pending.truncated = true;
      this.counters.seriesLeftOut++;
      return;
    }
    pending.series.set(seriesKey, { metricId, tags, timestamp, value });
    this.#pendingSeries++;
  }

  /** The notices for everything noted since the last drain, in publishing order; clears the state. */
  drain(): Uint8Array[] {
    const tenants = this.#tenants;
    const everyTenant = this.#everyTenant;
    this.#tenants = new Map();
    this.#pendingSeries = 0;
    this.#everyTenant = false;
    const w = this.#writer;
    if (everyTenant) {
      this.counters.everyTenantFlushes++;
      w.begin(this.#nodeId, null);
      return [w.finish(true)];
    }
    const out: Uint8Array[] = [];
    let budget = MAX_BYTES_PER_FLUSH;
    for (const [tenant, pending] of tenants) {
      let truncated = pending.truncated;
      w.begin(this.#nodeId, tenant);
      for (const update of pending.series.values()) {
        if (budget <= 0) {
          truncated = true;
          this.counters.seriesLeftOut++;
          continue;
        }
        let outcome = w.add(update);
        if (outcome === 'full') {
          out.push(w.finish(false));
          w.begin(this.#nodeId, tenant);
          outcome = w.add(update);
        }
        if (outcome !== 'added') {
          // One series whose tags alone fill a notice: named by the tenant-wide re-read instead.
          truncated = true;
          this.counters.seriesLeftOut++;
          continue;
        }
        budget -= w.lastEntryBytes;
      }
      out.push(w.finish(truncated));
    }
    return out;
  }
}
