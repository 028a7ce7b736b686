/**
 * Aggregation throughput: the WASM path (src/core/bucket_accumulator.ts) against the plain-TS
 * reference (src/core/reference/aggregate.ts), hourly buckets over 24 h chunks of 8,640 points (10 s).
 *
 *   (a) over decoded arrays:  BucketAccumulator.addPoints  vs  aggregateReference
 *   (b) from encoded chunks:  BucketAccumulator.addChunk (decode + aggregate in one WASM call:
 *                             the fused kernel assembly/decode_aggregate.ts where it applies)
 *                             vs  the same with the generic kernel (decode into scratch, then walk it)
 *                             vs  WASM decodeChunk → JS arrays → addPoints
 *                             vs  TS reference decode → aggregateReference
 *
 * for avg and max (2-decimal random walk), p99 (same; the fused kernel hands percentiles to the
 * generic one) and rate (counter with resets); every series of
 * the set is merged into one group, as `groupBy: []` does. Results are checked against the
 * reference before timing. `EMMS_BENCH_QUICK=1` (or `--quick`) runs 10 series for 100 ms per
 * task instead of 100 series for 1 s.
 *
 * Run: npx tsx bench/aggregate.bench.ts
 */
import { cpus } from 'node:os';
import { Bench } from 'tinybench';
import type { Aggregation } from '../src/model/api.js';
import { aggregateInstance } from '../src/core/aggregate_kernel.js';
import { BucketAccumulator, type ChunkKernel } from '../src/core/bucket_accumulator.js';
import { aggregateReference, type ReferenceSeries } from '../src/core/reference/aggregate.js';
import { decodeChunk, encodeChunk } from '../src/core/codec.js';
import { decodeChunkReference } from '../src/core/reference/chunk.js';
import { counterShape, walk2dpShape, type SeriesColumns } from './data_shapes.js';

const quick = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const SERIES = quick ? 10 : 100;
const POINTS_PER_CHUNK = 8_640; // 24 h of 10 s samples: one chunk per series
const INTERVAL_MS = 3_600_000;
const TASK_TIME_MS = quick ? 100 : 1_000;

interface Dataset {
  series: SeriesColumns[];
  chunks: Uint8Array[];
  points: number;
  bytes: number;
}

function dataset(shape: (n: number, seed: number) => SeriesColumns): Dataset {
  const series = Array.from({ length: SERIES }, (_, k) => shape(POINTS_PER_CHUNK, 1000 + k));
  const chunks = series.map((s) => encodeChunk(s.timestamps, s.values));
  return {
    series, chunks,
    points: SERIES * POINTS_PER_CHUNK,
    bytes: chunks.reduce((a, c) => a + c.length, 0),
  };
}

function rangeOf(d: Dataset): { startMs: number; endMs: number } {
  const first = d.series[0]!.timestamps;
  return { startMs: first[0]!, endMs: first[first.length - 1]! + 1 };
}

function wasmFromArrays(d: Dataset, aggregation: Aggregation): Float64Array {
  const acc = new BucketAccumulator({ aggregation, intervalMs: INTERVAL_MS, ...rangeOf(d) });
  for (const s of d.series) {
    acc.beginSeries();
    acc.addPoints(s.timestamps, s.values);
  }
  return acc.finish().values;
}

function wasmFromChunks(d: Dataset, aggregation: Aggregation, kernel: ChunkKernel = 'fused'): Float64Array {
  const acc = new BucketAccumulator({ aggregation, intervalMs: INTERVAL_MS, ...rangeOf(d) }, kernel);
  for (const chunk of d.chunks) {
    acc.beginSeries();
    acc.addChunk(chunk);
  }
  return acc.finish().values;
}

function wasmFromChunksGeneric(d: Dataset, aggregation: Aggregation): Float64Array {
  return wasmFromChunks(d, aggregation, 'generic');
}

function wasmDecodeThenPoints(d: Dataset, aggregation: Aggregation): Float64Array {
  const acc = new BucketAccumulator({ aggregation, intervalMs: INTERVAL_MS, ...rangeOf(d) });
  for (const chunk of d.chunks) {
    const s = decodeChunk(chunk);
    acc.beginSeries();
    acc.addPoints(s.timestamps, s.values);
  }
  return acc.finish().values;
}

function referenceFromArrays(d: Dataset, aggregation: Aggregation): Float64Array {
  return aggregateReference(d.series, { aggregation, intervalMs: INTERVAL_MS, ...rangeOf(d) }).values;
}

function referenceFromChunks(d: Dataset, aggregation: Aggregation): Float64Array {
  const decoded: ReferenceSeries[] = d.chunks.map((c) => decodeChunkReference(c));
  return aggregateReference(decoded, { aggregation, intervalMs: INTERVAL_MS, ...rangeOf(d) }).values;
}

function checkClose(name: string, got: Float64Array, want: Float64Array): void {
  if (got.length !== want.length) throw new Error(`${name}: ${got.length} buckets, reference has ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= 1e-9 * Math.max(1, Math.abs(want[i]!)))) {
      throw new Error(`${name}: bucket ${i} = ${got[i]}, reference ${want[i]}`);
    }
  }
}

const walk = dataset(walk2dpShape);
const counter = dataset(counterShape);
const cases: Array<{ aggregation: Aggregation; data: Dataset }> = [
  { aggregation: 'avg', data: walk },
  { aggregation: 'max', data: walk },
  { aggregation: 'p99', data: walk },
  { aggregation: 'rate', data: counter },
];

const bench = new Bench({ time: TASK_TIME_MS, iterations: 3 });
const pointsOf = new Map<string, number>();
for (const { aggregation, data } of cases) {
  const want = referenceFromArrays(data, aggregation);
  const paths: Array<[string, (d: Dataset, a: Aggregation) => Float64Array]> = [
    ['(a) arrays   wasm addPoints', wasmFromArrays],
    ['(a) arrays   ts reference', referenceFromArrays],
    ['(b) chunks   wasm addChunk (decode+aggregate)', wasmFromChunks],
    ['(b) chunks   wasm addChunk, generic kernel', wasmFromChunksGeneric],
    ['(b) chunks   wasm decode → addPoints', wasmDecodeThenPoints],
    ['(b) chunks   ts reference decode+aggregate', referenceFromChunks],
  ];
  for (const [label, run] of paths) {
    const name = `${aggregation.padEnd(4)} ${label}`;
    checkClose(name, run(data, aggregation), want);
    pointsOf.set(name, data.points);
    bench.add(name, () => {
      run(data, aggregation);
    });
  }
}

await bench.run();

const cpu = cpus();
console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}` +
  `${quick ? ' (quick mode)' : ''}; the machine is shared, so figures are noisy`);
console.log(`data: ${SERIES} series × ${POINTS_PER_CHUNK} points (one 24 h chunk each), hourly buckets, all series in one group; ` +
  `walk2dp ${(walk.bytes / walk.points).toFixed(2)} B/point, counter ${(counter.bytes / counter.points).toFixed(2)} B/point encoded`);
console.table(bench.tasks.map((task) => {
  const r = task.result;
  if (r.state !== 'completed') return { task: task.name, state: r.state };
  const points = pointsOf.get(task.name)!;
  return {
    task: task.name,
    'Mpoints/s': Number((points / r.latency.mean / 1e3).toFixed(1)),
    'mean ms': Number(r.latency.mean.toFixed(2)),
    'p99 ms': Number(r.latency.p99.toFixed(2)),
    runs: r.latency.samplesCount,
  };
}));
console.log(`WASM memory after the run: ${(aggregateInstance().exports.memory.buffer.byteLength / 2 ** 20).toFixed(1)} MiB`);
