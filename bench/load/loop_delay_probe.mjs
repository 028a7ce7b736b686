// Event-loop delay of a benchmarked `emms serve` (bench/load/loop_delay.ts): preloaded into the
// server with `node --import`, it records the main thread's loop delay histogram and every
// stall over STALL_MS (when it ended, in epoch ms, and how long), and writes them as JSON to
// EMMS_LOOP_DELAY_OUT when the process exits. Plain .mjs: the server runs from dist/ without tsx.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const out = process.env.EMMS_LOOP_DELAY_OUT;
/** Gaps between 2 ms ticks longer than this are stalls worth naming. */
const STALL_MS = 20;
/** Stalls kept: enough for a 60 s run of a loaded server. */
const MAX_STALLS = 20_000;

if (isMainThread && out !== undefined) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const stalls = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > STALL_MS && stalls.length < MAX_STALLS) stalls.push([Math.round(performance.timeOrigin + now), Math.round(now - last)]);
    last = now;
  }, 2).unref();
  process.on('exit', () => {
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    writeFileSync(out, JSON.stringify({ p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), stalls }));
  });
}
