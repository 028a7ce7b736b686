/**
 * NAB-style scorer and runner: scores streaming detectors on the Numenta Anomaly Benchmark files
 * in ../shared/data/nab (or NAB_DIR) the way NAB v1.1 does (nab/sweeper.py, nab/scorer.py at
 * https://github.com/numenta/NAB, commit ea702d75):
 *   - rows in the probationary period, the first min(floor(0.15·rows), 750), are not scored;
 *   - a detection inside a window earns A_TP·σ(y)/σ(−1), y = −(right − i + 1)/width, and only the
 *     best (earliest) detection of a window counts; an undetected window costs A_FN;
 *   - a detection outside every window costs A_FP·σ(p), p = |i − previous right edge|/(previous
 *     width − 1), or −A_FP when no window precedes it or p ≥ 3; σ(x) = 2/(1 + e^{5x}) − 1;
 *   - a window runs from the first row with its start timestamp to the FIRST row with its end
 *     timestamp (rows repeating the end timestamp fall outside, as `timestamps.index(end)` there);
 *   - scores are compared as NAB reads them back from a results CSV (asWrittenToCsv): 8
 *     significant digits for `emms detect`, 12 for NAB's own result files; with full doubles the
 *     windowed Gaussian scored 22.90 / 5.72 / 31.85 instead of the README's 20.85 / 0.00 / 31.85,
 *     which this code now reproduces exactly;
 *   - one threshold per profile is swept over all files together, keeping the best total;
 *   - normalised = 100·(raw − null)/(perfect − null), null = −A_FN·windows, perfect = A_TP·windows.
 *
 * Run: `npx tsx bench/nab_score.ts` prints DEVELOPMENT figures: the three profile scores of each
 * `emms detect --method` (same code path as the CLI) beside NAB's windowed-Gaussian baseline
 * (as nab/detectors/gaussian/windowedGaussian_detector.py), every threshold swept on the same
 * files the constants were chosen on — an over-statement, never the result (NAB_QUICK=1: 7 files;
 * NAB_METHOD=auto: one method, any of src/analytics/streaming_detector.ts' DETECTOR_METHODS;
 * NAB_PER_FILE=1: per-file breakdown at the standard threshold).
 *
 * `NAB_CV=1 npx tsx bench/nab_score.ts` (or --cv) prints the RESULT, cross-validation by NAB
 * category (bench/nab_cross_validation.ts): everything tuned is chosen on the other categories,
 * and the held-out category is scored at that choice. Per fold and per seed, with the mean over
 * folds, the worst fold and the pooled held-out score (NAB normalises a corpus as one, so the
 * pooled figure is the one that predicts NAB's score on new files); the development figure of
 * the same run is printed beside each, labelled. In order:
 *   1. the batch default, `auto` as `emms detect` and detectSeries run it: CAD OSE over the file's
 *      range (src/analytics/cad_detector.ts), scored through detectSeries itself. Its constants
 *      are CAD's published ones, so only each profile's threshold is chosen on the training
 *      folds. CAD draws no random numbers: the run checks that seeds 1..NAB_SEEDS give identical
 *      scores on every file, so its table stands for every seed;
 *   2. `--method ensemble` (what alert rules run under `auto`) over CV_GRID, seeds 1..NAB_SEEDS
 *      (default 5; its isolation forest is randomised), with the spread over seeds;
 *   3. CAD over the range seen so far (what a stream would have), for comparison.
 * `NAB_CV=1 NAB_METHOD=auto` (or cad) runs part 1 alone, `NAB_METHOD=ensemble` part 2.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { parseSeriesCsv, parseTimestampCell } from '../src/analytics/series_csv.js';
import { normalUpperTail } from '../src/analytics/normal_distribution.js';
import { batchCadOptions, detectSeries } from '../src/analytics/detect_series.js';
import { CadDetector } from '../src/analytics/cad_detector.js';
import type { ContextOptions } from '../src/analytics/context_detector.js';
import type { DetectorMethod } from '../src/analytics/streaming_detector_contract.js';
import { chooseOnTraining, crossValidateByCategory, type CvCandidate, type CvSummary } from './nab_cross_validation.js';
import { baseSurprises, checkAgainstDetectSeries, combine, contextSurprises } from './nab_auto_candidates.js';

export interface NabProfile {
  name: string;
  tp: number;
  fp: number;
  fn: number;
}

export const NAB_PROFILES: readonly NabProfile[] = [
  { name: 'standard', tp: 1, fp: 0.11, fn: 1 },
  { name: 'reward_low_FP_rate', tp: 1, fp: 0.22, fn: 1 },
  { name: 'reward_low_FN_rate', tp: 1, fp: 0.11, fn: 2 },
];

export interface NabFileInput {
  name: string;
  /** One score per row, in file order. */
  scores: ArrayLike<number>;
  /** Windows as inclusive row-index ranges. */
  windows: Array<[number, number]>;
}

/** nab/sweeper.py's scaledSigmoid (−1 from position 3 on, as there: `>= 3.0`). */
export function scaledSigmoid(position: number): number {
  return position >= 3 ? -1 : 2 / (1 + Math.exp(5 * position)) - 1;
}

/**
 * Scores as NAB's scorer sees them after a CSV round trip. NAB reads each detector's
 * anomaly_score column back from its results CSV, so the precision it was written with decides
 * which rows tie at the top of the threshold sweep. NAB's bundled result files were written by
 * Python 2 pandas (`str(float)`: 12 significant digits), which turns every 1 − Q(z) with z ≳ 7 into
 * exactly 1.0; `emms detect` writes 8 significant digits (src/cli/detect_command.ts). Without this
 * the windowed Gaussian scored 22.90 / 5.72 / 31.85 here instead of NAB's 20.85 / 0.00 / 31.85.
 */
export function asWrittenToCsv(scores: ArrayLike<number>, significantDigits: number): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = Number(scores[i]!.toPrecision(significantDigits));
  return out;
}

/** Significant digits of the anomaly_score column `emms detect` writes. */
export const DETECT_CSV_DIGITS = 8;
/** Significant digits of NAB's bundled (Python 2) result files. */
export const NAB_RESULTS_CSV_DIGITS = 12;

export function probationRows(rows: number): number {
  return Math.min(Math.floor(0.15 * rows), Math.floor(0.15 * 5000));
}

interface ScoredRow {
  score: number;
  /** Window id (global across files) or -1 outside windows. */
  window: number;
  /** Unweighted sigmoid value: TP credit inside windows, FP factor outside. */
  weight: number;
}

export interface NabResult {
  profile: string;
  threshold: number;
  raw: number;
  normalised: number;
  tp: number;
  fp: number;
  fn: number;
}

interface ScoredRows {
  /** Scored rows (after probation) of all files, highest score first. */
  rows: ScoredRow[];
  windowCount: number;
}

function scoredRows(files: readonly NabFileInput[]): ScoredRows {
  const rows: ScoredRow[] = [];
  let windowCount = 0;
  const maxTp = scaledSigmoid(-1);
  for (const file of files) {
    const n = file.scores.length;
    const probation = probationRows(n);
    const windowOf = new Int32Array(n).fill(-1);
    const windowSpan: Array<[number, number]> = [];
    for (const [lo, hi] of file.windows) {
      const id = windowCount++;
      windowSpan[id] = [lo, hi];
      for (let i = lo; i <= hi; i++) windowOf[i] = id;
    }
    let prevRight = -1;
    let prevWidth = 0;
    for (let i = 0; i < n; i++) {
      const w = windowOf[i]!;
      let weight: number;
      if (w >= 0) {
        const [lo, hi] = windowSpan[w]!;
        const width = hi - lo + 1;
        weight = scaledSigmoid(-(hi - i + 1) / width) / maxTp;
        if (i === hi) {
          prevRight = hi;
          prevWidth = width;
        }
      } else if (prevRight < 0) {
        weight = -1;
      } else {
        weight = scaledSigmoid(Math.abs(prevRight - i) / (prevWidth - 1));
      }
      if (i >= probation) rows.push({ score: file.scores[i]!, window: w, weight });
    }
  }
  rows.sort((a, b) => b.score - a.score);
  return { rows, windowCount };
}

/**
 * Scores every profile. Without `thresholds` the threshold is swept over all rows of all files
 * together, as NAB does; with `thresholds` (one per profile, e.g. chosen on training folds) each
 * profile is scored at its given threshold only — the held-out score of a cross-validation.
 */
export function scoreNab(files: readonly NabFileInput[], profiles: readonly NabProfile[] = NAB_PROFILES, thresholds?: readonly number[]): NabResult[] {
  const { rows, windowCount } = scoredRows(files);
  const results: NabResult[] = [];
  for (const [k, p] of profiles.entries()) {
    const fixed = thresholds?.[k];
    const best = new Float64Array(windowCount).fill(NaN);
    let total = -p.fn * windowCount;
    let bestTotal = total;
    let bestThreshold = fixed ?? Infinity;
    let tp = 0;
    let fp = 0;
    let bestCounts = { tp: 0, fp: 0 };
    let i = 0;
    while (i < rows.length) {
      const s = rows[i]!.score;
      if (fixed !== undefined && s < fixed) break;
      for (; i < rows.length && rows[i]!.score === s; i++) {
        const r = rows[i]!;
        if (r.window >= 0) {
          const credit = p.tp * r.weight;
          const old = best[r.window]!;
          if (Number.isNaN(old)) {
            best[r.window] = credit;
            total += credit + p.fn;
            tp++;
          } else if (credit > old) {
            best[r.window] = credit;
            total += credit - old;
          }
        } else {
          total += p.fp * r.weight;
          fp++;
        }
      }
      if (fixed !== undefined || total > bestTotal) {
        bestTotal = total;
        if (fixed === undefined) bestThreshold = s;
        bestCounts = { tp, fp };
      }
    }
    const nullScore = -p.fn * windowCount;
    const perfect = p.tp * windowCount;
    results.push({
      profile: p.name,
      threshold: bestThreshold,
      raw: bestTotal,
      normalised: windowCount === 0 ? 0 : (100 * (bestTotal - nullScore)) / (perfect - nullScore),
      tp: bestCounts.tp,
      fp: bestCounts.fp,
      fn: windowCount - bestCounts.tp,
    });
  }
  return results;
}

/** NAB's windowed Gaussian: 1 − Q(|z|) against mean/std of the last 6400 values, refreshed every 100. */
export function windowedGaussianScores(values: ArrayLike<number>, windowSize = 6400, stepSize = 100): Float64Array {
  const out = new Float64Array(values.length);
  let window: number[] = [];
  let stepBuffer: number[] = [];
  let mean = 0;
  let std = 1;
  const refresh = (): void => {
    mean = window.reduce((a, b) => a + b, 0) / window.length;
    std = Math.sqrt(window.reduce((a, b) => a + (b - mean) ** 2, 0) / window.length);
    if (std === 0) std = 0.000001;
  };
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (window.length > 0) out[i] = 1 - normalUpperTail(Math.abs(v - mean) / std);
    if (window.length < windowSize) {
      window.push(v);
      refresh();
    } else {
      stepBuffer.push(v);
      if (stepBuffer.length === stepSize) {
        window = window.slice(stepSize).concat(stepBuffer);
        stepBuffer = [];
        refresh();
      }
    }
  }
  return out;
}

export interface NabFile {
  name: string;
  timestamps: Float64Array;
  values: Float64Array;
  windows: Array<[number, number]>;
}

/** Loads every labelled file of a NAB folder (data/<category>/<file>.csv + labels/combined_windows.json). */
export function loadNabCorpus(dir: string): NabFile[] {
  const labels = JSON.parse(readFileSync(join(dir, 'labels', 'combined_windows.json'), 'utf8')) as Record<string, string[][]>;
  const files: NabFile[] = [];
  for (const name of Object.keys(labels).sort()) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const table = parseSeriesCsv(readFileSync(path, 'utf8'), name);
    const windows: Array<[number, number]> = [];
    for (const [startText, endText] of labels[name]!) {
      const start = parseTimestampCell(startText!);
      const end = parseTimestampCell(endText!);
      // As nab/sweeper.py: the window opens at the first row with the start timestamp and its
      // right edge is the FIRST row with the end timestamp (`timestamps.index(end)`), so rows
      // repeating the end timestamp after it lie outside the window.
      const lo = table.timestamps.findIndex((t) => t === start);
      const hi = table.timestamps.findIndex((t) => t === end);
      if (lo < 0 || hi < lo) {
        throw new Error(`nab_score: window [${startText}, ${endText}] of ${name} does not match its timestamps`);
      }
      windows.push([lo, hi]);
    }
    files.push({ name, timestamps: table.timestamps, values: table.values, windows });
  }
  return files;
}

function defaultNabDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [process.env.NAB_DIR, join(here, '../../shared/data/nab'), join(here, '../tests/fixtures/nab')]) {
    if (candidate !== undefined && existsSync(join(candidate, 'labels', 'combined_windows.json'))) return candidate;
  }
  throw new Error('nab_score: no NAB folder found; set NAB_DIR to a folder with labels/combined_windows.json');
}

function formatRow(label: string, results: NabResult[]): string {
  return `| ${label.padEnd(32)} | ${results.map((r) => r.normalised.toFixed(2).padStart(6)).join(' | ')} | ` +
    `${results.map((r) => `${r.tp}/${r.fp}`).join(' ')} | ${results[0]!.threshold.toFixed(3)} |`;
}

/** Windows detected and false-positive rows of one file at a given threshold (for the breakdown). */
function fileBreakdown(input: NabFileInput, threshold: number): string {
  const n = input.scores.length;
  let fp = 0;
  const hit = new Set<number>();
  for (let i = probationRows(n); i < n; i++) {
    if (input.scores[i]! < threshold) continue;
    const w = input.windows.findIndex(([lo, hi]) => i >= lo && i <= hi);
    if (w >= 0) hit.add(w);
    else fp++;
  }
  return `windows ${hit.size}/${input.windows.length}, false-positive rows ${fp}`;
}

/** A method's scores on every file, as `emms detect` writes them (8 significant digits). */
function detectInputs(files: readonly NabFile[], method: string, seed: number): NabFileInput[] {
  return files.map((f) => ({
    name: f.name,
    scores: asWrittenToCsv(detectSeries(f.timestamps, f.values, { method: method as DetectorMethod, seed }).scores, DETECT_CSV_DIGITS),
    windows: f.windows,
  }));
}

/**
 * The candidates the cross-validation of `ensemble` chooses among, fixed before it was run: the
 * two constants of its contextual component (context_detector.ts), each over a range with a reason of its
 * own — 8, 16 or 32 bins (3 to 5 bits per value) and a context of 1, 2 or 3 previous values.
 * Every other constant of the detector is fixed (each comment gives its reason; those that
 * were once swept on these 20 files say so, and that is a leak this CV cannot remove).
 */
export const CV_GRID: readonly ContextOptions[] = [8, 16, 32].flatMap((bins) => [1, 2, 3].map((order) => ({ bins, order })));

const pct = (x: number): string => x.toFixed(1).padStart(5);

const cvSeeds = (): number => Number(process.env.NAB_SEEDS ?? 5);

/** NAB_CV=1: cross-validation of `ensemble` by category over CV_GRID, seeds 1..NAB_SEEDS (default 5). */
function crossValidationReport(files: readonly NabFile[]): void {
  const seeds = cvSeeds();
  const [standard, lowFp] = [NAB_PROFILES[0]!, NAB_PROFILES[1]!];
  const profiles = [standard, lowFp];
  console.log(`\nCross-validation of --method ensemble (alert rules' auto) by NAB category (folds fixed before tuning; candidate and threshold chosen on the other categories only; ${CV_GRID.length} candidates, seeds 1..${seeds})`);
  console.log('| seed | held-out category | files | windows | standard | reward_low_FP | chosen (standard / low_FP) |');
  console.log('|---|---|---|---|---|---|---|');
  const summaries: CvSummary[] = [];
  const development: number[][] = [];
  const contexts = CV_GRID.map((context) => contextSurprises(files, context));
  for (let seed = 1; seed <= seeds; seed++) {
    const base = baseSurprises(files, seed);
    const candidates: CvCandidate[] = CV_GRID.map((context, c) => {
      const scores = files.map((_, i) => combine(base[i]!, contexts[c]![i]!));
      if (seed === 1 && c === 0) checkAgainstDetectSeries(files, seed, context, scores);
      return {
        label: `b${context.bins}o${context.order}`,
        inputs: files.map((f, i) => ({ name: f.name, scores: asWrittenToCsv(scores[i]!, DETECT_CSV_DIGITS), windows: f.windows })),
      };
    });
    const cv = crossValidateByCategory(candidates, profiles);
    summaries.push(cv);
    for (const f of cv.folds) {
      const cell = (k: number): string => f.windows > 0 ? pct(f.heldOut[k]!.normalised) : `${f.heldOut[k]!.fp} FP rows`;
      console.log(`| ${seed} | ${f.category} | ${f.files} | ${f.windows} | ${cell(0)} | ${cell(1)} | ${f.chosen.join(' / ')} |`);
    }
    console.log(`| ${seed} | **mean of folds / worst / pooled** | | | ${pct(cv.mean[0]!)} / ${pct(cv.worst[0]!)} / ${pct(cv.pooled[0]!)} | ` +
      `${pct(cv.mean[1]!)} / ${pct(cv.worst[1]!)} / ${pct(cv.pooled[1]!)} | |`);
    // Development figure: candidate and threshold chosen on all 20 files, scored on the same 20.
    development.push(profiles.map((p) => chooseOnTraining(candidates, () => true, p).normalised));
  }
  const spread = (xs: number[]): string => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return `${mean.toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  };
  console.log(`\nOver ${seeds} seeds, mean (min–max):`);
  for (const [k, p] of profiles.entries()) {
    console.log(`  ${p.name.padEnd(20)} held-out mean of folds ${spread(summaries.map((s) => s.mean[k]!))}, worst fold ${spread(summaries.map((s) => s.worst[k]!))}, ` +
      `pooled ${spread(summaries.map((s) => s.pooled[k]!))}; DEVELOPMENT figure (tuned and scored on all ${files.length} files, not a result): ${spread(development.map((d) => d[k]!))}`);
  }
}

/** CAD's scores per file over the range seen so far (what a stream has). */
function streamedCadScores(files: readonly NabFile[]): Float64Array[] {
  return files.map((f) => {
    const cad = new CadDetector({ restPoints: batchCadOptions(f.values).restPoints });
    return Float64Array.from(f.values, (v) => cad.update(v));
  });
}

/** The batch default's scores, through detectSeries (the `emms detect` path), after checking that the seed changes nothing. */
function batchDefaultScores(files: readonly NabFile[]): Float64Array[] {
  return files.map((f) => {
    const reference = detectSeries(f.timestamps, f.values, { method: 'auto', seed: 1 });
    if (reference.method !== 'cad') throw new Error(`nab_score: batch auto ran ${reference.method}, not cad`);
    for (let seed = 2; seed <= cvSeeds(); seed++) {
      const other = detectSeries(f.timestamps, f.values, { method: 'auto', seed }).scores;
      const at = other.findIndex((x, i) => x !== reference.scores[i]);
      if (at >= 0) throw new Error(`nab_score: batch auto on ${f.name}, seed ${seed}, row ${at}: ${other[at]} ≠ seed 1's ${reference.scores[at]}`);
    }
    return reference.scores;
  });
}

/**
 * NAB_CV=1: held-out figures of CAD-scored runs; only each profile's threshold is chosen, on the
 * training folds. The batch default first; its pooled figures are the expectation for files it
 * has never seen.
 */
function cadCrossValidationReport(files: readonly NabFile[], runs: ReadonlyArray<'batch default' | 'streamed cad'>): void {
  const profiles = [NAB_PROFILES[0]!, NAB_PROFILES[1]!];
  const seeds = cvSeeds();
  console.log(`\nCross-validation of the batch default (\`emms detect\`, detectSeries: auto = cad over the file's range; CAD OSE's published constants; each profile's threshold chosen on the other categories)` +
    `${runs.includes('streamed cad') ? ', and of cad over the range seen so far (a stream)' : ''}.`);
  console.log('| run | held-out category | files | windows | standard | reward_low_FP | threshold (standard / low_FP) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const run of runs) {
    const t0 = performance.now();
    const scores = run === 'batch default' ? batchDefaultScores(files) : streamedCadScores(files);
    const seconds = (performance.now() - t0) / 1000;
    const candidate: CvCandidate = {
      label: run,
      inputs: files.map((f, i) => ({ name: f.name, scores: asWrittenToCsv(scores[i]!, DETECT_CSV_DIGITS), windows: f.windows })),
    };
    const cv = crossValidateByCategory([candidate], profiles);
    for (const f of cv.folds) {
      const cell = (k: number): string => f.windows > 0 ? pct(f.heldOut[k]!.normalised) : `${f.heldOut[k]!.fp} FP rows`;
      console.log(`| ${run} | ${f.category} | ${f.files} | ${f.windows} | ${cell(0)} | ${cell(1)} | ${f.heldOut.map((r) => r.threshold.toFixed(3)).join(' / ')} |`);
    }
    const development = profiles.map((p) => chooseOnTraining([candidate], () => true, p).normalised);
    console.log(`| ${run} | **mean of folds / worst / pooled** | | | ${pct(cv.mean[0]!)} / ${pct(cv.worst[0]!)} / ${pct(cv.pooled[0]!)} | ` +
      `${pct(cv.mean[1]!)} / ${pct(cv.worst[1]!)} / ${pct(cv.pooled[1]!)} | DEVELOPMENT (threshold swept on all ${files.length}, not a result): ` +
      `${development.map((d) => d.toFixed(1)).join(' / ')}; ${seconds.toFixed(0)} s to score |`);
    if (run === 'batch default') {
      console.log(`CAD is deterministic: seeds 1..${seeds} gave bit-identical scores on every file (checked above; the time includes the ${seeds} runs), so this table stands for every seed.`);
      console.log(`Expectation for files never seen (NAB's 38 held-out files, or all 58 scored as one corpus): about the pooled figure, ` +
        `standard ${cv.pooled[0]!.toFixed(1)}, reward_low_FP ${cv.pooled[1]!.toFixed(1)}, within a few points (the constants are CAD OSE's, none fitted here; ` +
        `NAB's own CAD OSE results score ${NAB_CAD_OSE_ALL_58.standard.toFixed(1)} / ${NAB_CAD_OSE_ALL_58.lowFp.toFixed(1)} on all 58 files). The mean of folds weighs small categories as much as large ones, NAB does not.`);
    }
  }
}

/** NAB's published CAD OSE scores on all 58 files (NAB README scoreboard, v1.1). */
const NAB_CAD_OSE_ALL_58 = { standard: 69.9, lowFp: 67.0 };

async function main(): Promise<void> {
  const dir = defaultNabDir();
  let files = loadNabCorpus(dir);
  if (process.env.NAB_QUICK === '1' || process.argv.includes('--quick')) files = files.filter((_, i) => i % 3 === 0);
  const only = process.env.NAB_METHOD;
  console.log(`NAB-style scores on ${files.length} files of ${dir} (${files.reduce((a, f) => a + f.values.length, 0)} rows)`);
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, node ${process.version}; shared, so times are noisy`);
  if (process.env.NAB_CV === '1' || process.argv.includes('--cv')) {
    if (only === undefined || only === 'auto' || only === 'cad') cadCrossValidationReport(files, only === undefined ? ['batch default', 'streamed cad'] : ['batch default']);
    if (only === undefined || only === 'ensemble') crossValidationReport(files);
    return;
  }
  console.log('DEVELOPMENT figures: the detectors\' constants were chosen on these same files, so these over-state what to expect on new series (NAB_CV=1 gives the cross-validated figure).');
  console.log('| detector                         | standard | low_FP | low_FN | windows hit/FP rows per profile | standard threshold |');
  console.log('|----------------------------------|--------|--------|--------|----|----|');
  const gauss = scoreNab(files.map((f) => ({
    name: f.name,
    scores: asWrittenToCsv(windowedGaussianScores(f.values), NAB_RESULTS_CSV_DIGITS),
    windows: f.windows,
  })));
  console.log(formatRow('windowed Gaussian (6400)', gauss));
  // `auto` here is cad over the file's range (detect_series.ts), so `cad` would repeat it.
  const methods = only !== undefined ? [only] : ['auto', 'ensemble', 'zscore', 'seasonal', 'changepoint', 'iforest'];
  for (const method of methods) {
    const t0 = performance.now();
    const inputs = detectInputs(files, method, 1);
    const ms = performance.now() - t0;
    const results = scoreNab(inputs);
    const label = method === 'auto' ? 'emms detect (auto = cad)' : `emms detect --method ${method}`;
    console.log(formatRow(label, results) + ` ${(ms / 1000).toFixed(1)} s`);
    if (process.env.NAB_PER_FILE === '1') {
      for (const input of inputs) console.log(`    ${input.name.padEnd(60)} ${fileBreakdown(input, results[0]!.threshold)}`);
    }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
