/**
 * `createAlerting(system, options)`: the alerting engine wired to the analytics streaming
 * detector. The Alerting class itself takes the detector factory as a dependency, so its
 * logic is tested with scripted detectors.
 */
import { createStreamingDetector } from '../analytics/streaming_detector.js';
import type { MetricsSystem } from '../model/api.js';
import { Alerting, type AlertingOptions } from './alerting.js';

export function createAlerting(system: MetricsSystem, options: Partial<AlertingOptions> = {}): Alerting {
  return new Alerting(system, { detectorFactory: createStreamingDetector, ...options });
}
