/**
 * `--loop-delay` of the server benchmarks: runs the server with bench/load/loop_delay_probe.mjs
 * preloaded and summarizes what it recorded over a window of the run: how often and how long
 * the thread that acknowledges ingest and answers queries could not turn its event loop. The
 * stalls' end times line up with the ack log's send times (both epoch ms), so a CPU profile
 * (`--cpu-prof`) of the same run names what held the loop then.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PROBE = fileURLToPath(new URL('./loop_delay_probe.mjs', import.meta.url));

export interface LoopDelayProbe {
  nodeArgs: string[];
  env: Record<string, string>;
  /** After the server exited: the summary over stalls ending in [fromEpochMs, toEpochMs). */
  summary(fromEpochMs: number, toEpochMs: number): string;
}

export function loopDelayProbe(outFile: string): LoopDelayProbe {
  return {
    nodeArgs: ['--import', PROBE],
    env: { EMMS_LOOP_DELAY_OUT: outFile },
    summary(fromEpochMs, toEpochMs) {
      if (!existsSync(outFile)) return 'loop delay: the server wrote no record (did it exit normally?)';
      const r = JSON.parse(readFileSync(outFile, 'utf8')) as { p50: number; p99: number; max: number; stalls: Array<[number, number]> };
      const inWindow = r.stalls.filter(([end]) => end >= fromEpochMs && end < toEpochMs);
      const stalled = inWindow.reduce((sum, [, ms]) => sum + ms, 0);
      const longest = [...inWindow].sort((a, b) => b[1] - a[1]).slice(0, 5)
        .map(([end, ms]) => `${ms} ms at +${((end - ms - fromEpochMs) / 1000).toFixed(2)} s`).join(', ');
      return `server event-loop delay over its life p50 ${r.p50} / p99 ${r.p99} / max ${r.max} ms; in the window ${inWindow.length} stalls over 20 ms, ` +
        `${stalled} ms in all${longest === '' ? '' : `; longest ${longest}`}`;
    },
  };
}
