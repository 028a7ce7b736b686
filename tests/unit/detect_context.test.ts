import { describe, expect, it } from 'vitest';
import { ContextDetector, CONTEXT_WARMUP_POINTS } from '../../src/analytics/context_detector.js';
import { detectSeries } from '../../src/analytics/detect_series.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

const STEP_MS = 300_000;

function surprises(values: number[], options = {}): number[] {
  const d = new ContextDetector(options);
  return values.map((v, i) => d.update(i * STEP_MS, v));
}

describe('ContextDetector (contextual n-gram surprise)', () => {
  // Every pair of consecutive values in this cycle is followed by one value only.
  const pattern = [0, 2, 5, 9, 5, 2, 1, 4];

  it('is silent during the warm-up and learns a repeating pattern until it is no news', () => {
    const values = Array.from({ length: 4000 }, (_, i) => pattern[i % pattern.length]!);
    const s = surprises(values);
    expect(s.slice(0, CONTEXT_WARMUP_POINTS).every((x) => x === 0)).toBe(true);
    // After many repetitions the probability of the next symbol tends to 1.
    expect(Math.max(...s.slice(3000))).toBeLessThan(0.01);
  });

  it('a value that never followed this context is a surprise; the same value in its usual context is not', () => {
    const values = Array.from({ length: 4000 }, (_, i) => pattern[i % pattern.length]!);
    // Position 3001 normally holds 2 (after 0): put 9 there, a known level in an unknown place.
    const at = 3001;
    expect(pattern[at % pattern.length]).toBe(2);
    values[at] = 9;
    const s = surprises(values);
    expect(s[at]!).toBeGreaterThan(2); // below 1 in 100
    expect(s[3003 + 8]!).toBeLessThan(0.01); // the 9 in its usual place, once the context is normal again
  });

  it('a level never seen before is a new symbol and a large surprise, with any bins and order', () => {
    for (const [bins, order] of [[8, 1], [16, 2], [32, 3]] as const) {
      const rng = new SeededRandom(bins + order);
      const values = Array.from({ length: 3000 }, (_, i) => 10 + rng.normal() + (i >= 2500 ? 20 : 0));
      const s = surprises(values, { bins, order });
      const before = Math.max(...s.slice(1500, 2500));
      expect(s[2500]!, `bins ${bins} order ${order}`).toBeGreaterThan(before);
    }
  });

  it('handles a constant warm-up, wild values and many distinct symbols (memory stays bounded)', () => {
    const d = new ContextDetector();
    for (let i = 0; i < CONTEXT_WARMUP_POINTS; i++) d.update(i, 5);
    expect(d.update(300, 5)).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(d.update(301, 1e300))).toBe(true);
    expect(Number.isFinite(d.update(302, -1e300))).toBe(true);
    // A drifting series mints a new symbol every point; past 2^16 counts the model forgets and goes on.
    let finite = true;
    for (let i = 0; i < 70_000; i++) finite &&= Number.isFinite(d.update(400 + i, 5 + i));
    expect(finite).toBe(true);
  });

  it('refuses meaningless options', () => {
    expect(() => new ContextDetector({ bins: 1 })).toThrow(/bins=1 must be an integer ≥ 2/);
    expect(() => new ContextDetector({ order: 0 })).toThrow(/order=0 must be an integer in \[1, 8\]/);
  });
});

describe('ensemble (alert rules\' auto) on synthetic anomalies (5 seeds)', () => {
  const N = 3000;
  const AT = 2500;
  function run(seed: number, inject: (v: Float64Array, rng: SeededRandom) => void): { delay: number; falseBefore: number } {
    const rng = new SeededRandom(1000 + seed);
    const t = Float64Array.from({ length: N }, (_, i) => i * STEP_MS);
    // A daily cycle three times the noise (at ten times, a 6σ shift is below the default level).
    const v = Float64Array.from({ length: N }, (_, i) => 50 + 3 * Math.sin((2 * Math.PI * i) / 288) + rng.normal());
    inject(v, rng);
    const { isAnomaly } = detectSeries(t, v, { method: 'ensemble', seed });
    let falseBefore = 0;
    for (let i = 0; i < AT; i++) falseBefore += isAnomaly[i]!;
    const first = isAnomaly.subarray(AT).indexOf(1);
    return { delay: first, falseBefore };
  }
  const cases: Array<[string, number, (v: Float64Array, rng: SeededRandom) => void]> = [
    ['level shift of 10σ', 0, (v) => { for (let i = AT; i < N; i++) v[i]! += 10; }],
    ['spike of 10σ', 0, (v) => { v[AT]! += 10; }],
    ['variance ×6', 10, (v, rng) => { for (let i = AT; i < N; i++) v[i]! += 6 * rng.normal(); }],
  ];
  for (const [what, within, inject] of cases) {
    it(`flags a ${what} within ${within} points, with no alarm before it`, () => {
      for (let seed = 1; seed <= 5; seed++) {
        const { delay, falseBefore } = run(seed, inject);
        expect(falseBefore, `seed ${seed}`).toBe(0);
        expect(delay, `seed ${seed}`).toBeGreaterThanOrEqual(0);
        expect(delay, `seed ${seed}`).toBeLessThanOrEqual(within);
      }
    });
  }
});
