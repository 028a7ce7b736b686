/**
 * Multivariate anomaly scores over several aligned series of one entity (every `system.*`
 * series of a host): each row is the joint window of the last `windowPoints` values of every
 * series, each series standardised by its own median and MAD then whitened (principal
 * components scaled to unit variance), summarised per component, and an isolation forest
 * (iforest_wasm.ts) scores how isolated each joint window is. A joint anomaly, say CPU busy
 * while the network is idle on a host where the two always move together, isolates quickly
 * although each value alone is well inside its own range, which no per-series detector sees.
 *
 * Flagging: the forest's scores are compared with their own distribution (median, and the
 * spread of the upper tail), and a row is flagged when its z-score has a normal tail
 * probability below 10^−(2.5 + 3·(1 − sensitivity)): 1 in 10^4 at the default 0.5.
 * The tail, not a fixed score, because forest scores of normal rows shift with the number of
 * features and the sub-sample.
 */
import { fitIsolationForest, scoreIsolationForest } from './iforest_wasm.js';
import { normalQuantile } from './normal_distribution.js';

export interface JointScoreOptions {
  /** Points per series in a joint window; default 3 (a point with its two predecessors). */
  windowPoints?: number;
  /** In [0, 1]; higher flags more. Default 0.5. */
  sensitivity?: number;
  /** Default 1: the same data give the same flags. */
  seed?: number;
  trees?: number;
  sampleSize?: number;
}

export interface JointScores {
  /** One score in [0, 1] per row; NaN for the first windowPoints − 1 rows (no full window). */
  scores: Float64Array;
  /** Row indices flagged. */
  anomalies: number[];
  /** The score above which a row is flagged. */
  threshold: number;
}

/** Series scored jointly at most: the whitening is quadratic in them, the forest linear. */
export const MAX_JOINT_SERIES = 128;

function robustScale(values: Float64Array): { centre: number; scale: number } {
  const sorted = Float64Array.from(values).sort();
  const median = sorted[sorted.length >> 1]!;
  const dev = Float64Array.from(values, (v) => Math.abs(v - median)).sort();
  const mad = dev[dev.length >> 1]! * 1.4826;
  if (mad > 0) return { centre: median, scale: mad };
  // A mostly constant series: fall back to the standard deviation so its rare changes count.
  let s = 0;
  for (const v of values) s += (v - median) ** 2;
  const sd = Math.sqrt(s / values.length);
  return { centre: median, scale: sd > 0 ? sd : 1 };
}

/** Symmetric eigen-decomposition by cyclic Jacobi rotations (k ≤ MAX_JOINT_FEATURES, a few sweeps). */
function symmetricEigen(a: Float64Array, k: number): { values: Float64Array; vectors: Float64Array } {
  const v = new Float64Array(k * k);
  for (let i = 0; i < k; i++) v[i * k + i] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < k; p++) for (let q = p + 1; q < k; q++) off += a[p * k + q]! ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * k + q]! - a[p * k + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p]!;
          const arq = a[r * k + q]!;
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r]!;
          const aqr = a[q * k + r]!;
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < k; r++) {
          const vrp = v[r * k + p]!;
          const vrq = v[r * k + q]!;
          v[r * k + p] = c * vrp - s * vrq;
          v[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: k }, (_, i) => a[i * k + i]!), vectors: v };
}

/**
 * Rotates the standardised series onto their principal components, each scaled to unit
 * variance. An isolation forest splits on one feature at a time, so a point off a thin diagonal
 * cloud (two series that always move together, here apart) isolates slowly in the raw axes; in
 * the whitened ones the broken correlation is a large value of a low-variance component.
 */
function whiten(series: Float64Array[]): Float64Array[] {
  const k = series.length;
  const n = series[0]!.length;
  if (k < 2) return series;
  const cov = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let s = 0;
      const a = series[i]!;
      const b = series[j]!;
      for (let t = 0; t < n; t++) s += a[t]! * b[t]!;
      cov[i * k + j] = cov[j * k + i] = s / n;
    }
  }
  const { values, vectors } = symmetricEigen(cov, k);
  let largest = 0;
  for (const v of values) largest = Math.max(largest, v);
  const out: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    // A component with (almost) no variance is an exact linear relation: scaling its round-off
    // up would make noise look like anomalies, so it is floored at a millionth of the largest.
    const scale = 1 / Math.sqrt(Math.max(values[c]!, 1e-6 * largest, 1e-300));
    const col = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += series[j]![t]! * vectors[j * k + c]!;
      col[t] = s * scale;
    }
    out.push(col);
  }
  return out;
}

/** `columns[j][t]` is series j at aligned time t; every column has the same length, no NaN. */
export function jointWindowScores(columns: readonly Float64Array[], options: JointScoreOptions = {}): JointScores {
  const k = columns.length;
  const w = options.windowPoints ?? 3;
  const sensitivity = options.sensitivity ?? 0.5;
  if (k < 1) throw new RangeError('jointWindowScores: needs at least one series');
  if (k > MAX_JOINT_SERIES) throw new RangeError(`jointWindowScores: ${k} series; at most ${MAX_JOINT_SERIES} can be scored jointly`);
  if (!Number.isInteger(w) || w < 1 || w > 64) throw new RangeError(`windowPoints=${w} must be an integer in [1, 64]`);
  if (!(sensitivity >= 0 && sensitivity <= 1)) throw new RangeError(`sensitivity=${sensitivity} must be in [0, 1]`);
  const n = columns[0]!.length;
  for (const [j, c] of columns.entries()) {
    if (c.length !== n) throw new RangeError(`jointWindowScores: series ${j} has ${c.length} points, series 0 has ${n}`);
  }
  const scores = new Float64Array(n).fill(NaN);
  const rowsCount = n - w + 1;
  if (rowsCount < 8) return { scores, anomalies: [], threshold: NaN };
  const scaled = whiten(columns.map((c) => {
    const { centre, scale } = robustScale(c);
    return Float64Array.from(c, (v) => (v - centre) / scale);
  }));
  // Per whitened component: the window's mean and its newest value. The mean is what makes a
  // sustained joint anomaly stand out (noise shrinks by √w, the shift does not); the newest
  // value keeps a one-point jolt visible. Two features per component, whatever w is: a forest
  // picks one feature per split, and a wide row dilutes the one that matters.
  const features = w > 1 ? 2 * k : k;
  const rows = new Float64Array(rowsCount * features);
  for (let r = 0; r < rowsCount; r++) {
    for (let j = 0; j < k; j++) {
      const col = scaled[j]!;
      let sum = 0;
      for (let i = 0; i < w; i++) sum += col[r + i]!;
      if (w > 1) {
        rows[r * features + 2 * j] = sum / w;
        rows[r * features + 2 * j + 1] = col[r + w - 1]!;
      } else {
        rows[r * features + j] = sum;
      }
    }
  }
  // ψ = 1024 rather than the paper's 256: deeper trees separate a far joint outlier (isolated
  // in ~5 splits) from the normal extremes (~12) by more than the 8-level trees of ψ = 256 do.
  const sampleSize = options.sampleSize ?? Math.min(rowsCount, 1024);
  const model = fitIsolationForest(rows, features, { trees: options.trees ?? 100, sampleSize, seed: options.seed ?? 1 });
  const rowScores = scoreIsolationForest(model, rows);
  const sorted = Float64Array.from(rowScores).sort();
  const median = sorted[sorted.length >> 1]!;
  const q99 = sorted[Math.floor(0.99 * (sorted.length - 1))]!;
  // Forest scores are skewed to the right: their spread is read off the upper tail (median to
  // 99th percentile, 2.326 normal σ), not the MAD of the bulk, which is narrower.
  const upperScale = (q99 - median) / normalQuantile(0.99);
  const tail = 10 ** -(2.5 + 3 * (1 - sensitivity));
  const threshold = median + normalQuantile(1 - tail) * upperScale;
  const anomalies: number[] = [];
  for (let r = 0; r < rowsCount; r++) {
    const t = r + w - 1;
    scores[t] = rowScores[r]!;
    if (rowScores[r]! > threshold) anomalies.push(t);
  }
  return { scores, anomalies, threshold };
}
