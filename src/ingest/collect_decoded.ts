/**
 * The step every ingest payload takes after decoding, on both transports (HTTP bodies in
 * http_ingest.ts, stream frames in src/server/ws_stream.ts): refusals become a status and a
 * message, the tenant's ingest rate is charged, and the columns go to the tenant's series
 * table, which resolves when they are durable. Nothing of a refused payload is stored.
 */
import { MetricValidationError } from '../model/metric.js';
import { QUOTA_CONFIG_KEYS, QuotaExceededError } from '../tenancy/quota.js';
import type { DecodeOutcome } from './decode_pool.js';
import type { RefusalReason } from './frame_decoder.js';
import type { IngestRateLimiter } from './ingest_rate.js';
import { MetricTypeConflictError } from './series_resolver.js';
import { notePreparedColumns } from '../storage/wal_prepared_columns.js';

/** Why a decoded payload was not stored, as counted on /metrics (emms_nacks_total). */
export type IngestRefusalReason = RefusalReason | 'quota';

export type CollectResult =
  | { ok: true; accepted: number }
  | {
      ok: false;
      /** 409: a metric type contradicting the stored series' type (counted as `validation`). */
      status: 400 | 409 | 413 | 429;
      reason: IngestRefusalReason;
      error: string;
      /** Point or series index and wire field, when the refusal is about one. */
      index: number;
      field: string;
      /** The quota's main.json name when `reason` is `quota`. */
      quota?: string;
    };

/**
 * Stores a decoded point payload (`series` outcome) or reports why not. Refusals resolve;
 * anything else the engine throws (storage failures) rejects, for the caller to log.
 */
export async function collectDecoded(
  outcome: Exclude<DecodeOutcome, { kind: 'custom' }>,
  tenant: string,
  rate: IngestRateLimiter,
): Promise<CollectResult> {
  if (outcome.kind === 'refused') {
    return { ok: false, status: outcome.reason === 'too_large' ? 413 : 400, reason: outcome.reason, error: outcome.error, index: outcome.index, field: outcome.field };
  }
  try {
    rate.take(tenant, outcome.points);
    if (outcome.walColumns !== undefined) notePreparedColumns(outcome.timestamps, outcome.walColumns);
    return await outcome.table.collect(outcome.seriesOf, outcome.timestamps, outcome.values).then(({ accepted }) => ({ ok: true as const, accepted }));
  } catch (err) {
    if (err instanceof QuotaExceededError) {
      return { ok: false, status: 429, reason: 'quota', error: err.message, index: -1, field: '', quota: QUOTA_CONFIG_KEYS[err.quota] };
    }
    if (err instanceof MetricTypeConflictError) {
      return { ok: false, status: 409, reason: 'validation', error: err.message, index: err.index, field: err.field };
    }
    if (err instanceof MetricValidationError) {
      return { ok: false, status: 400, reason: 'validation', error: err.message, index: err.index, field: err.field };
    }
    throw err;
  }
}
