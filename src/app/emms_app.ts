/**
 * The composition root of `emms serve`: the engine, every feature service on top of it, and
 * the network front end with the features' routes, stream frame handlers, self-instrumentation
 * and remediation hooks wired in. Dependencies point one way (server → features → engine); this
 * file is the only place that knows all of them.
 *
 * Lifecycle: `configureFeatures(config)` validates every feature section of main.json before
 * anything opens (a bad setting stops start-up naming the key), `startEmmsApp` opens and starts
 * in dependency order, `app.stop()` closes in reverse order: the server first (it finishes and
 * acknowledges in-flight batches), the engine last (it flushes every head).
 */
import { analyticsRoutes } from '../analytics/analytics_routes.js';
import { alertRoutes } from '../alerts/alert_routes.js';
import { alertingOptionsFromConfig } from '../alerts/alerting_config.js';
import { alertingMetrics } from '../alerts/alerting_metrics.js';
import type { Alerting, AlertingOptions } from '../alerts/alerting.js';
import { createAlerting } from '../alerts/create_alerting.js';
import { IpBlocklist } from '../alerts/ip_blocklist.js';
import { parseCollectorSettings, type CollectorSettings } from '../collectors/collector_config.js';
import { CollectorSet } from '../collectors/collector_set.js';
import { ConfigError, type EmmsConfig } from '../config/config.js';
import { HealthMonitor } from '../health/health_monitor.js';
import { healthTargetRoutes } from '../health/health_routes.js';
import { createMetricsSystem } from '../index.js';
import { parseKeyPolicy, type KeyPolicy } from '../keys/key_policy.js';
import { keyRoutes } from '../keys/key_routes.js';
import { KeyService, keyEventIngestor } from '../keys/key_service.js';
import type { MetricsSystem } from '../model/api.js';
import { createServer, type EmmsServer } from '../server/server.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface FeatureSettings {
  keyPolicy: KeyPolicy;
  collectors: CollectorSettings;
  alerting: Partial<AlertingOptions>;
}

/** Parses the feature sections of main.json; throws ConfigError naming the section. */
export function configureFeatures(config: EmmsConfig): FeatureSettings {
  const sections = config.featureSections;
  const parse = <T>(section: string, value: unknown, parser: () => T): T => {
    try {
      return parser();
    } catch (err) {
      throw new ConfigError(section, value, 'config file', (err as Error).message);
    }
  };
  return {
    keyPolicy: parse('key_policies', sections.key_policies, () => parseKeyPolicy(sections.key_policies)),
    collectors: parse('collector', sections.collector, () => parseCollectorSettings(sections.collector)),
    alerting: parse('alerting', sections.alerting, () => alertingOptionsFromConfig(sections.alerting)),
  };
}

export interface EmmsApp {
  readonly engine: MetricsSystem;
  readonly server: EmmsServer;
  readonly keys: KeyService;
  readonly health: HealthMonitor;
  readonly collectors: CollectorSet;
  readonly alerting: Alerting;
  /** Stops every part in reverse start order; acknowledged data is flushed. */
  stop(): Promise<void>;
}

export async function startEmmsApp(config: EmmsConfig, log: Log): Promise<EmmsApp> {
  const settings = configureFeatures(config);
  const engine = createMetricsSystem({
    storage: config.storage.type,
    path: config.storage.path,
    retentionDays: config.storage.retentionDays,
    durability: config.storage.durability,
    compression: config.storage.compression,
  });
  await engine.start();
  // Each step's closer is pushed as soon as it is open, so a failure half-way still releases
  // what was opened (database handles, timers) before the error reaches the caller.
  const closers: Array<() => Promise<void>> = [() => engine.stop()];
  const closeAll = async (): Promise<void> => {
    let first: unknown;
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        first ??= err;
        log('error', `stopping: ${(err as Error).message}`);
      }
    }
    closers.length = 0;
    if (first !== undefined) throw first;
  };
  try {
    const keys = await KeyService.open(engine, { policy: settings.keyPolicy });
    closers.push(() => keys.close());
    keys.start((err) => log('warn', `key evaluation failed: ${(err as Error).message}`));

    const health = await HealthMonitor.open(engine);
    closers.push(() => health.close());
    health.start();

    const collectors = await CollectorSet.create(engine, settings.collectors, {
      onError: (err) => log('warn', `collector failed: ${(err as Error).message}`),
    });
    closers.push(() => collectors.stop());
    collectors.start();

    const ipBlocklist = new IpBlocklist();
    const alerting = createAlerting(engine, {
      ...settings.alerting,
      ipBlocklist,
      hooks: {
        // enhanced_monitoring raises both the collectors' and the health checks' frequency.
        enhanceMonitoring: (series, untilMs) => {
          collectors.enhanceMonitoring(series, untilMs);
          health.enhanceMonitoring(series, untilMs);
        },
      },
    });
    closers.push(() => alerting.stop());
    alerting.start();

    const server = createServer({
      engine,
      config,
      routes: [...keyRoutes(keys), ...healthTargetRoutes(health), ...alertRoutes(alerting), ...analyticsRoutes(engine)],
      frameHandlers: { key_events: keyEventIngestor(keys) },
      onRequest: (route, status, durationMs) => collectors.apiStats.record(route, status, durationMs),
      ipBlocklist,
      extraMetrics: () => alertingMetrics(alerting),
      log,
    });
    await server.listen();
    closers.push(() => server.close());

    return { engine, server, keys, health, collectors, alerting, stop: closeAll };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}
