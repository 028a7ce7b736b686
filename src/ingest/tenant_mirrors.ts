/**
 * The main thread's side of tenant_decoders.ts: for one decode worker, the engine SeriesTable
 * of each tenant that mirrors the numbering of that tenant's decoder in the worker.
 *
 * Bounded: a worker holds at most `maxTenants` tenants, and a tenant idle for `idleMs` is
 * dropped (checked as payloads arrive, one entry per call, so the cost stays O(1)). Dropping a
 * mirror tells the worker to drop the decoder too (`onEvict`); since the worker handles
 * messages in order, payloads sent after that start a fresh numbering on both sides, and
 * replies to payloads sent before it still land in the table they were sent with (the caller
 * keeps it with the pending request).
 */
import type { SeriesTable } from '../model/api.js';

export interface TenantMirrorOptions {
  /** A fresh, empty table bound to the tenant (`engine.forTenant(t).createSeriesTable()`). */
  createSeriesTable: (tenant: string) => SeriesTable;
  maxTenants: number;
  idleMs: number;
  /** The mirror of `tenant` was dropped: the decoder's state must go too. */
  onEvict: (tenant: string) => void;
  now?: () => number;
}

interface Mirror {
  table: SeriesTable;
  lastUsed: number;
}

export class TenantMirrors {
  readonly #options: TenantMirrorOptions;
  /** In least-recently-used-first order: a tenant is moved to the end on each use. */
  readonly #mirrors = new Map<string, Mirror>();
  readonly #now: () => number;

  constructor(options: TenantMirrorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The table mirroring `tenant`'s decoder, created when the tenant is new (or was evicted). */
  tableFor(tenant: string): SeriesTable {
    const now = this.#now();
    let mirror = this.#mirrors.get(tenant);
    if (mirror !== undefined) {
      this.#mirrors.delete(tenant);
    } else {
      mirror = { table: this.#options.createSeriesTable(tenant), lastUsed: now };
      while (this.#mirrors.size >= this.#options.maxTenants) this.#evictOldest();
    }
    mirror.lastUsed = now;
    this.#mirrors.set(tenant, mirror);
    const oldest = this.#mirrors.entries().next().value;
    if (oldest !== undefined && oldest[0] !== tenant && now - oldest[1].lastUsed > this.#options.idleMs) this.#evictOldest();
    return mirror.table;
  }

  /** Tenants mirrored now. */
  get size(): number {
    return this.#mirrors.size;
  }

  #evictOldest(): void {
    const oldest = this.#mirrors.keys().next().value;
    if (oldest === undefined) return;
    this.#mirrors.delete(oldest);
    this.#options.onEvict(oldest);
  }
}
