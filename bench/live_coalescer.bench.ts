/**
 * What live updates cost the ingest path: `NoticeCoalescer.note()` once per stored point (the
 * call the engine makes after each acknowledged commit), and `drain()` once per 100 ms flush
 * (encoding the newest point per series into notices). Shapes: a commit of 10,000 points over
 * 1,000 series (10 points each, the TSBS-like batch), and over 10,000 distinct series (the
 * worst case for the maps). Reported per point, so the figure reads against the 500,000
 * points/s ingest target (1 µs/point would be half a core).
 *
 * Run: npx tsx bench/live_coalescer.bench.ts   (`--quick`: 100 ms per task)
 */
import { cpus } from 'node:os';
import { Bench } from 'tinybench';
import { NoticeCoalescer } from '../src/cluster/live_coalescer.js';
import { decodeNotice } from '../src/cluster/live_notice_codec.js';
import type { Tags } from '../src/model/metric.js';

const quick = process.argv.includes('--quick');
const TIME_MS = quick ? 100 : 1_000;
const T0 = 1_767_225_600_000;
const COMMIT_POINTS = 10_000;

interface Commit {
  ids: Int32Array;
  metricIds: string[];
  tags: Tags[];
  timestamps: Float64Array;
  values: Float64Array;
}

function commit(series: number): Commit {
  const tagsOf = Array.from({ length: series }, (_, s) => ({ host: `host-${s % 100}`, region: `r${s % 4}`, service: `svc-${s % 10}` }));
  const c: Commit = { ids: new Int32Array(COMMIT_POINTS), metricIds: [], tags: [], timestamps: new Float64Array(COMMIT_POINTS), values: new Float64Array(COMMIT_POINTS) };
  for (let i = 0; i < COMMIT_POINTS; i++) {
    const s = i % series;
    c.ids[i] = s;
    c.metricIds.push('cpu.usage_user');
    c.tags.push(tagsOf[s]!);
    c.timestamps[i] = T0 + Math.floor(i / series) * 10_000;
    c.values[i] = (i * 7919) % 1000 / 10;
  }
  return c;
}

function noteAll(co: NoticeCoalescer, c: Commit): void {
  for (let i = 0; i < COMMIT_POINTS; i++) co.note('default', c.ids[i]!, c.metricIds[i]!, c.tags[i]!, c.timestamps[i]!, c.values[i]!);
}

const shapes = [['1,000 series × 10 points', commit(1_000)], ['10,000 series × 1 point', commit(10_000)]] as const;

// Correctness before timing: a drained round lists each series once (or counts it left out:
// 10,000 series of ~70 bytes pass the 512 KiB-per-flush budget, so some go as `truncated`).
for (const [, c] of shapes) {
  const co = new NoticeCoalescer('bench');
  noteAll(co, c);
  const listed = co.drain().map((m) => decodeNotice(m)).reduce((n, r) => n + (r.ok ? r.notice.series.length : Number.NaN), 0);
  const distinct = new Set(c.ids).size;
  if (listed + co.counters.seriesLeftOut !== distinct) throw new Error(`BUG: drained ${listed} + left out ${co.counters.seriesLeftOut} series, expected ${distinct}`);
}

const bench = new Bench({ time: TIME_MS });
for (const [name, c] of shapes) {
  const steady = new NoticeCoalescer('bench');
  noteAll(steady, c);
  bench.add(`note() 10,000 points, ${name}, series already pending`, () => noteAll(steady, c));
  bench.add(`note() + drain() of one commit, ${name}`, () => {
    const co = new NoticeCoalescer('bench');
    noteAll(co, c);
    co.drain();
  });
}
await bench.run();

console.log(`live_coalescer: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), machine shared with other work: figures are noisy`);
for (const task of bench.tasks) {
  const r = task.result as { latency?: { mean: number; p99: number }; mean?: number; p99?: number } | undefined;
  const meanMs = r?.latency?.mean ?? r?.mean ?? Number.NaN;
  const p99Ms = r?.latency?.p99 ?? r?.p99 ?? Number.NaN;
  console.log(`${task.name.padEnd(70)} ${(meanMs * 1e6 / COMMIT_POINTS).toFixed(1).padStart(7)} ns/point (mean), ${(p99Ms * 1e6 / COMMIT_POINTS).toFixed(1).padStart(7)} ns/point (p99)`);
}
