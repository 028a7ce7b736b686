/**
 * The settle policy's pure parts (src/storage/settle_policy.ts), on a clock the test moves:
 * the quiet detector over the commit rate, which heads are cut when, and how far a
 * checkpoint may delete records while heads it left hold points of them.
 */
import { describe, expect, it } from 'vitest';
import {
  CommitRateWindow, DEFAULT_SETTLE_CONFIG, HeadAges, SETTLE_ENV, deletableUpTo, isQuiet, pickSettleCuts, recordIndex, resolveSettleConfig, type SettleConfig, type SettleView,
} from '../../src/storage/settle_policy.js';

const config: SettleConfig = { ...DEFAULT_SETTLE_CONFIG };
const T = 1_700_000_000_000;

describe('quiet detector', () => {
  it('is loud during a burst and for one window after it, quiet after', () => {
    const rate = new CommitRateWindow(config.quietWindowMs);
    expect(isQuiet(rate, T, config)).toBe(true);
    // 2 M points/s for 3 s, in 10 ms commits.
    for (let t = 0; t < 3000; t += 10) rate.note(T + t, 20_000);
    expect(rate.pointsPerSecond(T + 3000)).toBeCloseTo(600_000, -3);
    expect(isQuiet(rate, T + 3000, config)).toBe(false);
    expect(isQuiet(rate, T + 3000 + config.quietWindowMs - 1000, config)).toBe(false);
    expect(isQuiet(rate, T + 3000 + config.quietWindowMs + 1000, config)).toBe(true);
    expect(rate.lastCommitMs).toBe(T + 2990);
  });

  it('stays loud under bursts whose pauses are shorter than the window', () => {
    const rate = new CommitRateWindow(config.quietWindowMs);
    // A 500k-point batch every 5 s (a remote-write client at its default deadline).
    for (let k = 0; k < 10; k++) {
      rate.note(T + k * 5000, 500_000);
      expect(isQuiet(rate, T + k * 5000 + 4999, config)).toBe(false);
    }
  });

  it('stays quiet under a trickle of thousands of series at one point a second', () => {
    const rate = new CommitRateWindow(config.quietWindowMs);
    for (let s = 0; s < 60; s++) {
      rate.note(T + s * 1000, 5000);
      expect(isQuiet(rate, T + s * 1000, config)).toBe(true);
    }
    expect(rate.pointsPerSecond(T + 59_000)).toBeCloseTo(5000, -2);
  });
});

function view(over: Partial<SettleView> & { lengths: number[] }): SettleView {
  return {
    nowMs: T, seriesCount: over.lengths.length, headLength: (sid) => over.lengths[sid] ?? 0, ages: new HeadAges(), walLog: [], walMaxAgeMs: 7_200_000, ...over,
  };
}

describe('pickSettleCuts', () => {
  it('cuts big heads of idle series, and counts big heads of live series as waiting', () => {
    const ages = new HeadAges();
    ages.noteAppend(0, 1, T - 20_000); // idle, 3000 points
    ages.noteAppend(1, 1, T - 1_000); // live, 3000 points
    ages.noteAppend(2, 2, T - 60_000); // idle, 10 points
    const walLog = [1, 1000, T - 30_000, 2, 1000, T - 20_000];
    const plan = pickSettleCuts(view({ lengths: [3000, 3000, 10, 0], ages, walLog }), config);
    expect(plan).toEqual({ cut: [0], waiting: 1 });
  });

  it('cuts a small idle head once it pins enough records, or its oldest record passed the age limit', () => {
    const ages = new HeadAges();
    ages.noteAppend(0, 1, T - 60_000);
    ages.noteAppend(1, 3, T - 60_000);
    // Record 1 holds 2 MiB, records 2 and 3 little.
    const walLog = [1, 2 * 1024 * 1024, T - 100_000, 2, 100, T - 90_000, 3, 100, T - 80_000];
    expect(pickSettleCuts(view({ lengths: [5, 5], ages, walLog }), config).cut).toEqual([0]);
    const old = pickSettleCuts(view({ lengths: [5, 5], ages, walLog, nowMs: T - 80_000 + 7_200_000 }), config);
    expect(old.cut).toEqual([0, 1]);
  });

  it('never cuts a trickle writer: its series is never idle, and its small heads pin little', () => {
    const trickle: SettleConfig = { ...config, seriesIdleMs: 3000 };
    const ages = new HeadAges();
    const walLog: number[] = [];
    for (let s = 0; s < 120; s++) {
      walLog.push(s + 1, 200, T + s * 1000);
      for (let sid = 0; sid < 50; sid++) ages.noteAppend(sid, s + 1, T + s * 1000);
      const plan = pickSettleCuts(view({ lengths: new Array(50).fill(s + 1), ages, walLog, nowMs: T + s * 1000 + 999 }), trickle);
      expect(plan.cut).toEqual([]);
    }
    // Once it stops, 120-point heads pinning 24 kB stay: no chunk per point.
    expect(pickSettleCuts(view({ lengths: new Array(50).fill(120), ages, walLog, nowMs: T + 600_000 }), trickle)).toEqual({ cut: [], waiting: 0 });
  });

  it('grows its per-series arrays for large ids and forgets cut heads', () => {
    const ages = new HeadAges();
    ages.noteAppend(5000, 7, T);
    ages.noteAppend(5000, 9, T + 1);
    expect(ages.firstWal[5000]).toBe(7);
    expect(ages.lastAppendMs[5000]).toBe(T + 1);
    ages.noteCut(5000);
    ages.noteCut(1 << 20);
    expect(ages.firstWal[5000]).toBe(0);
    ages.noteAppend(5000, 9, T + 2);
    expect(ages.firstWal[5000]).toBe(9);
    ages.reset();
    expect(ages.firstWal[5000]).toBe(0);
  });
});

describe('records a checkpoint may delete', () => {
  it('stops before the oldest record a remaining head or cut holds points of', () => {
    expect(deletableUpTo(100, [0, 0])).toBe(100);
    expect(deletableUpTo(100, [0, 40, 70])).toBe(39);
    expect(deletableUpTo(100, new Float64Array([0, 150]))).toBe(100);
    expect(deletableUpTo(100, [1])).toBe(0);
  });

  it('finds a record by id in the flat log', () => {
    const log = [3, 10, T, 5, 10, T, 9, 10, T];
    expect(recordIndex(log, 1)).toBe(0);
    expect(recordIndex(log, 5)).toBe(1);
    expect(recordIndex(log, 6)).toBe(2);
    expect(recordIndex(log, 10)).toBe(3);
  });
});

describe('resolveSettleConfig', () => {
  it('takes overrides, then the environment, and names a bad variable and its value', () => {
    expect(resolveSettleConfig()).toEqual(DEFAULT_SETTLE_CONFIG);
    expect(resolveSettleConfig({ seriesIdleMs: 500 }, { [SETTLE_ENV.quietWindowMs]: '2000', [SETTLE_ENV.minCutPoints]: '' })).toMatchObject({ seriesIdleMs: 500, quietWindowMs: 2000, minCutPoints: 256 });
    expect(() => resolveSettleConfig({}, { [SETTLE_ENV.seriesIdleMs]: '1.5' })).toThrow(/EMMS_SETTLE_SERIES_IDLE_MS="1.5": must be an integer/);
    expect(() => resolveSettleConfig({}, { [SETTLE_ENV.pinBytes]: '0' })).toThrow(/EMMS_SETTLE_PIN_BYTES/);
  });
});
