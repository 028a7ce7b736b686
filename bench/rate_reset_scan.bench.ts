/**
 * The rate kernel's counter-reset scan (src/query/window_kernels.ts ResetPositions.scan):
 * the one-by-one loop it had, next to the four-a-turn fast path it has, over a day of a
 * counter at 10 s (8,640 points, no reset: bench/promql_vs_victoriametrics.ts's
 * net_bytes_total), and the whole rate kernel over 100 such series at a 60 s step.
 * Both scans are checked to find the same resets (on a series with resets and NaNs) before
 * any timing.
 *
 *   npx tsx bench/rate_reset_scan.bench.ts
 *
 * Best of 300 rounds; a shared machine makes the absolute figures noisy, the ratio less so.
 */
import { ResetPositions, rateKernel } from '../src/query/window_kernels.js';
import { mulberry32 } from './data_shapes.js';

const POINTS = 8640;
const SERIES = 100;
const STEPS = 1441;
const T0_MS = 1_767_225_600_000;

/** The loop before the fast path: one comparison a point. */
function scanOneByOne(vs: Float64Array, out: number[]): void {
  let previous = vs.length > 0 ? vs[0]! : 0;
  for (let k = 1; k < vs.length; k++) {
    const v = vs[k]!;
    if (v < previous) out.push(k);
    previous = v;
  }
}

/** The kernel's own scan (ResetPositions), its resets copied to an array. */
const kernelScan = new ResetPositions();
function scanFourATurn(vs: Float64Array, out: number[]): void {
  kernelScan.scan(vs, vs.length);
  for (let r = 0; r < kernelScan.count; r++) out.push(kernelScan.at[r]!);
}

const rand = mulberry32(11);
const counters = Array.from({ length: SERIES }, () => {
  let total = 0;
  return Float64Array.from({ length: POINTS }, () => (total += Math.floor(rand() * 10_000)));
});
const withResets = Float64Array.from(counters[0]!, (v, k) => (k % 997 === 0 ? NaN : k % 1500 < 3 ? v / 2 : v));
for (const vs of [withResets, counters[1]!]) {
  const a: number[] = [];
  const b: number[] = [];
  scanOneByOne(vs, a);
  scanFourATurn(vs, b);
  if (a.join() !== b.join()) throw new Error(`scans disagree: ${a.join()} vs ${b.join()}`);
}

function best(rounds: number, run: () => void): number {
  let fastest = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    run();
    fastest = Math.min(fastest, performance.now() - t);
  }
  return fastest;
}

const sink: number[] = [];
for (const [name, scan] of [['one by one', scanOneByOne], ['four a turn', scanFourATurn]] as const) {
  const ms = best(300, () => { for (const vs of counters) scan(vs, sink); });
  console.log(`scan ${name.padEnd(12)} ${((ms * 1e6) / (SERIES * POINTS)).toFixed(3)} ns/point`);
}
const ts = Float64Array.from({ length: POINTS }, (_, k) => T0_MS + k * 10_000);
const steps = Float64Array.from({ length: STEPS }, (_, i) => T0_MS + i * 60_000);
const out = { values: new Float64Array(STEPS), present: new Uint8Array(STEPS) };
const ms = best(300, () => { for (const vs of counters) rateKernel('rate', ts, vs, steps, 300_000, 0, out); });
console.log(`rateKernel, ${SERIES} series × ${STEPS} steps: ${ms.toFixed(3)} ms (${((ms * 1e6) / (SERIES * STEPS)).toFixed(1)} ns/step)`);
