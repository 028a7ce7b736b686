/**
 * The main thread's own clock for query admission (src/server/thread_clock.ts): CPU time that
 * advances only while the thread runs, and available time that never runs ahead of wall time.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { threadClock, WALL_CLOCK } from '../../src/server/thread_clock.js';

describe('thread clock', () => {
  const procfs = existsSync('/proc/thread-self/schedstat');

  it.runIf(procfs)('reads this thread\'s CPU time: it grows while the thread spins, not while it sleeps', async () => {
    const clock = threadClock();
    expect(clock).not.toBe(WALL_CLOCK);
    // The kernel updates the counter at ticks and switches: spin until it moved (bounded).
    const cpu0 = clock.cpuMs();
    const until = performance.now() + 5_000;
    while (clock.cpuMs() === cpu0 && performance.now() < until) { /* holds the thread */ }
    expect(clock.cpuMs()).toBeGreaterThan(cpu0);
    // Asleep 200 ms: the thread runs almost nothing (reads and timer callbacks).
    const cpu1 = clock.cpuMs();
    const wall1 = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    const sleptCpu = clock.cpuMs() - cpu1;
    expect(sleptCpu).toBeGreaterThanOrEqual(0);
    expect(sleptCpu).toBeLessThan(performance.now() - wall1);
  });

  it.runIf(procfs)('available time never runs ahead of wall time', () => {
    const clock = threadClock();
    let last = clock.availableMs();
    const wall0 = performance.now();
    const first = last;
    for (let i = 0; i < 1_000; i++) {
      const now = clock.availableMs();
      // Wall time less the run-queue wait the kernel booked so far (which may step a reading back).
      expect(now).toBeLessThanOrEqual(performance.now() + 1e-6);
      last = now;
    }
    expect(last - first).toBeLessThanOrEqual(performance.now() - wall0 + 1e-6);
  });

  it('falls back to wall time where there is no procfs', () => {
    const a = WALL_CLOCK.cpuMs();
    const b = WALL_CLOCK.availableMs();
    expect(b).toBeGreaterThanOrEqual(a);
  });
});
