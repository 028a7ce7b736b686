/** The collector set writing into the real engine: system metrics and API statistics are queryable series. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { parseCollectorSettings } from '../../src/collectors/collector_config.js';
import { CollectorSet } from '../../src/collectors/collector_set.js';

let dir: string;
let system: MetricsSystem;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-coll-int-'));
  system = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
  await system.start();
});
afterEach(async () => {
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('collects system and API metrics into the engine, and enhance() raises the sampling rate', async () => {
  const settings = parseCollectorSettings({ system_interval: 60, api_stats_interval: 60, enhanced_interval: 0.05, adaptive_sampling: { min_interval: 0.05, max_interval: 120 } });
  const set = await CollectorSet.create(system, settings);
  // The alert remediation hook finds the collector by the series' metric id.
  expect(set.enhanceMonitoring({ metricId: 'crypto.key.access_count' }, Date.now() + 1000)).toEqual([]);
  // Enhanced for a minute, so a busy machine cannot see it lapse before the collections waited for.
  expect(set.enhanceMonitoring({ metricId: 'system.memory.usage_percent', tags: {} }, Date.now() + 60_000)).toEqual(['system']);
  expect(set.runner('system')!.intervalMs).toBe(50);
  expect(set.runner('api')!.intervalMs).toBe(60_000);
  set.apiStats.record('/api/v1/query', 200, 4);
  set.apiStats.record('/api/v1/query', 503, 8);
  set.start();
  expect(set.enhance(60_000)).toEqual(['system', 'api']);
  await vi.waitFor(() => {
    expect(set.runner('system')!.collections).toBeGreaterThanOrEqual(2);
    expect(set.runner('api')!.collections).toBeGreaterThanOrEqual(1);
  }, { timeout: 20_000, interval: 20 });
  await set.stop();

  const one = async (metric: string, tags?: Record<string, string>) => (await system.latest(metric, tags)).map((p) => p.value);
  const mem = await one('system.memory.usage_percent');
  expect(mem).toHaveLength(1);
  expect(mem[0]!).toBeGreaterThan(0);
  expect(mem[0]!).toBeLessThan(100);
  expect((await one('system.cpu.usage_total'))).toHaveLength(1);
  expect((await system.latest('system.network.bytes_recv')).map((p) => p.tags.interface)).toContain('lo');
  expect((await one('system.disk.usage_percent', { mount: '/' }))).toHaveLength(1);
  const rt = await system.queryMetrics({ metricPattern: 'application.api.response_time', tags: { route: '/api/v1/query' } });
  expect(rt[0]!.values[0]).toBe(6);
  const er = await system.queryMetrics({ metricPattern: 'application.api.error_rate', tags: { route: '/api/v1/query' } });
  expect(er[0]!.values[0]).toBe(0.5);
  const intervals = await system.queryMetrics({ metricPattern: 'collector.interval_ms', tags: { collector: 'system' } });
  expect(Math.min(...intervals[0]!.values)).toBe(50);
});
