/**
 * Runs a streaming detector over a whole series held in memory (the `emms detect` command, the
 * NAB bench, the detectAnomalies API): one score per input row, in input order, each computed
 * from that row and the earlier ones only. Rows whose timestamps repeat or step back are scored
 * in arrival order like the others (streaming_detector.ts).
 *
 * Holding the whole series, it gives the `cad` method what NAB gives every detector: the
 * series' value range before the first row (CAD quantises over it), and CAD's rest period as
 * NAB sets it, a fifth of the probationary period min(⌊0.15·rows⌋, 750).
 */
import type { CadOptions } from './cad_detector.js';
import { createStreamingDetector, thresholdForSensitivity, validateDetectorOptions, type SeededDetectorOptions } from './streaming_detector.js';

export interface SeriesDetection {
  scores: Float64Array;
  isAnomaly: Uint8Array;
  threshold: number;
}

/** The whole series' range of finite values (none: no range, the detector learns it) and NAB's rest period. */
export function batchCadOptions(values: ArrayLike<number>): CadOptions {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const restPoints = Math.floor(Math.min(Math.floor(0.15 * values.length), 750) / 5);
  return min <= max ? { range: { min, max }, restPoints } : { restPoints };
}

export function detectSeries(timestamps: ArrayLike<number>, values: ArrayLike<number>, options: SeededDetectorOptions = {}): SeriesDetection {
  if (timestamps.length !== values.length) {
    throw new RangeError(`detectSeries: timestamps.length=${timestamps.length} differs from values.length=${values.length}`);
  }
  const { method, sensitivity } = validateDetectorOptions(options);
  const detector = createStreamingDetector(method === 'cad' && options.cad === undefined ? { ...options, cad: batchCadOptions(values) } : options);
  const n = values.length;
  const scores = new Float64Array(n);
  const isAnomaly = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const verdict = detector.update(timestamps[i]!, values[i]!);
    scores[i] = verdict.score;
    isAnomaly[i] = verdict.isAnomaly ? 1 : 0;
  }
  return { scores, isAnomaly, threshold: thresholdForSensitivity(sensitivity, method) };
}
