/**
 * Chunk codec throughput and size by data shape (docs/format/chunk.md), 8,640 points per chunk
 * (24 h at 10 s, the storage target's chunk):
 *
 *   wasm kernel   encodeChunk/decodeChunk exports on columns already in WASM memory: what storage
 *                 and the aggregation kernels pay (decode target ≥ 50M points/s per core)
 *   wasm api      src/core/codec.ts: copies columns in and out of WASM memory around the kernel
 *   ts reference  src/core/reference/: the same format in plain TypeScript
 *
 * Every shape is round-tripped bit for bit through each implementation, and the WASM and
 * reference bytes compared, before anything is timed. Prints points/s (mean and p99 latency per
 * chunk; the median drives points/s because the machine is shared), bytes/point and the
 * encodings chosen per shape, the machine, and JS heap growth over the run.
 * `EMMS_BENCH_QUICK=1` (or `--quick`) runs each task for 40 ms instead of 300 ms.
 *
 * Run: npx tsx bench/codec.bench.ts
 */
import { cpus } from 'node:os';
import { Bench } from 'tinybench';
import { decodeChunk, encodeChunk, maxEncodedBytes, type CodecExports } from '../src/core/codec.js';
import { decodeChunkReference, encodeChunkReference, inspectChunkReference, type ChunkLayout } from '../src/core/reference/chunk.js';
import { xorFloatsBitsReference } from '../src/core/reference/xor_floats.js';
import { wasmInstance } from '../src/core/wasm_instance.js';
import { SHAPES, type SeriesColumns } from './data_shapes.js';

const quick = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const POINTS = 8_640;
const SEED = 20_260_101;
const TASK_TIME_MS = quick ? 40 : 300;

function sameBits(a: Float64Array, b: Float64Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function checkRoundTrip(shape: string, columns: SeriesColumns): Uint8Array {
  const bytes = encodeChunk(columns.timestamps, columns.values);
  const reference = encodeChunkReference(columns.timestamps, columns.values);
  if (!Buffer.from(bytes).equals(Buffer.from(reference))) throw new Error(`${shape}: WASM and reference bytes differ`);
  for (const [impl, decoded] of [['wasm', decodeChunk(bytes)], ['reference', decodeChunkReference(bytes)]] as const) {
    if (!sameBits(decoded.timestamps, columns.timestamps) || !sameBits(decoded.values, columns.values)) {
      throw new Error(`${shape}: ${impl} round trip is not bit-exact`);
    }
  }
  return bytes;
}

const inst = wasmInstance<CodecExports>('emms');
const kernel = inst.exports;
const bench = new Bench({ time: TASK_TIME_MS, iterations: 5 });
const sizes: Array<{
  shape: string;
  bytes: number;
  'bytes/point': number;
  'XOR values B/point': number;
  values: string;
  timestamps: string;
}> = [];

function describeValues(l: ChunkLayout): string {
  if (l.valueCodec !== 'decimal') return l.valueCodec;
  return `decimal d=${l.decimalScale} order ${l.valueSequence?.order} ${l.valueSequence?.coder}`;
}

function describeTimestamps(l: ChunkLayout): string {
  if (l.timestampCodec !== 'intSequence') return l.timestampCodec;
  return `order ${l.timestampSequence?.order} ${l.timestampSequence?.coder}`;
}

const outCap = maxEncodedBytes(POINTS);

interface KernelLayout {
  tsPtr: number;
  valPtr: number;
  inPtr: number;
  decodeTs: number;
  decodeValues: number;
  encodeOut: number;
}

/** Lays a shape's columns and chunk out in WASM memory for the kernel tasks (the API tasks reset the heap). */
function layOut(columns: SeriesColumns, bytes: Uint8Array): KernelLayout {
  inst.reset();
  return {
    tsPtr: inst.writeF64(columns.timestamps),
    valPtr: inst.writeF64(columns.values),
    inPtr: inst.writeBytes(bytes),
    decodeTs: inst.alloc(POINTS * 8),
    decodeValues: inst.alloc(POINTS * 8),
    encodeOut: inst.alloc(outCap),
  };
}

for (const [shape, generate] of Object.entries(SHAPES)) {
  const columns = generate(POINTS, SEED);
  const bytes = checkRoundTrip(shape, columns);
  const layout = inspectChunkReference(bytes);
  sizes.push({
    shape,
    bytes: bytes.length,
    'bytes/point': Number((bytes.length / POINTS).toFixed(4)),
    // Naive baseline: Gorilla XOR of the values alone, what Prometheus-style chunks spend.
    'XOR values B/point': Number((xorFloatsBitsReference(columns.values) / 8 / POINTS).toFixed(3)),
    values: describeValues(layout),
    timestamps: describeTimestamps(layout),
  });
  let at = layOut(columns, bytes);
  const relayout = { beforeAll: () => void (at = layOut(columns, bytes)) };

  bench
    .add(`${shape} | wasm kernel | decode`, () => {
      if (kernel.decodeChunk(at.inPtr, bytes.length, at.decodeTs, at.decodeValues, POINTS) !== POINTS) {
        throw new Error(`${shape}: kernel decode failed`);
      }
    }, relayout)
    .add(`${shape} | wasm kernel | encode`, () => {
      if (kernel.encodeChunk(at.tsPtr, at.valPtr, POINTS, at.encodeOut, outCap) !== bytes.length) {
        throw new Error(`${shape}: kernel encode size differs`);
      }
    }, relayout)
    .add(`${shape} | wasm api | decode`, () => {
      decodeChunk(bytes);
    })
    .add(`${shape} | wasm api | encode`, () => {
      encodeChunk(columns.timestamps, columns.values);
    })
    .add(`${shape} | ts reference | decode`, () => {
      decodeChunkReference(bytes);
    })
    .add(`${shape} | ts reference | encode`, () => {
      encodeChunkReference(columns.timestamps, columns.values);
    });
}

const heapBefore = process.memoryUsage().heapUsed;
await bench.run();
const heapAfter = process.memoryUsage().heapUsed;

const cpu = cpus();
console.log(
  `machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}` +
    `${quick ? ' (quick mode)' : ''}; the machine is shared, so figures are noisy`,
);
console.log(`chunk of ${POINTS} points per operation, seed ${SEED}; Mpoints/s from the median latency (less noisy than the mean here)`);
console.table(sizes);
console.table(
  bench.tasks.map((task) => {
    const r = task.result;
    const [shape, impl, op] = task.name.split(' | ');
    if (r.state !== 'completed') return { shape, impl, op, state: r.state };
    return {
      shape,
      impl,
      op,
      'Mpoints/s': Number((POINTS / r.latency.p50 / 1e3).toFixed(1)),
      'p50 µs': Number((r.latency.p50 * 1e3).toFixed(1)),
      'mean µs': Number((r.latency.mean * 1e3).toFixed(1)),
      'p99 µs': Number((r.latency.p99 * 1e3).toFixed(1)),
      runs: r.latency.samplesCount,
    };
  }),
);
console.log(`JS heap growth over the run: ${((heapAfter - heapBefore) / 2 ** 20).toFixed(1)} MiB; WASM memory ${(kernel.memory.buffer.byteLength / 2 ** 20).toFixed(1)} MiB`);
