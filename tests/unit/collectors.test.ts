/** System collector (/proc and os-module paths), adaptive sampling, the runner and API statistics. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MetricsSystem } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { AdaptiveInterval } from '../../src/collectors/adaptive_interval.js';
import { ApiStatsCollector, ApiStatsRecorder, MAX_TRACKED_ROUTES } from '../../src/collectors/api_stats.js';
import { parseCollectorSettings } from '../../src/collectors/collector_config.js';
import { CollectorRunner } from '../../src/collectors/collector_runner.js';
import { cpuUsagePercent, diskUsagePercent, memoryUsagePercent, parseMeminfo, parseMounts, parseNetDev, parseProcStat } from '../../src/collectors/proc_readers.js';
import { SystemCollector } from '../../src/collectors/system_collector.js';

const STAT_A = `cpu  1000 0 500 8000 500 0 0 0 0 0
cpu0 600 0 200 4000 200 0 0 0 0 0
cpu1 400 0 300 4000 300 0 0 0 0 0
intr 12345
ctxt 999
`;
// +400 busy / +1000 total on cpu0 (40 %), +100 busy / +1000 total on cpu1 (10 %): overall 25 %.
const STAT_B = `cpu  1500 0 500 9400 600 0 0 0 0 0
cpu0 900 0 300 4500 300 0 0 0 0 0
cpu1 500 0 300 4900 300 0 0 0 0 0
intr 12399
`;
const MEMINFO = `MemTotal:       16000000 kB
MemFree:         2000000 kB
MemAvailable:   12000000 kB
Buffers:          100000 kB
Cached:          5000000 kB
`;
const NETDEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    4203      40    0    0    0     0          0         0     4203      40    0    0    0     0       0          0
  eth0: 383111190   11083    3    0    0     0          0         0   776820    7251    2    0    0     0       0          0
`;
const MOUNTS = `proc /proc proc rw,relatime 0 0
/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw 0 0
/dev/vdb /srv/my\\040data xfs rw 0 0
/dev/vda / ext4 rw,relatime 0 0
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-coll-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeProc(root: string, stat: string): void {
  mkdirSync(join(root, 'net'), { recursive: true });
  writeFileSync(join(root, 'stat'), stat);
  writeFileSync(join(root, 'meminfo'), MEMINFO);
  writeFileSync(join(root, 'mounts'), MOUNTS);
  writeFileSync(join(root, 'net', 'dev'), NETDEV);
}

const valueOf = (points: MetricDataPoint[], metricId: string, tags: Record<string, string> = {}) =>
  points.filter((p) => p.metricId === metricId && Object.entries(tags).every(([k, v]) => p.tags?.[k] === v)).map((p) => p.value);

describe('/proc parsers', () => {
  it('parse fixed text exactly', () => {
    const a = parseProcStat(STAT_A);
    const b = parseProcStat(STAT_B);
    expect(a.map((c) => c.cpu)).toEqual(['total', '0', '1']);
    expect(cpuUsagePercent(a[0]!, b[0]!)).toBe(25);
    expect(cpuUsagePercent(a[1]!, b[1]!)).toBe(40);
    expect(cpuUsagePercent(a[2]!, b[2]!)).toBe(10);
    expect(cpuUsagePercent(a[0]!, a[0]!)).toBeNull();
    expect(memoryUsagePercent(parseMeminfo(MEMINFO))).toBe(25);
    expect(parseNetDev(NETDEV)).toEqual([
      { iface: 'lo', bytesRecv: 4203, bytesSent: 4203, errors: 0 },
      { iface: 'eth0', bytesRecv: 383111190, bytesSent: 776820, errors: 5 },
    ]);
    expect(parseMounts(MOUNTS)).toEqual([
      { device: '/dev/vda', mountPoint: '/', fsType: 'ext4' },
      { device: '/dev/vdb', mountPoint: '/srv/my data', fsType: 'xfs' },
    ]);
    expect(diskUsagePercent({ blocks: 1000, bfree: 300, bavail: 200 })).toBeCloseTo(700 / 900 * 100, 12);
  });
});

describe('SystemCollector', () => {
  it('computes every metric exactly from a fixture /proc', async () => {
    writeProc(dir, STAT_A);
    const statfs = (p: string) => (p === '/' ? { blocks: 1000, bfree: 250, bavail: 150 } : { blocks: 400, bfree: 100, bavail: 100 });
    const c = await SystemCollector.create({ procRoot: dir, statfs });
    expect(c.source).toBe('proc');
    writeFileSync(join(dir, 'stat'), STAT_B);
    const points = await c.collect(1_700_000_000_000);
    expect(valueOf(points, 'system.cpu.usage_total')).toEqual([25]);
    expect(valueOf(points, 'system.cpu.usage', { core: '0' })).toEqual([40]);
    expect(valueOf(points, 'system.cpu.usage', { core: '1' })).toEqual([10]);
    expect(valueOf(points, 'system.memory.usage_percent')).toEqual([25]);
    expect(valueOf(points, 'system.disk.usage_percent', { mount: '/', device: '/dev/vda', fstype: 'ext4' })).toEqual([(100 * 750) / 900]);
    expect(valueOf(points, 'system.disk.usage_percent', { mount: '/srv/my data' })).toEqual([75]);
    expect(valueOf(points, 'system.network.bytes_recv', { interface: 'eth0' })).toEqual([383111190]);
    expect(valueOf(points, 'system.network.bytes_sent', { interface: 'eth0' })).toEqual([776820]);
    expect(valueOf(points, 'system.network.errors', { interface: 'eth0' })).toEqual([5]);
    expect(points.find((p) => p.metricId === 'system.network.errors')!.metricType).toBe('counter');
    expect(points.every((p) => p.timestamp === 1_700_000_000_000)).toBe(true);
  });

  it('agrees with the live /proc read independently by the test', async () => {
    const c = await SystemCollector.create();
    expect(c.source).toBe('proc');
    const netBefore = parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
    const end = Date.now() + 30;
    while (Date.now() < end) Math.sqrt(Math.random()); // a few ticks of CPU
    const memBefore = memoryUsagePercent(parseMeminfo(readFileSync('/proc/meminfo', 'utf8')))!;
    const points = await c.collect(Date.now());
    const memAfter = memoryUsagePercent(parseMeminfo(readFileSync('/proc/meminfo', 'utf8')))!;
    const netAfter = parseNetDev(readFileSync('/proc/net/dev', 'utf8'));

    const cores = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).length;
    expect(valueOf(points, 'system.cpu.usage').length).toBe(cores);
    for (const v of [...valueOf(points, 'system.cpu.usage'), ...valueOf(points, 'system.cpu.usage_total')]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(100);
    }
    const mem = valueOf(points, 'system.memory.usage_percent')[0]!;
    expect(mem).toBeGreaterThanOrEqual(Math.min(memBefore, memAfter) - 1);
    expect(mem).toBeLessThanOrEqual(Math.max(memBefore, memAfter) + 1);
    for (const n of netBefore) {
      const after = netAfter.find((x) => x.iface === n.iface)!;
      const recv = valueOf(points, 'system.network.bytes_recv', { interface: n.iface })[0]!;
      expect(recv).toBeGreaterThanOrEqual(n.bytesRecv);
      expect(recv).toBeLessThanOrEqual(after.bytesRecv);
    }
    const s = statfsSync('/');
    const rootUsage = valueOf(points, 'system.disk.usage_percent', { mount: '/' })[0]!;
    expect(rootUsage).toBeCloseTo(diskUsagePercent(s)!, 0);
  });

  it('falls back to the os module where /proc is absent', async () => {
    const c = await SystemCollector.create({ procRoot: join(dir, 'no-proc') });
    expect(c.source).toBe('os');
    const end = Date.now() + 60;
    while (Date.now() < end) Math.sqrt(Math.random()); // os.cpus() times move in 10 ms ticks
    const before = (100 * (os.totalmem() - os.freemem())) / os.totalmem();
    const points = await c.collect(Date.now());
    const after = (100 * (os.totalmem() - os.freemem())) / os.totalmem();
    expect(valueOf(points, 'system.cpu.usage').length).toBe(os.cpus().length);
    const mem = valueOf(points, 'system.memory.usage_percent')[0]!;
    expect(mem).toBeGreaterThanOrEqual(Math.min(before, after) - 1);
    expect(mem).toBeLessThanOrEqual(Math.max(before, after) + 1);
    expect(valueOf(points, 'system.disk.usage_percent', { mount: '/' })).toHaveLength(1);
    expect(valueOf(points, 'system.network.bytes_sent')).toHaveLength(0);
  });
});

describe('AdaptiveInterval', () => {
  const series = (v: number) => new Map([['s', v]]);

  it('grows to the maximum while flat and halves to the minimum while changing fast', () => {
    const a = new AdaptiveInterval({ minMs: 1000, maxMs: 60_000, initialMs: 8000 });
    let t = 0;
    let interval = 0;
    for (let i = 0; i < 20; i++) interval = a.observe(series(50), (t += 1000));
    expect(interval).toBe(60_000);
    expect(a.lastReason).toBe('flat');
    for (let i = 0; i < 10; i++) interval = a.observe(series(i % 2 === 0 ? 10 : 90), (t += 1000));
    expect(interval).toBe(1000);
    expect(['fast', 'anomalous']).toContain(a.lastReason);
  });

  it('treats a sudden outlier in a slowly varying series as anomalous', () => {
    const a = new AdaptiveInterval({ minMs: 1000, maxMs: 60_000, initialMs: 30_000, fastChange: 0.5, flatChange: 0.0001 });
    let t = 0;
    for (let i = 0; i < 30; i++) a.observe(series(100 + (i % 3) * 0.5), (t += 1000));
    expect(a.current(t)).toBe(30_000);
    a.observe(series(140), (t += 1000)); // +40 %: below fastChange but far outside the noise
    expect(a.lastReason).toBe('anomalous');
    expect(a.current(t)).toBe(15_000);
  });

  it('boost pins the minimum (or a given interval) until it ends, then the learned interval returns', () => {
    const a = new AdaptiveInterval({ minMs: 500, maxMs: 10_000, initialMs: 10_000 });
    a.boost(1000, 5000);
    expect(a.current(1000)).toBe(500);
    expect(a.current(5999)).toBe(500);
    expect(a.current(6000)).toBe(10_000);
    a.boost(7000, 1000, 2000);
    expect(a.current(7500)).toBe(2000);
    expect(() => new AdaptiveInterval({ minMs: 10, maxMs: 5 })).toThrow(/maxMs=5 must be ≥ minMs=10/);
  });
});

describe('CollectorRunner', () => {
  function sink() {
    const written: MetricDataPoint[] = [];
    const system = { collectMetrics: async (p: readonly MetricDataPoint[]) => (written.push(...p), { accepted: p.length }) } as unknown as MetricsSystem;
    return { system, written };
  }

  it('never overlaps a slow collection and records the interval it used', async () => {
    const { system, written } = sink();
    let concurrent = 0;
    let maxConcurrent = 0;
    const slow = {
      name: 'slow',
      metricPrefixes: ['x'],
      async collect(now: number): Promise<MetricDataPoint[]> {
        maxConcurrent = Math.max(maxConcurrent, ++concurrent);
        await new Promise((r) => setTimeout(r, 60));
        concurrent--;
        return [{ metricId: 'x', value: 1, timestamp: now }];
      },
    };
    const runner = new CollectorRunner(system, slow, { intervalMs: 5 });
    runner.start();
    await Promise.all([runner.runOnce(), runner.runOnce()]);
    // The two calls at once made one collection; the scheduler then runs more, one at a time.
    expect(runner.collections).toBe(1);
    await vi.waitFor(() => expect(runner.collections).toBeGreaterThanOrEqual(3), { timeout: 20_000, interval: 10 });
    await runner.stop();
    expect(maxConcurrent).toBe(1);
    const intervals = written.filter((p) => p.metricId === 'collector.interval_ms');
    expect(intervals.length).toBe(runner.collections);
    expect(intervals[0]!.tags).toEqual({ collector: 'slow' });
    expect(intervals[0]!.value).toBe(5);
  });

  it('enhance() reschedules a far-off collection sooner and reverts afterwards', async () => {
    const { system } = sink();
    let clock = 0;
    const c = { name: 'c', metricPrefixes: ['y'], collect: (now: number) => [{ metricId: 'y', value: 1, timestamp: now }] };
    const runner = new CollectorRunner(system, c, { intervalMs: 60_000, enhancedIntervalMs: 20, now: () => clock + Date.now() });
    runner.start();
    expect(runner.intervalMs).toBe(60_000);
    // Enhanced for a minute of the runner's clock, so a busy machine cannot see it lapse first.
    runner.enhance(60_000);
    expect(runner.intervalMs).toBe(20);
    await vi.waitFor(() => expect(runner.collections).toBeGreaterThanOrEqual(3), { timeout: 20_000, interval: 10 });
    clock += 120_000;
    expect(runner.intervalMs).toBe(60_000);
    await runner.stop();
  });

  it('adapts the interval from the collected gauges', async () => {
    const { system } = sink();
    const c = { name: 'flat', metricPrefixes: ['g'], collect: (now: number) => [{ metricId: 'g', value: 5, timestamp: now, metricType: 'gauge' as const }] };
    const runner = new CollectorRunner(system, c, { intervalMs: 1000, adaptive: { minMs: 500, maxMs: 4000 } });
    for (let i = 0; i < 6; i++) await runner.runOnce();
    expect(runner.intervalMs).toBe(4000);
  });
});

describe('API statistics', () => {
  it('turns recorded requests into mean response time, request rate and server-error fraction per route', () => {
    const rec = new ApiStatsRecorder();
    const coll = new ApiStatsCollector(rec, 0);
    for (let i = 0; i < 10; i++) rec.record('/api/v1/query', i < 2 ? 500 : i < 4 ? 404 : 200, i + 1);
    rec.record('/api/v1/metrics', 200, 3);
    const p = coll.collect(5000);
    expect(valueOf(p, 'application.api.response_time', { route: '/api/v1/query' })).toEqual([5.5]);
    expect(valueOf(p, 'application.api.request_rate', { route: '/api/v1/query' })).toEqual([2]);
    expect(valueOf(p, 'application.api.error_rate', { route: '/api/v1/query' })).toEqual([0.2]);
    expect(valueOf(p, 'application.api.request_rate', { route: '/api/v1/metrics' })).toEqual([0.2]);
    // Idle interval: rates drop to 0, no response time.
    const idle = coll.collect(10_000);
    expect(valueOf(idle, 'application.api.request_rate', { route: '/api/v1/query' })).toEqual([0]);
    expect(valueOf(idle, 'application.api.response_time')).toEqual([]);
  });

  it('bounds the number of tracked routes', () => {
    const rec = new ApiStatsRecorder();
    for (let i = 0; i < MAX_TRACKED_ROUTES + 50; i++) rec.record(`/r${i}`, 200, 1);
    const routes = rec.drain();
    expect(routes).toHaveLength(MAX_TRACKED_ROUTES + 1);
    expect(routes.find((r) => r.route === 'other')!.requests).toBe(50);
  });
});

describe('collector settings', () => {
  it('reads seconds into milliseconds with defaults and refuses bad values naming the key', () => {
    expect(parseCollectorSettings(undefined)).toEqual({ systemIntervalMs: 30_000, apiStatsIntervalMs: 15_000, enhancedIntervalMs: 5000, adaptive: null });
    expect(parseCollectorSettings({ system_interval: 10, adaptive_sampling: { min_interval: 2, max_interval: 60 }, batch_size: 5 }).adaptive)
      .toEqual({ minMs: 2000, maxMs: 60_000, fastChange: 0.1, flatChange: 0.01 });
    expect(() => parseCollectorSettings({ system_interval: -1 })).toThrow(/collector\.system_interval=-1 must be a number of seconds/);
    expect(() => parseCollectorSettings({ adaptive_sampling: { min_interval: 10, max_interval: 5 } })).toThrow(/collector\.adaptive_sampling\.max_interval=5/);
  });
});
