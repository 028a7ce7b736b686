/**
 * The analytics engine's public surface, for the server and src/index.ts to re-export:
 * the embedded API (detectAnomalies, findCorrelations, forecast, capacity), its HTTP routes,
 * the streaming detectors used by alert rules, and the isolation forest.
 */
export { detectAnomalies, findCorrelations, forecast, capacity } from './analytics_api.js';
export type {
  DetectAnomaliesRequest, DetectAnomaliesResult, AnomalySeries, FindCorrelationsRequest, CorrelationPair,
  ForecastRequest, ForecastMethod, SeriesForecast, ForecastPoint, CapacityRequest, SeriesCapacity,
} from './analytics_api.js';
export { detectJointAnomalies } from './joint_anomalies.js';
export type { JointAnomaliesRequest, JointAnomaliesResult, JointEntity } from './joint_anomalies.js';
export { forecastAuto } from './forecast_auto.js';
export type { AutoForecast, AutoForecastOptions, AutoForecastMethod } from './forecast_auto.js';
export { analyticsRoutes } from './analytics_routes.js';
export { createStreamingDetector, DETECTOR_METHODS, thresholdForSensitivity } from './streaming_detector.js';
export type { SeededDetectorOptions } from './streaming_detector.js';
export { detectSeries } from './detect_series.js';
export { fitIsolationForest, scoreIsolationForest } from './iforest_wasm.js';
export { scoreIsolationForestParallel, closeIforestPool } from './iforest_parallel.js';
export type { IsolationForestModel, IsolationForestOptions } from './iforest_model.js';
