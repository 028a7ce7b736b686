/**
 * One engine, many tenants: views from forTenant() share the writer and the file, and each
 * sees only its own series, in ingest, queries, latest() and listSeries(), across a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import { QuotaExceededError } from '../../src/tenancy/quota.js';

const T0 = Date.UTC(2026, 10, 1);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-tenants-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('engine tenants', () => {
  it('keeps 200 tenants apart on one engine, through a restart', async () => {
    const path = join(dir, 'm.db');
    const engine = createMetricsSystem({ path, queryWorkers: 0 });
    await engine.start();
    const tenants = Array.from({ length: 200 }, (_, i) => `t${i}`);
    // Every tenant writes the same metric id and tags, with its own values.
    await Promise.all(tenants.map((t, i) => engine.forTenant(t).collectMetrics([
      { metricId: 'crypto.key.access_count', value: i, tags: { key: 'k1' }, timestamp: T0 },
      { metricId: 'crypto.key.access_count', value: i + 0.5, tags: { key: 'k1' }, timestamp: T0 + 1000 },
      { metricId: `only.${t}`, value: 1, timestamp: T0 },
    ])));
    expect(engine.stats().series).toBe(400);
    expect(await engine.listSeries('*')).toEqual([]);
    await engine.stop();
    await engine.start();
    for (const i of [0, 7, 99, 150, 199]) {
      const view = engine.forTenant(`t${i}`);
      expect(view.tenant).toBe(`t${i}`);
      const [series, ...rest] = await view.queryMetrics({ metricPattern: 'crypto.key.*', startTime: 0 });
      expect(rest).toEqual([]);
      expect([...series!.values]).toEqual([i, i + 0.5]);
      expect((await view.listSeries('only.*')).map((s) => s.metricId)).toEqual([`only.t${i}`]);
      const latest = await view.latest('*');
      expect(latest.map((p) => [p.metricId, p.value]).sort()).toEqual([['crypto.key.access_count', i + 0.5], [`only.t${i}`, 1]]);
    }
    await engine.stop();
  });

  it('returns one view per tenant and refuses bad tenant names naming the value', () => {
    const engine = createMetricsSystem({ path: join(dir, 'v.db'), queryWorkers: 0 });
    expect(engine.forTenant('a')).toBe(engine.forTenant('a'));
    expect(engine.forTenant('default')).toBe(engine);
    expect(() => engine.forTenant('a b')).toThrow(/options\.tenant="a b"/);
    expect(() => engine.forTenant('x'.repeat(129))).toThrow(/options\.tenant=/);
  });

  it('refuses a whole batch past the active-series quota, storing nothing', async () => {
    const engine = createMetricsSystem({ path: join(dir, 'q.db'), queryWorkers: 0, seriesLimit: (t) => (t === 'small' ? 3 : Infinity) });
    await engine.start();
    const small = engine.forTenant('small');
    await small.collectMetrics([1, 2].map((h) => ({ metricId: 'cpu', value: h, tags: { host: `h${h}` }, timestamp: T0 })));
    const batch = [3, 4].map((h) => ({ metricId: 'cpu', value: h, tags: { host: `h${h}` }, timestamp: T0 }));
    await expect(small.collectMetrics(batch)).rejects.toBeInstanceOf(QuotaExceededError);
    await expect(small.collectMetrics(batch)).rejects.toThrow(/tenant small: quota active_series=3 reached/);
    // Points of existing series and one more series still fit.
    await small.collectMetrics([{ metricId: 'cpu', value: 9, tags: { host: 'h1' }, timestamp: T0 + 1 }, { metricId: 'cpu', value: 3, tags: { host: 'h3' }, timestamp: T0 }]);
    expect((await small.listSeries('cpu')).length).toBe(3);
    // The resolved path (the server's) refuses the same way.
    const table = small.createSeriesTable!();
    table.add({ metricId: 'cpu', tags: { host: 'h5' } });
    await expect(table.collect(Int32Array.of(0), Float64Array.of(T0), Float64Array.of(1))).rejects.toBeInstanceOf(QuotaExceededError);
    expect((await small.listSeries('cpu')).length).toBe(3);
    // Other tenants are not limited by it.
    await engine.forTenant('big').collectMetrics([3, 4, 5, 6].map((h) => ({ metricId: 'cpu', value: h, tags: { host: `h${h}` }, timestamp: T0 })));
    await engine.stop();
  });
});

describe('retention per tenant', () => {
  it('drops old chunks only of tenants whose retention has passed', async () => {
    const path = join(dir, 'r.db');
    const day = 86_400_000;
    const now = Date.now();
    const writer = createMetricsSystem({ path, queryWorkers: 0 });
    await writer.start();
    for (const t of ['short', 'forever']) await writer.forTenant(t).collectMetric({ metricId: 'old.m', value: 1, timestamp: now - 10 * day });
    await writer.stop();
    const reader = createMetricsSystem({ path, queryWorkers: 0, retentionDaysOf: (t) => (t === 'short' ? 3 : 0) });
    await reader.start();
    expect(await reader.forTenant('short').queryMetrics({ metricPattern: '*', startTime: 0 })).toEqual([]);
    expect((await reader.forTenant('forever').queryMetrics({ metricPattern: '*', startTime: 0 })).length).toBe(1);
    await reader.stop();
  });
});
