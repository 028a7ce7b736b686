/**
 * What the storage conformance cases share: engines opened on a target's store through
 * createMetricsSystem (with the settle policy shrunk where a case needs background work),
 * acknowledged writes mirrored into the independent model, and whole-answer checks against it.
 */
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem, MetricsSystemOptions, StorageMaintenance } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { mulberry32 } from '../../bench/data_shapes.js';
import type { ConformanceStore } from './storage_conformance.case.js';
import { assertSeriesEqual, type ExpectedPoints } from './storage_conformance_model.js';

export const T0 = Date.UTC(2026, 4, 1);
export const FAR = Date.UTC(2100, 0, 1);
export const DAY = 86_400_000;

/**
 * Settling shrunk so that the engine cuts idle heads and compacts in the background right
 * away (the EMMS_SETTLE_* variables of src/storage/settle_policy.ts, read when the store opens):
 * 'always' counts every moment as quiet, so compaction runs between and during writes;
 * 'afterWrites' waits for half a second without writes.
 */
export const SETTLE_ENV = {
  always: { EMMS_SETTLE_QUIET_MAX_POINTS_PER_SECOND: '1000000000', EMMS_SETTLE_QUIET_WINDOW_MS: '100', EMMS_SETTLE_SERIES_IDLE_MS: '1', EMMS_SETTLE_MIN_CUT_POINTS: '1', EMMS_SETTLE_CHECK_INTERVAL_MS: '5' },
  afterWrites: { EMMS_SETTLE_QUIET_MAX_POINTS_PER_SECOND: '2000', EMMS_SETTLE_QUIET_WINDOW_MS: '500', EMMS_SETTLE_SERIES_IDLE_MS: '1', EMMS_SETTLE_MIN_CUT_POINTS: '1', EMMS_SETTLE_CHECK_INTERVAL_MS: '10' },
} as const;

/** A started engine on the store; `env` is set only while it opens (the settle policy reads it then). */
export async function openEngine(store: ConformanceStore, extra: Partial<MetricsSystemOptions> = {}, env: Record<string, string> = {}): Promise<MetricsSystem> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const ms = createMetricsSystem({ queryWorkers: 0, ...store.options, ...extra });
    await ms.start();
    return ms;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export async function restart(ms: MetricsSystem): Promise<void> {
  await ms.stop();
  await ms.start();
}

/** The engine's background work, when it reports any. */
export function maintenanceOf(ms: MetricsSystem): StorageMaintenance | undefined {
  return ms.stats().maintenance;
}

/** Writes and records in the model only once acknowledged (what a client may count on). */
export async function write(ms: MetricsSystem, model: ExpectedPoints, points: MetricDataPoint[]): Promise<void> {
  await ms.collectMetrics(points);
  model.write(points);
}

/** Raw answer of every series of `metricPattern` (a literal prefix + `*`) against the model. */
export async function checkRaw(label: string, ms: MetricsSystem, model: ExpectedPoints, prefix: string, startMs = 0, endMs = FAR): Promise<void> {
  const answer = await ms.queryMetrics({ metricPattern: `${prefix}*`, startTime: startMs, endTime: endMs });
  assertSeriesEqual(label, answer, model.raw((m) => m.startsWith(prefix), startMs, endMs));
}

/** Integer values (sums stay exact in float64) from a seeded PRNG. */
export function valuesFrom(seed: number): () => number {
  const rnd = mulberry32(seed);
  return () => Math.round((rnd() - 0.5) * 2_000_000);
}
