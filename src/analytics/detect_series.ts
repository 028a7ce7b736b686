/**
 * Runs a streaming detector over a whole series held in memory (the `emms detect` command, the
 * NAB bench, the detectAnomalies API): one score per input row, in input order, each computed
 * from that row and the earlier ones only. Rows whose timestamps repeat or step back are scored
 * in arrival order like the others (streaming_detector.ts).
 */
import { createStreamingDetector, thresholdForSensitivity, validateDetectorOptions, type SeededDetectorOptions } from './streaming_detector.js';

export interface SeriesDetection {
  scores: Float64Array;
  isAnomaly: Uint8Array;
  threshold: number;
}

export function detectSeries(timestamps: ArrayLike<number>, values: ArrayLike<number>, options: SeededDetectorOptions = {}): SeriesDetection {
  if (timestamps.length !== values.length) {
    throw new RangeError(`detectSeries: timestamps.length=${timestamps.length} differs from values.length=${values.length}`);
  }
  const { method, sensitivity } = validateDetectorOptions(options);
  const detector = createStreamingDetector(options);
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
