import { describe, expect, it } from 'vitest';
import { CadDetector, factsOfLevel } from '../../src/analytics/cad_detector.js';
import { batchCadOptions, detectSeries } from '../../src/analytics/detect_series.js';
import { LEARNING_POINTS, thresholdForSensitivity } from '../../src/analytics/novelty_ensemble.js';
import { createStreamingDetector } from '../../src/analytics/streaming_detector.js';

const STEP_MS = 300_000;

function run(values: readonly number[], options: ConstructorParameters<typeof CadDetector>[0]): number[] {
  const d = new CadDetector(options);
  return values.map((v) => d.update(v));
}

/** A noiseless daily-like cycle of 48 points over [0, 100]. */
function cycle(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 50 + 50 * Math.sin((2 * Math.PI * (i % 48)) / 48));
}

describe('CadDetector (CAD OSE contextual facts)', () => {
  it('turns a level into one fact per bit: 2·bit + value', () => {
    expect(factsOfLevel(0)).toEqual([0, 2, 4]);
    expect(factsOfLevel(5)).toEqual([1, 2, 5]); // 101: bit 0 = 1, bit 1 = 0, bit 2 = 1
    expect(factsOfLevel(7)).toEqual([1, 3, 5]);
  });

  it('scores a hand-traced alternation 0, 7, 0, 7, … over the range [0, 7]', () => {
    // Step 1: nothing predicted, nothing selected, nothing proposed: (1 − 0 + 0)/2 = 0.5.
    // Step 2: the transition {0,2,4} → {1,3,5} is the only context proposed and it is new:
    //         (1 − 0 + 1/1)/2 = 1. Step 3: likewise {1,3,5} → {0,2,4}: 1.
    // Step 4: the context of step 2 predicted {1,3,5} and it came whole: every bit was
    //         predicted, so the score is 0 (its raw value, (1 − 1/1 + 0)/2, is 0 as well).
    // Step 5: predicted by the context of step 3: 0. From then on the alternation is learnt.
    // Step 11 breaks it with 3 = {1,3,4}: bit 2 was predicted 1, none of the contexts that
    // predicted this step came whole, and every context proposed from the overlap is new: 1.
    const values = [0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 3, 7, 0];
    const scores = run(values, { range: { min: 0, max: 7 }, restPoints: 0 });
    expect(scores.slice(0, 5)).toEqual([0.5, 1, 1, 0, 0]);
    expect(scores.slice(5, 10)).toEqual([0, 0, 0, 0, 0]);
    expect(scores[10]).toBe(1);
  });

  it('reports 0 during the rest period: the first restPoints points and restPoints after each score ≥ 0.75', () => {
    const values = [0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 3, 7, 0];
    const raw = run(values, { range: { min: 0, max: 7 }, restPoints: 0 });
    const rested = run(values, { range: { min: 0, max: 7 }, restPoints: 2 });
    expect(raw[11]).toBe(1);
    // Points 0–1: the opening rest; 2: rests after point 1 (1 ≥ 0.75); 10: reported; 11: rests.
    expect(rested).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
  });

  it('depends on values only through their level: rescaled values give the same scores', () => {
    const values = cycle(600);
    values[400] = 100; // out of phase: the top of the cycle at its bottom
    const given = run(values, { range: { min: 0, max: 100 } });
    expect(run(values.map((v) => 3e6 + 250 * v), { range: { min: 3e6, max: 3e6 + 25_000 } })).toEqual(given);
    // A power-of-two scale keeps every level boundary exact (an arbitrary one can move a value
    // that sits on a boundary by one ulp, and then one level).
    const learnt = run(values, {});
    expect(run(values.map((v) => -1024 * v), {})).not.toEqual(learnt);
    expect(run(values.map((v) => 1024 * v), {})).toEqual(learnt);
  });

  it('learns a repeating cycle and flags a value out of its place', () => {
    const values = cycle(3000);
    const at = 2412; // 2412 mod 48 = 12: the top of the cycle (100), set to its bottom (0)
    values[at] = 0;
    for (const options of [{ range: { min: 0, max: 100 } }, {}]) {
      const scores = run(values, options);
      // CAD never falls fully silent on a cycle (ties among predicting contexts leave some bits
      // unpredicted), but stays below its base threshold; the misplaced value scores 0.99.
      expect(Math.max(...scores.slice(1000, at))).toBeLessThan(0.5);
      expect(scores[at]).toBeGreaterThan(0.95);
      expect(Math.max(...scores.slice(at + 1))).toBeLessThan(0.5);
    }
  });

  it('without a range, quantises over the values seen so far', () => {
    // The first value is its own range (a one-unit step: level 0); then 10 widens the range.
    const d = new CadDetector({ restPoints: 0 });
    expect(d.update(10)).toBe(0.5);
    expect(d.contextCount).toBe(0);
    d.update(20);
    expect(d.contextCount).toBe(1);
  });

  it('refuses bad options and values with the field and value named', () => {
    expect(() => new CadDetector({ range: { min: 5, max: 1 } })).toThrow(/range=\{min: 5, max: 1\}/);
    expect(() => new CadDetector({ range: { min: 0, max: Infinity } })).toThrow(/must be finite/);
    expect(() => new CadDetector({ restPoints: -1 })).toThrow(/restPoints=-1/);
    expect(() => new CadDetector({ restPoints: 1.5 })).toThrow(/restPoints=1.5/);
    expect(() => new CadDetector().update(NaN)).toThrow(/value=NaN/);
  });
});

describe('method cad through detectSeries and createStreamingDetector', () => {
  it('detectSeries gives CAD the series range and NAB\'s rest period (a fifth of min(⌊0.15·rows⌋, 750))', () => {
    const values = cycle(2000);
    values[1500] = 0;
    const options = batchCadOptions(values);
    expect(options).toEqual({ range: { min: Math.min(...values), max: Math.max(...values) }, restPoints: 60 });
    expect(batchCadOptions(new Float64Array(6000)).restPoints).toBe(150);
    expect(batchCadOptions([NaN, NaN])).toEqual({ restPoints: 0 });
    const timestamps = values.map((_, i) => i * STEP_MS);
    const result = detectSeries(timestamps, values, { method: 'cad' });
    expect(Array.from(result.scores)).toEqual(run(values, options));
    expect(result.threshold).toBe(thresholdForSensitivity(0.5, 'cad'));
    const alarms = [...result.isAnomaly.keys()].filter((i) => result.isAnomaly[i] === 1);
    expect(alarms.every((i) => i >= LEARNING_POINTS)).toBe(true);
    expect(alarms.some((i) => i >= 1500 && i <= 1501)).toBe(true);
  });

  it('maps sensitivity 0.5 to 0.95 and 0.9 to CAD\'s base threshold 0.75', () => {
    expect(thresholdForSensitivity(0.5, 'cad')).toBe(0.95);
    expect(thresholdForSensitivity(0.9, 'cad')).toBeCloseTo(0.75, 12);
    expect(thresholdForSensitivity(0, 'cad')).toBe(1);
    expect(thresholdForSensitivity(1, 'cad')).toBeCloseTo(0.7, 12);
  });

  it('streams in arrival order, skipping missing values, with no range known', () => {
    const detector = createStreamingDetector({ method: 'cad' });
    const reference = new CadDetector({});
    const values = cycle(500);
    values.forEach((v, i) => {
      // A clock step back changes nothing: CAD reads values in arrival order.
      const t = i === 300 ? 0 : i * STEP_MS;
      expect(detector.update(t, v).score).toBe(reference.update(v));
      if (i === 200) expect(detector.update(t, NaN)).toEqual({ score: 0, isAnomaly: false });
    });
    expect(detector.count).toBe(501);
  });
});
