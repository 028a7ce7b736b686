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
 *
 * Authentication opens first: its tenant registry holds the per-tenant quotas that the engine
 * (active series), the features (rules, targets, keys …) and the server (ingest rate, query
 * concurrency) enforce, and its failures feed `security.auth.failures`, which the predefined
 * rule watches and `block_ip` may act on (only for addresses that really failed here).
 */
import { dirname } from 'node:path';
import { analyticsRoutes } from '../analytics/analytics_routes.js';
import { TenantAnonymizers } from '../anonymize/tenant_anonymizers.js';
import { alertRoutes } from '../alerts/alert_routes.js';
import { alertingOptionsFromConfig } from '../alerts/alerting_config.js';
import { alertingMetrics } from '../alerts/alerting_metrics.js';
import type { Alerting, AlertingOptions } from '../alerts/alerting.js';
import { createAlerting } from '../alerts/create_alerting.js';
import { auditRoutes } from '../audit/audit_routes.js';
import { AuditTrail } from '../audit/audit_trail.js';
import { AuditRecordCipher } from '../audit/audit_cipher.js';
import { openAtRestEncryption } from '../crypto/at_rest.js';
import { AuthFailureAudit } from '../audit/auth_failure_audit.js';
import { openAuth, type AuthModule } from '../auth/auth_module.js';
import { parseCollectorSettings, type CollectorSettings } from '../collectors/collector_config.js';
import { CollectorSet } from '../collectors/collector_set.js';
import { ConfigError, type EmmsConfig } from '../config/config.js';
import { storageSystemOptions } from '../config/storage_settings.js';
import { EngineMetricsSystem } from '../metrics_system.js';
import { parseKeyPolicy, type KeyPolicy } from '../keys/key_policy.js';
import { keyRoutes } from '../keys/key_routes.js';
import { KeyService, keyEventIngestor } from '../keys/key_service.js';
import type { MetricsSystem } from '../model/api.js';
import { DEFAULT_TENANT } from '../model/tenant.js';
import { ProbeMonitor } from '../probes/probe_monitor.js';
import { probeTargetRoutes } from '../probes/probe_routes.js';
import { createServer, type EmmsServer } from '../server/server.js';
import { warmUpIngest } from '../server/warm_up.js';
import { createDashboard } from '../dashboard/dashboard.js';
import { openInterop, parseRemoteWriteConfig, type RemoteWriteTarget } from '../interop/interop_module.js';
import { AuthFailureRecorder } from './auth_failure_recorder.js';
import { bootstrapInCluster, openClusterState } from './cluster_state.js';
import { answerOnceShared, frameOnceShared } from './shared_state_answers.js';
import type { RouteDefinition } from '../http/route.js';
import { tenantDeletionRoutes } from './tenant_deletion.js';
import { BackupScheduler } from '../maintenance/backup_schedule.js';
import { backupMetrics } from '../maintenance/backup_metrics.js';
import { ensureBackupAlertRule, recordBackupOutcome } from '../maintenance/backup_alert.js';
import { MaintenanceLock } from '../maintenance/maintenance_lock.js';
import { maintenanceRoutes } from '../maintenance/maintenance_routes.js';
import { erasureRoutes } from '../maintenance/erasure_routes.js';
import { prometheusApiRoutes } from '../promql/prometheus_routes.js';
import { seriesListingRoutes } from '../promql/series_listing_routes.js';
import { clusterAdvertiseUrl, startStandbyForwarder, type StandbyForwarder } from '../server/standby/standby_forwarder.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface FeatureSettings {
  keyPolicy: KeyPolicy;
  collectors: CollectorSettings;
  alerting: Partial<AlertingOptions>;
  remoteWrite: RemoteWriteTarget[];
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
    remoteWrite: parse('remote_write', sections.remote_write, () => parseRemoteWriteConfig(sections.remote_write, config.security.egress)),
  };
}

export interface EmmsApp {
  readonly engine: MetricsSystem;
  readonly server: EmmsServer;
  readonly auth: AuthModule;
  readonly keys: KeyService;
  readonly probes: ProbeMonitor;
  readonly collectors: CollectorSet;
  readonly alerting: Alerting;
  /** Refused authentications by address (what `block_ip` may act on). */
  readonly authFailures: AuthFailureRecorder;
  /** Scheduled backups (storage.backup_*); idle unless storage.backup_enabled. */
  readonly backups: BackupScheduler;
  /** Where the bootstrap operator token was written on this start (a fresh data directory), if it was. */
  readonly adminTokenPath: string | undefined;
  /** The audit log (docs/format/audit_log.md); the server records audited routes into it. */
  readonly audit: AuditTrail;
  /**
   * Resolves (with the reason) if this node loses the writer lease of a shared store
   * (src/cluster/writer_lease.ts): it writes nothing more and should stop; never for SQLite.
   */
  readonly writerLost: Promise<string>;
  /** Stops every part in reverse start order; acknowledged data is flushed. */
  stop(): Promise<void>;
}

export async function startEmmsApp(config: EmmsConfig, log: Log): Promise<EmmsApp> {
  const settings = configureFeatures(config);
  const dataDir = dirname(config.storage.path);
  // Each step's closer is pushed as soon as it is open, so a failure half-way still releases
  // what was opened (database handles, timers) before the error reaches the caller.
  const closers: Array<() => Promise<void>> = [];
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
    // Before anything touches the data directory: a wrong or missing master key stops start-up
    // here with nothing changed on disk, and every database opened after this is encrypted.
    const encryption = await openAtRestEncryption({
      dataDir, keyFile: config.security.encryption.keyFile, dataKeyMaxAgeDays: config.security.encryption.dataKeyMaxAgeDays, log,
    });
    // Opened first: every later step's state changes (API keys, rules …) may be audited.
    const audit = AuditTrail.open({
      cipher: encryption === undefined ? undefined : new AuditRecordCipher(encryption.auditKeys, encryption.auditKey.id),
      dataDir,
      keyFile: config.security.auditKeyFile,
      onError: (err) => log('error', `audit record not written (the action went ahead): ${(err as Error).message}`),
    });
    closers.push(async () => audit.close());
    // Before authentication reads auth.db: a cluster node first applies the shared state log
    // (API keys, rules, alerts … of every node, src/app/cluster_state.ts).
    const clusterState = await openClusterState(config, dataDir, log);
    if (clusterState !== undefined) closers.push(() => clusterState.close());
    const authFailureAudit = new AuthFailureAudit(audit);
    let failures: AuthFailureRecorder | undefined;
    const auth = openAuth({
      dataDir,
      security: config.security,
      onFailure: (sourceIp, reason) => {
        failures?.record(sourceIp);
        authFailureAudit.record(sourceIp, reason);
      },
      onFlushError: (err) => log('warn', `recording API key use failed: ${(err as Error).message}`),
    });
    closers.push(async () => auth.close());
    // Created even with authentication off, so that turning it on later finds a key.
    const boot = await bootstrapInCluster(auth, clusterState, log);
    if (boot !== undefined) log('info', `operator API key ${boot.keyId} created; its token is in ${boot.tokenPath} (mode 0600): send it as "Authorization: Bearer <token>"`);
    if (config.security.auth === 'off') log('warn', `authentication is off (security.auth): every client of ${config.host} acts as the operator`);
    const quotas = auth.quotaLookup;
    // Before the engine: a missing or unreadable key stops start-up before anything is ingested.
    const anonymizers = TenantAnonymizers.open(config.security.anonymize, { dataDir, keyFile: config.security.anonymizeKeyFile });
    const anonymizeTags = anonymizers.configured ? anonymizers.tagRewriter : undefined;

    let writerLost!: (reason: string) => void;
    const lostWriterLease = new Promise<string>((resolve) => {
      writerLost = resolve;
    });
    // A cluster node that waits for the writer lease listens meanwhile and forwards every request
    // to the writer (src/server/standby/standby_forwarder.ts); it frees the port once it holds the lease.
    const advertiseUrl = config.storage.type === 'sqlite' ? undefined : clusterAdvertiseUrl(config);
    if (config.storage.type !== 'sqlite' && advertiseUrl === undefined) {
      log('warn', `storage.advertise_url is unset and host ${config.host}:${config.port} names no address other nodes can reach: standbys cannot forward to this node while it writes (set METRICS_ADVERTISE_URL)`);
    }
    let standby: Promise<StandbyForwarder | undefined> | undefined;
    let standbyClosed: Promise<void> | undefined;
    let portFreeAt = 0;
    const closeStandby = (reason: string): Promise<void> => (standbyClosed ??= (standby ?? Promise.resolve(undefined)).then((f) => f?.close(reason)));
    closers.push(() => closeStandby('stopping'));
    const engine = new EngineMetricsSystem({
      ...storageSystemOptions(config.storage),
      advertiseUrl,
      onWriterLease: (event, detail, writer) => {
        if (event === 'waiting') {
          log('warn', `standby: ${detail} (the writer lease, README "Storage back-ends"); meanwhile this node forwards every request to the writer`);
          if (writer !== undefined) {
            standby = startStandbyForwarder({ config, directory: writer, ownAddress: advertiseUrl, authenticator: auth.authenticator, log }).catch((err: unknown) => {
              log('error', `${(err as Error).message}: this node does not forward while it waits`);
              return undefined;
            });
          }
        } else if (event === 'acquired') {
          log('info', `writer lease taken: ${detail}`);
          // At once, before the store opens: a forwarder still running could forward to this very
          // node. The port stays held (503, Retry-After) until the server below is about to listen.
          void standby?.then((f) => f?.handOver('this node took over as the writer; reconnect'));
        } else {
          log('error', `writer lease lost (${detail}): this node writes nothing more and stops`);
          writerLost(detail);
        }
      },
      path: config.storage.path,
      retentionDays: config.storage.retentionDays,
      rollupMemoryBytes: config.query.rollupMemoryMb * 1024 * 1024,
      durability: config.storage.durability,
      compression: config.storage.compression,
      seriesLimit: (tenant) => quotas(tenant).activeSeries,
      retentionDaysOf: (tenant) => quotas(tenant).retentionDays || config.storage.retentionDays,
      anonymizeTags,
    }, {
      // Mapped when the store opens, before the port opens: the first frames' series each take a block (see HeadTable.reserve).
      headReserveBytes: config.storage.headReserveMb * 1024 * 1024,
    });
    await engine.start();
    closers.push(() => engine.stop());
    // This node now writes: the features below load their state (active alerts, key inventory)
    // from files that must hold everything the previous writer put in the shared log.
    if (clusterState !== undefined) await clusterState.catchUp();

    failures = new AuthFailureRecorder(engine.forTenant(DEFAULT_TENANT), (err) => log('warn', `recording authentication failures: ${(err as Error).message}`));
    closers.push(() => failures!.stop());
    failures.start();

    const keys = await KeyService.open(engine, { policy: settings.keyPolicy, quotas, ...(anonymizers.configured ? { anonymizeField: anonymizers.fieldRewriter } : {}) });
    closers.push(() => keys.close());
    keys.start((err) => log('warn', `key evaluation failed: ${(err as Error).message}`));

    const probes = await ProbeMonitor.open(engine, {
      egress: config.security.egress,
      quotas,
      onError: (err) => log('warn', `probe failed: ${(err as Error).message}`),
    });
    closers.push(() => probes.close());
    probes.start();

    const collectors = await CollectorSet.create(engine, settings.collectors, {
      onError: (err) => log('warn', `collector failed: ${(err as Error).message}`),
    });
    closers.push(() => collectors.stop());
    collectors.start();

    const recorder = failures;
    const alerting = createAlerting(engine, {
      ...settings.alerting,
      adminNetworks: config.security.adminNetworks,
      wasSeenClient: (ip) => recorder.hasFailed(ip),
      egress: config.security.egress,
      quotas,
      log: (level, message) => log(level, message),
      hooks: {
        // enhanced_monitoring raises both the collectors' and the probes' frequency; the
        // collectors write the server's own series, which live in the default tenant.
        enhanceMonitoring: (series, untilMs) => {
          if (series.tenant === DEFAULT_TENANT) collectors.enhanceMonitoring(series, untilMs);
          probes.enhanceMonitoring(series, untilMs, series.tenant);
        },
        onIpBlocked: (entry) => log('warn', `blocked client address ${entry.ip} until ${new Date(entry.until_ms).toISOString()} (tenant ${entry.tenant}, rule ${entry.rule_id})`),
      },
    });
    closers.push(() => alerting.stop());
    alerting.start();

    // Backups, cleanup, compaction and reindexing share one lock: the API's and the schedule's.
    const maintenanceLock = new MaintenanceLock();
    const maintainable = () => (engine.running ? engine.maintenance?.() : undefined);
    const backups = new BackupScheduler({
      settings: config.storage.backup, dataDir, storage: maintainable, lock: maintenanceLock,
      onOutcome: (o) => {
        if (o.ok) log('info', `scheduled backup ${o.result.output}: ${o.result.bytes} bytes in ${o.result.durationMs} ms`);
        else log('error', `scheduled backup failed: ${o.error.message}`);
        recordBackupOutcome(engine.forTenant(DEFAULT_TENANT), !o.ok).catch((err: unknown) => log('warn', `recording the backup outcome: ${(err as Error).message}`));
      },
    });
    if (config.storage.backup.enabled) {
      try {
        ensureBackupAlertRule(alerting, DEFAULT_TENANT);
      } catch (err) {
        // A full rule quota must not stop the server; the failure counters in /metrics remain.
        log('warn', `installing the backup failure alert rule: ${(err as Error).message}`);
      }
    }
    closers.push(() => backups.stop());
    backups.start();

    const dashboard = createDashboard({
      engine, authenticator: auth.authenticator, tls: config.security.tls !== undefined,
      onError: (err) => log('warn', `dashboard live updates: ${(err as Error).message}`),
    });
    if (!dashboard.built) log('warn', 'the web dashboard is not built (dist/web/ has no index.html): run `npm run build:web`');
    closers.push(async () => dashboard.stop());
    // Stopped after the server (closers run in reverse): in-flight batches still reach the queue.
    const interop = openInterop({
      engine, quotas, egress: config.security.egress, remoteWrite: settings.remoteWrite, log, anonymizeTags,
      limits: { maxPoints: config.collector.batchSize, maxDecompressedBytes: 4 * config.collector.maxBodyBytes },
    });
    closers.push(() => interop.stop());
    const sharedAnswers = (routes: RouteDefinition[]): RouteDefinition[] => (clusterState === undefined ? routes : answerOnceShared(routes, clusterState));
    const server = createServer({
      engine: interop.engine,
      config,
      authenticator: dashboard.authenticator,
      sockets: dashboard.sockets,
      quotas,
      // A cluster node answers a state change once it is in the shared log (shared_state_answers.ts).
      routes: sharedAnswers([...auth.routes, ...keyRoutes(keys), ...probeTargetRoutes(probes), ...alertRoutes(alerting), ...analyticsRoutes(engine), ...dashboard.routes, ...interop.routes, ...maintenanceRoutes({ dataDir, storage: maintainable, lock: maintenanceLock }), ...erasureRoutes({ dataDir, storage: maintainable, lock: maintenanceLock, audit: (e) => audit.record(e), ...(anonymizers.configured ? { storedFormOf: anonymizers.fieldRewriter } : {}) }), ...tenantDeletionRoutes({ dataDir, auth, keys, alerting, probes, storage: maintainable, lock: maintenanceLock }), ...prometheusApiRoutes(engine), ...seriesListingRoutes(engine), ...auditRoutes(audit)]),
      frameHandlers: { key_events: clusterState === undefined ? keyEventIngestor(keys) : frameOnceShared(keyEventIngestor(keys), clusterState) },
      codecs: interop.codecs,
      requestStats: collectors.apiStats,
      ipBlocklist: alerting.ipBlocklist,
      extraMetrics: () => alertingMetrics(alerting) + interop.metrics() + backupMetrics(backups.status()) + audit.metrics() + (clusterState?.metrics() ?? ''),
      extraHealth: clusterState === undefined ? undefined : () => ({ state_replication: clusterState.health() }),
      audit: (answer) => audit.record(answer),
      log,
      // A node that took over from its standby forwarder frees the port only now (its workers are up).
      beforeListen: async () => {
        await closeStandby('this node took over as the writer; reconnect');
        portFreeAt = performance.now();
      },
    });
    // Line protocol and remote write decode in the server's workers and share its rate buckets.
    interop.attach(server.ingest);
    const standbyWasOn = standby !== undefined;
    await server.listen();
    // How long a node that took over leaves its port without a listener: the forwarder closed above, the server listens now.
    if (standbyWasOn) log('info', `standby → writer: the port was without a listener for ${Math.round(performance.now() - portFreeAt)} ms`);
    closers.push(() => server.close());
    // Before start-up reports ready: the first real frames find warm decode workers and reusable frame buffers.
    const warm = await warmUpIngest(server.ingest.pool, { routes: server.routes });
    log('info', `ingest warm-up: ${warm.frames} synthetic frames and ${warm.codecs?.bodies ?? 0} remote-write/line-protocol bodies decoded, ${warm.seriesCommitted} series committed to a scratch store (deleted) and ${warm.routesChecked} routes' request checks compiled in ${warm.elapsedMs.toFixed(0)} ms${warm.complete ? '' : ' (budget reached; the rest finish in the background)'}; nothing stored`);
    if (warm.codecs?.error !== undefined) log('warn', `ingest warm-up: the remote-write/line-protocol decoders were not warmed (${warm.codecs.error}); their first requests compile them instead`);
    if (warm.storeWarmUpError !== undefined) log('warn', `ingest warm-up: the scratch store did not run (${warm.storeWarmUpError}); the first commits compile the store's path instead`);
    dashboard.start();

    return { engine, server, auth, keys, probes, collectors, alerting, authFailures: recorder, backups, audit, adminTokenPath: boot?.tokenPath, writerLost: lostWriterLease, stop: closeAll };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}
