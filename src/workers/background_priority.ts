/**
 * Lowers the scheduling priority of the calling thread, for threads doing background work
 * (chunk encoding, compaction) that must not take CPU from the thread acknowledging batches.
 * On a 2-core machine shared with clients there is no idle core: at equal priority a
 * compaction burst in the encoder thread pushed the half-rate ack p99 from ~30 ms to ~75 ms.
 * At nice 10 the thread still gets every idle cycle, and ~10% of a contended core.
 *
 * Linux keeps a nice value per thread, and setpriority(PRIO_PROCESS, tid) sets one thread's;
 * /proc/thread-self names the calling thread's id. Elsewhere (or without /proc) this does
 * nothing: the work is the same, only less polite.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export const BACKGROUND_NICE = 10;

/** Returns whether the priority was lowered. */
export function lowerThisThreadPriority(nice = BACKGROUND_NICE): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
