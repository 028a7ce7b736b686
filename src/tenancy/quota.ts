/**
 * Per-tenant quotas: what one tenant may hold or use, so that one tenant (or one hostile client
 * with a tenant's key) cannot exhaust what the server has for all of them. Defaults come from
 * `security.quotas` in main.json; an operator may override them per tenant
 * (`PUT /api/v1/tenants/:tenant`). Past a quota the request is refused whole with 429 (or a
 * nack naming the quota) and nothing of it is stored.
 */

export interface TenantQuotas {
  /** Distinct series (metric id + tags) the tenant may have. */
  activeSeries: number;
  /** Points per second the tenant may ingest, averaged over a one-second token bucket. */
  ingestPointsPerSecond: number;
  /** Queries of the tenant running at once; more wait for none: they get 429. */
  queryConcurrency: number;
  rules: number;
  targets: number;
  channels: number;
  silences: number;
  /** Keys in the tenant's key inventory. */
  keys: number;
  /** API keys of the tenant. */
  apiKeys: number;
  /**
   * Days the tenant's points are kept (chunks whose newest point is older are dropped);
   * 0 = the server's `storage.retention_days`. Not a count like the others, but a bound on what
   * the tenant holds, set by the operator the same way.
   */
  retentionDays: number;
}

export const QUOTA_NAMES: ReadonlyArray<keyof TenantQuotas> = [
  'activeSeries', 'ingestPointsPerSecond', 'queryConcurrency', 'rules', 'targets', 'channels', 'silences', 'keys', 'apiKeys', 'retentionDays',
];

/** main.json spelling of each quota (`security.quotas.active_series` …). */
export const QUOTA_CONFIG_KEYS: Readonly<Record<keyof TenantQuotas, string>> = {
  activeSeries: 'active_series',
  ingestPointsPerSecond: 'ingest_points_per_second',
  queryConcurrency: 'query_concurrency',
  rules: 'rules',
  targets: 'targets',
  channels: 'channels',
  silences: 'silences',
  keys: 'keys',
  apiKeys: 'api_keys',
  retentionDays: 'retention_days',
};

/**
 * Defaults sized for one 2-core server shared by 100+ tenants: each tenant may use the server's
 * whole measured ingest rate (~2 M points/s) alone, but not hold more than 100k series.
 */
export const DEFAULT_QUOTAS: Readonly<TenantQuotas> = Object.freeze({
  activeSeries: 100_000,
  ingestPointsPerSecond: 5_000_000,
  queryConcurrency: 8,
  rules: 10_000,
  targets: 200,
  channels: 50,
  silences: 1_000,
  keys: 100_000,
  apiKeys: 100,
  retentionDays: 0,
});

/** The quotas in force for a tenant; supplied to every service that enforces one. */
export type QuotaLookup = (tenant: string) => Readonly<TenantQuotas>;

/** A fixed lookup (embedding, tests): every tenant gets `quotas`. */
export function fixedQuotas(quotas: Readonly<TenantQuotas> = DEFAULT_QUOTAS): QuotaLookup {
  return () => quotas;
}

/** Thrown when a request would take a tenant past a quota; the server answers 429. */
export class QuotaExceededError extends Error {
  constructor(
    readonly tenant: string,
    readonly quota: keyof TenantQuotas,
    readonly limit: number,
    detail: string,
  ) {
    super(`tenant ${tenant}: quota ${QUOTA_CONFIG_KEYS[quota]}=${limit} reached: ${detail}`);
    this.name = 'QuotaExceededError';
  }
}
