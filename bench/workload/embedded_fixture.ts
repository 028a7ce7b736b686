/**
 * Shared set-up of the embedded-engine benchmarks: a temporary data directory, an engine over
 * it, the TSBS devops workload loaded into it, and the size of every file the engine left.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineMetricsSystem, type EngineTuning } from '../../src/metrics_system.js';
import type { MetricsSystemOptions } from '../../src/model/api.js';
import { TsbsDevopsGenerator, type TsbsDevopsOptions } from './tsbs_devops.js';

export const quick = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');

export function machineLine(note: string): string {
  const cpu = cpus();
  return `machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}` +
    `${quick ? ' (quick mode)' : ''}; ${note}`;
}

export interface BenchDatabase {
  dir: string;
  path: string;
  system: EngineMetricsSystem;
  remove(): Promise<void>;
}

export async function openBenchDatabase(
  options: Omit<MetricsSystemOptions, 'path'> = {}, tuning: EngineTuning = {},
): Promise<BenchDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-'));
  const path = join(dir, 'metrics.db');
  const system = new EngineMetricsSystem({ ...options, path }, tuning);
  await system.start();
  return {
    dir, path, system,
    async remove() {
      if (system.running) await system.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Loads `ticks` ticks of the workload columnar, `ticksPerCall` ticks per collectSeries call. */
export async function loadTsbsColumnar(system: EngineMetricsSystem, ticks: number, options: TsbsDevopsOptions = {}, ticksPerCall = 360): Promise<TsbsDevopsGenerator> {
  const gen = new TsbsDevopsGenerator(options);
  for (let done = 0; done < ticks; done += ticksPerCall) {
    await system.collectSeries(gen.nextColumns(Math.min(ticksPerCall, ticks - done)));
  }
  return gen;
}

/** Bytes of every file in `dir`. */
export function directoryBytes(dir: string): { files: string[]; bytes: number } {
  let bytes = 0;
  const files = readdirSync(dir);
  for (const f of files) bytes += statSync(join(dir, f)).size;
  return { files, bytes };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}
