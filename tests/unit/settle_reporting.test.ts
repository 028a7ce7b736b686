/**
 * How settling shows (issue 16): GET /health's storage component carries the settle figures
 * and matches its OpenAPI schema, and /metrics renders them as Prometheus text that the real
 * promtool accepts. In process, on a real store that has settled.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { builtinRoutes } from '../../src/server/builtin_routes.js';
import { HEALTH_SCHEMA } from '../../src/server/builtin_schemas.js';
import { SelfMetrics } from '../../src/server/self_metrics.js';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { openSqliteStore } from './sqlite_store_kit.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { callRoute, principal } from './route_test_kit.js';

const T0 = Date.UTC(2026, 0, 1);
const dir = mkdtempSync(join(tmpdir(), 'emms-settle-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A store that took a burst and settled on its fake clock. */
async function settledStore(): Promise<StorageEngine> {
  const clock = { now: T0 };
  const store = await openSqliteStore({ path: join(dir, 'r.db'), chunkEncoding: 'inline', clock: () => clock.now, settle: { seriesIdleMs: 1000, quietWindowMs: 1000, quietMaxPointsPerSecond: 10 } });
  const tenant = store.catalog.tenant('default');
  const ids = [0, 1, 2].map((s) => tenant.create(`report.s${s}`, 'gauge', {}, '').id);
  const n = 3 * 300;
  const batch = { seriesIds: new Uint32Array(n), timestamps: new Float64Array(n), values: new Float64Array(n), length: n };
  for (let i = 0; i < n; i++) {
    batch.seriesIds[i] = ids[Math.floor(i / 300)]!;
    batch.timestamps[i] = T0 + (i % 300) * 1000;
    batch.values[i] = i;
  }
  await store.commit([batch]);
  return Object.assign(store, {
    async settleNow(): Promise<void> {
      clock.now += 1500;
      expect(store.settleIfQuiet()).toBe('checkpoint');
      await store.settle();
    },
  });
}

function routesFor(store: StorageEngine) {
  const engine = { running: true, stats: () => store.stats(), checkWritable: () => store.checkWritable() } as unknown as MetricsSystem;
  return builtinRoutes({
    engine, limits: { maxSeries: 10, maxPoints: 10 }, metrics: new SelfMetrics(), metricsAccess: 'open',
    queries: undefined as never, status: () => ({ shuttingDown: false, wsConnections: 0, decodeThreads: 1 }),
  });
}

describe('settling on /health and /metrics', () => {
  it('shows unsettled work, then settled, in the schema of GET /health and as valid Prometheus text', async () => {
    const store = await settledStore() as StorageEngine & { settleNow(): Promise<void> };
    try {
      const routes = routesFor(store);
      const ajv = new Ajv2020({ strict: false });
      addFormats.default(ajv);
      const validate = ajv.compile(HEALTH_SCHEMA.responses[200]!.schema as object);

      const before = await callRoute(routes, principal('reader', 'default'), 'GET', '/health');
      expect(before.body.components.storage).toMatchObject({ settled: false, head_points: 900, heads_to_settle: 3, last_settled_at: null, compaction_backlog: 0 });
      expect(before.body.components.storage.head_bytes).toBeGreaterThanOrEqual(900 * 16);
      expect(before.body.components.storage.recent_points_per_second).toBe(900);
      expect(validate(before.body), JSON.stringify(validate.errors)).toBe(true);

      await store.settleNow();
      const after = await callRoute(routes, principal('reader', 'default'), 'GET', '/health');
      expect(after.body.components.storage).toMatchObject({ settled: true, head_points: 0, wal_bytes: 0, wal_oldest_age_ms: 0, heads_to_settle: 0, head_bytes: 0, chunks: 3 });
      expect(Date.parse(after.body.components.storage.last_settled_at)).toBe(T0 + 1500);
      expect(validate(after.body), JSON.stringify(validate.errors)).toBe(true);

      const text = (await callRoute(routes, principal('reader', 'default'), 'GET', '/metrics')).body as string;
      expect(text).toMatch(/^emms_storage_settled 1$/m);
      expect(text).toMatch(/^emms_storage_last_settled_timestamp_seconds 1767225601.5$/m);
      expect(text).toMatch(/^emms_head_bytes 0$/m);
      expect(text).toMatch(/^emms_wal_oldest_record_age_seconds 0$/m);
      expect(text).toMatch(/^emms_storage_compaction_backlog_series 0$/m);
      // promtool's lint exits non-zero on invalid exposition text.
      execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] });
    } finally {
      await store.close();
    }
  });
});
