/**
 * The calling thread's own clock, for query admission's accounting (query_concurrency.ts):
 * the CPU time the thread ran and the time it could have run (wall time less its wait for a
 * core). On a machine shared with other processes, wall time counts the time the kernel gave
 * the core to someone else: measured with load average 14 on 2 cores, a thread spinning for
 * 200 ms of wall time ran 15–45 ms of it. A wall-clock share charged queries that many times
 * their work: in bench/concurrent_users.bench.ts at load 14–18 it cut queries from 261–266/s to
 * 96–159/s while the acks' p99 stayed where it was (1.0–1.8 s), the machine's not the queries'.
 *
 * Linux reports both in /proc/thread-self/schedstat (nanoseconds on the CPU, nanoseconds
 * waiting on a run queue, timeslices). The kernel updates them at context switches and
 * scheduler ticks, so one reading lags by up to a tick (4 ms at HZ=250); differences of the
 * cumulative counters add up right over many readings, which is how admission uses them.
 * One reading (a pread of a kept-open file) cost 13 µs at load 14; in the bench's CPU profile
 * the readings took 1.6% of the main thread at 430 queries/s. Elsewhere (no procfs) both
 * clocks fall back to wall time.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ThreadClock {
  /** Milliseconds this thread ran on a core (cumulative; only differences mean anything). */
  cpuMs(): number;
  /** Milliseconds this thread ran or could have run: wall time less its run-queue wait (cumulative). */
  availableMs(): number;
}

/** Wall time for both: right on an otherwise idle machine, and where procfs is missing. */
export const WALL_CLOCK: ThreadClock = {
  cpuMs: () => performance.now(),
  availableMs: () => performance.now(),
};

const SCHEDSTAT = '/proc/thread-self/schedstat';
/** "<ns on cpu> <ns waiting> <timeslices>\n": three 20-digit numbers at most. */
const SCHEDSTAT_MAX_BYTES = 80;

/** One clock per thread, its file kept open for the thread's life: servers come and go (tests start hundreds). */
let clockOfThisThread: ThreadClock | undefined;

/**
 * The clock of the thread that calls this (/proc/thread-self resolves when the file is
 * opened, so every later reading is of that thread, whichever thread reads). Module state is
 * per thread, so each thread opens its own file once.
 */
export function threadClock(): ThreadClock {
  clockOfThisThread ??= openThreadClock();
  return clockOfThisThread;
}

function openThreadClock(): ThreadClock {
  let fd: number;
  try {
    fd = openSync(SCHEDSTAT, 'r');
  } catch {
    return WALL_CLOCK;
  }
  const buffer = Buffer.alloc(SCHEDSTAT_MAX_BYTES);
  // The last good reading: a read that cannot be parsed keeps it, so the counters never go back.
  let runNs = NaN;
  let waitNs = NaN;
  const read = (): void => {
    const n = readSync(fd, buffer, 0, SCHEDSTAT_MAX_BYTES, 0);
    const text = buffer.toString('latin1', 0, n);
    const first = text.indexOf(' ');
    const second = text.indexOf(' ', first + 1);
    const run = Number(text.slice(0, first));
    const wait = Number(text.slice(first + 1, second < 0 ? undefined : second));
    if (first > 0 && Number.isFinite(run) && Number.isFinite(wait)) {
      runNs = run;
      waitNs = wait;
    }
  };
  read();
  if (Number.isNaN(runNs)) {
    closeSync(fd);
    return WALL_CLOCK;
  }
  return {
    cpuMs: () => {
      read();
      return runNs / 1e6;
    },
    availableMs: () => {
      read();
      return performance.now() - waitNs / 1e6;
    },
  };
}
