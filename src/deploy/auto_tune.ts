/**
 * `--auto-tune`: server settings sized from the target's CPUs and memory. The figures are
 * starting points derived from how the server spends resources, not a benchmark result; the
 * admin guide (docs/admin-guide.md, "Troubleshooting: memory") says what to watch and change.
 *
 * - Decode threads: one CPU keeps the uWS loop and the single SQLite writer, the rest decode
 *   (the server's own default, CPUs - 1); one CPU decodes on the main thread (0), since a
 *   second thread there only adds handoffs.
 * - V8 heap ceiling (`--max-old-space-size`): 40 % of memory, 256 MiB – 8 GiB. The rest is for
 *   SQLite's page cache and memory map, the decode workers' own heaps and the heads' column
 *   buffers, which live outside the old generation.
 * - Batch size: at most 10 % of memory in decoded points held in flight, counting ~100 bytes
 *   per decoded row point and two batches in flight per decode thread; 10 k – 1 M points.
 * - Body/frame/unacked bytes: memory / 64, 1 – 16 MiB (the default is 16 MiB, fine from 1 GiB up).
 * - Query points: at most 5 % of memory in a JSON answer at ~40 bytes per point; 100 k – 10 M.
 */
import type { DeployTarget } from './deploy_options.js';

const MiB = 1024 * 1024;

export interface Tuning {
  decodeThreads: number;
  heapMiB: number;
  batchSize: number;
  maxBodyBytes: number;
  maxFrameBytes: number;
  maxUnackedBytes: number;
  queryMaxPoints: number;
  /** Container/pod sizes: requests are what the scheduler reserves, limits the ceiling. */
  cpuRequestMilli: number;
  cpuLimitMilli: number;
  memoryRequestMiB: number;
  memoryLimitMiB: number;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** Bytes one decoded row point costs in flight (msgpack map → columns, tags interned). */
const BYTES_PER_DECODED_POINT = 100;
/** Bytes one point costs in a JSON query answer (`[ts, value]` with separators). */
const BYTES_PER_ANSWERED_POINT = 40;

export function autoTune(target: DeployTarget): Tuning {
  const cpus = Math.max(1, Math.floor(target.cpus));
  const memoryBytes = target.memoryMiB * MiB;
  const decodeThreads = cpus <= 1 ? 0 : Math.min(cpus - 1, 64);
  const inFlightBatches = Math.max(1, decodeThreads) * 2;
  const frameBytes = Math.floor(clamp(memoryBytes / 64, 1 * MiB, 16 * MiB));
  return {
    decodeThreads,
    heapMiB: Math.round(clamp(target.memoryMiB * 0.4, 256, 8192)),
    batchSize: Math.floor(clamp((memoryBytes * 0.1) / (BYTES_PER_DECODED_POINT * inFlightBatches), 10_000, 1_000_000)),
    maxBodyBytes: frameBytes,
    maxFrameBytes: frameBytes,
    maxUnackedBytes: frameBytes,
    queryMaxPoints: Math.floor(clamp((memoryBytes * 0.05) / BYTES_PER_ANSWERED_POINT, 100_000, 10_000_000)),
    cpuRequestMilli: Math.max(250, Math.round(cpus * 1000 * 0.5)),
    cpuLimitMilli: cpus * 1000,
    memoryRequestMiB: Math.round(target.memoryMiB * 0.75),
    memoryLimitMiB: target.memoryMiB,
  };
}

/** Sizes for a deployment without --auto-tune: the server's own defaults, a modest pod. */
export const DEFAULT_POD_RESOURCES = { cpuRequestMilli: 500, cpuLimitMilli: 2000, memoryRequestMiB: 512, memoryLimitMiB: 2048 } as const;
