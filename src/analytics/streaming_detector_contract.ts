/**
 * What alert rules (src/alerts/) need from the analytics engine: a causal, incremental anomaly
 * scorer per series. Implemented in src/analytics/ by `createStreamingDetector`.
 */

/**
 * `auto` is resolved where the detector runs: a stream (an alert rule, createStreamingDetector)
 * gets `ensemble`; a batch over a whole series (detectSeries) gets `cad` over the series' range.
 */
export type DetectorMethod = 'auto' | 'ensemble' | 'iforest' | 'zscore' | 'seasonal' | 'changepoint' | 'cad';

export interface StreamingDetectorOptions {
  method?: DetectorMethod;
  /** In [0, 1]; higher = lower decision threshold = more anomalies. Default 0.5. */
  sensitivity?: number;
}

export interface AnomalyVerdict {
  /** In [0, 1]; higher = more anomalous. Uses only points up to and including this one. */
  score: number;
  isAnomaly: boolean;
}

/**
 * One series' detector. Points are scored in arrival order; a point older than the last (a clock
 * correction) is scored as arriving at the last timestamp, never refused.
 */
export interface StreamingDetector {
  update(timestampMs: number, value: number): AnomalyVerdict;
  /** Points seen so far. */
  readonly count: number;
}
