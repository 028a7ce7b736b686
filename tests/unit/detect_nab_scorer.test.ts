import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asWrittenToCsv, loadNabCorpus, NAB_PROFILES, probationRows, scaledSigmoid, scoreNab, windowedGaussianScores } from '../../bench/nab_score.js';
import { categoryOf, crossValidateByCategory } from '../../bench/nab_cross_validation.js';
import { detectSeries } from '../../src/analytics/detect_series.js';

const fixtureDir = fileURLToPath(new URL('../fixtures/nab', import.meta.url));

function scoresWith(n: number, fires: number[], value = 1): Float64Array {
  const s = new Float64Array(n);
  for (const i of fires) s[i] = value;
  return s;
}

describe('NAB-style scorer (nab/sweeper.py semantics)', () => {
  const window: [number, number] = [50, 59];
  const maxTp = 2 / (1 + Math.exp(-5)) - 1; // 0.98661

  it('scaled sigmoid matches NAB’s documented points', () => {
    expect(scaledSigmoid(-1)).toBeCloseTo(0.98661, 5);
    expect(scaledSigmoid(-0.5)).toBeCloseTo(0.84828, 5);
    expect(scaledSigmoid(0)).toBe(0);
    expect(scaledSigmoid(1)).toBeCloseTo(-0.98661, 5);
    expect(scaledSigmoid(3.5)).toBe(-1);
    expect(scaledSigmoid(3)).toBe(-1); // sweeper.py: `>= 3.0`
    expect(scaledSigmoid(2.999)).toBeCloseTo(2 / (1 + Math.exp(5 * 2.999)) - 1, 12);
  });

  it('probation is min(floor(0.15 n), 750)', () => {
    expect([100, 4032, 5000, 10_000].map(probationRows)).toEqual([15, 604, 750, 750]);
  });

  it('a detection at the left edge of every window is perfect; never firing is null', () => {
    const [std, lowFp, lowFn] = scoreNab([{ name: 'a', scores: scoresWith(100, [50]), windows: [window] }]);
    expect(std!.normalised).toBeCloseTo(100, 10);
    expect(lowFp!.normalised).toBeCloseTo(100, 10);
    expect(lowFn!.normalised).toBeCloseTo(100, 10);
    expect(scoreNab([{ name: 'a', scores: new Float64Array(100), windows: [window] }])[0]!.normalised).toBe(0);
  });

  it('a late detection earns the sigmoid of its position; only the best one per window counts', () => {
    // Right edge: position −(59 − 59 + 1)/10 = −0.1.
    const late = (2 / (1 + Math.exp(-0.5)) - 1) / maxTp;
    const [std] = scoreNab([{ name: 'a', scores: scoresWith(100, [55, 59]), windows: [window] }]);
    const early = (2 / (1 + Math.exp(-2.5)) - 1) / maxTp; // row 55: −(59 − 55 + 1)/10 = −0.5
    expect(std!.raw).toBeCloseTo(early, 10);
    const [onlyLate] = scoreNab([{ name: 'a', scores: scoresWith(100, [59]), windows: [window] }]);
    expect(onlyLate!.raw).toBeCloseTo(late, 10);
    expect(onlyLate!.normalised).toBeCloseTo((100 * (late + 1)) / 2, 8);
  });

  it('false positives: −A_FP before any window, sigmoid-discounted just after one, free in probation', () => {
    // Row 62 after the window: p = |59 − 62| / (10 − 1).
    const after = 2 / (1 + Math.exp(5 * (3 / 9))) - 1;
    const files = [{ name: 'a', scores: scoresWith(100, [10, 30, 50, 62]), windows: [window] }];
    const [std, lowFp] = scoreNab(files);
    // Firing everywhere at the single level 1 is the only non-null choice here.
    expect(std!.raw).toBeCloseTo(1 - 0.11 + 0.11 * after, 10);
    expect(lowFp!.raw).toBeCloseTo(1 - 0.22 + 0.22 * after, 10);
    expect(std!.tp).toBe(1);
    expect(std!.fp).toBe(2);
  });

  it('sweeps one threshold over all files', () => {
    const files = [
      { name: 'a', scores: scoresWith(100, [50], 0.9), windows: [window] },
      // A second file whose only high score is a false positive at 0.95, above the true one.
      { name: 'b', scores: scoresWith(100, [20], 0.95), windows: [] },
    ];
    const [std] = scoreNab(files);
    expect(std!.threshold).toBe(0.9);
    expect(std!.raw).toBeCloseTo(1 - 0.11, 10);
  });

  it('scores are compared as NAB reads them from a results CSV: rounded to significant digits', () => {
    // Python 2 pandas wrote NAB's result files with 12 significant digits: 1 − Q(z) for z ≳ 7 is 1.0.
    const s = asWrittenToCsv([1 - 1e-13, 1 - 1e-11, 0.123456789123456, 0], 12);
    expect(Array.from(s)).toEqual([1, 0.99999999999, 0.123456789123, 0]);
    expect(Array.from(asWrittenToCsv([0.123456789123456], 8))).toEqual([0.12345679]);
    // Rows that tie after rounding enter the sweep together: the false positive at 1 − 1e-13 can
    // no longer be kept out while the true positive at exactly 1 is let in.
    const fires = (a: number, b: number): Float64Array => {
      const x = new Float64Array(100);
      x[20] = a;
      x[50] = b;
      return x;
    };
    const windows: Array<[number, number]> = [[50, 59]];
    const exact = scoreNab([{ name: 'a', scores: fires(1 - 1e-13, 1), windows }])[0]!;
    expect(exact.fp).toBe(0);
    const rounded = scoreNab([{ name: 'a', scores: asWrittenToCsv(fires(1 - 1e-13, 1), 12), windows }])[0]!;
    expect(rounded.fp).toBe(1);
    expect(rounded.raw).toBeCloseTo(1 - 0.11, 10);
  });

  it('a window ends at the first row of a repeated end timestamp (nab/sweeper.py timestamps.index)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emms-nab-'));
    try {
      mkdirSync(join(dir, 'labels'));
      mkdirSync(join(dir, 'realTest'));
      const rows = ['timestamp,value'];
      const stamp = (m: number): string => `2014-01-01 00:${String(m).padStart(2, '0')}:00`;
      for (let m = 0; m < 10; m++) rows.push(`${stamp(m)},${m}`);
      rows.push(`${stamp(9)},99`, `${stamp(9)},98`); // rows 10 and 11 repeat the end timestamp
      for (let m = 10; m < 20; m++) rows.push(`${stamp(m)},${m}`);
      writeFileSync(join(dir, 'realTest', 'f.csv'), rows.join('\n'));
      writeFileSync(join(dir, 'labels', 'combined_windows.json'),
        JSON.stringify({ 'realTest/f.csv': [[`${stamp(5)}.000000`, `${stamp(9)}.000000`]] }));
      const [file] = loadNabCorpus(dir);
      expect(file!.windows).toEqual([[5, 9]]);
      expect(file!.values).toHaveLength(22);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on the NAB fixture files, emms auto beats the windowed-Gaussian baseline', () => {
    const files = loadNabCorpus(fixtureDir);
    expect(files.map((f) => f.name)).toHaveLength(4);
    const gauss = scoreNab(files.map((f) => ({ name: f.name, scores: windowedGaussianScores(f.values), windows: f.windows })))[0]!;
    const auto = scoreNab(files.map((f) => ({ name: f.name, scores: detectSeries(f.timestamps, f.values).scores, windows: f.windows })))[0]!;
    expect(auto.normalised).toBeGreaterThan(gauss.normalised);
  });
});

describe('cross-validation by NAB category (bench/nab_cross_validation.ts)', () => {
  // Two categories of two files, one window each at rows 50..59 of 100.
  const names = ['catA/1.csv', 'catA/2.csv', 'catB/1.csv', 'catB/2.csv'];
  const window: [number, number] = [50, 59];
  const input = (name: string, fires: number[], level = 1): { name: string; scores: Float64Array; windows: Array<[number, number]> } => ({
    name,
    scores: scoresWith(100, fires, level),
    windows: [window],
  });

  it('chooses candidate and threshold on the training categories only, never on the held-out one', () => {
    // "good on A" fires in the window on catA files and outside it on catB files; "good on B" the
    // reverse. Holding out catA, training sees catB only, so it must choose "good on B" and
    // score badly on catA although "good on A" would be perfect there.
    const goodOnA = names.map((n) => input(n, n.startsWith('catA') ? [50] : [20]));
    const goodOnB = names.map((n) => input(n, n.startsWith('catB') ? [50] : [20]));
    const cv = crossValidateByCategory([{ label: 'A', inputs: goodOnA }, { label: 'B', inputs: goodOnB }], [NAB_PROFILES[0]!]);
    expect(cv.folds.map((f) => [f.category, f.chosen[0]])).toEqual([['catA', 'B'], ['catB', 'A']]);
    // Held-out at the training threshold: both catA files fire only outside their window.
    const foldA = cv.folds[0]!.heldOut[0]!;
    expect(foldA.tp).toBe(0);
    expect(foldA.fp).toBe(2);
    expect(foldA.raw).toBeCloseTo(-2 - 2 * 0.11, 10);
    expect(cv.mean[0]).toBeCloseTo(cv.folds[0]!.heldOut[0]!.normalised, 10);
    expect(cv.worst[0]).toBeCloseTo(foldA.normalised, 10);
    // Pooled: raw scores summed, normalised over the 4 windows.
    expect(cv.pooled[0]).toBeCloseTo((100 * (2 * foldA.raw + 4)) / 8, 10);
  });

  it('a fixed threshold scores only rows at or above it; a held-out category without windows counts its false positives', () => {
    const files = [input('catA/1.csv', [50], 0.9), { name: 'clean/1.csv', scores: scoresWith(100, [30], 0.95), windows: [] as Array<[number, number]> }];
    const atHigh = scoreNab(files, [NAB_PROFILES[0]!], [0.95])[0]!;
    expect([atHigh.tp, atHigh.fp]).toEqual([0, 1]);
    const cv = crossValidateByCategory([{ label: 'only', inputs: files }], [NAB_PROFILES[0]!]);
    const clean = cv.folds.find((f) => f.category === 'clean')!;
    expect(clean.windows).toBe(0);
    // Trained on catA alone, the threshold is 0.9: the clean file's 0.95 is a false positive.
    expect(clean.heldOut[0]!.fp).toBe(1);
    expect(categoryOf('realTweets/Twitter_volume_KO.csv')).toBe('realTweets');
  });
});
