/**
 * The interoperability features as one unit for the app (src/app/emms_app.ts): line protocol
 * and remote write in (routes), remote write out (the forwarder and the engine view that feeds
 * it), and their /metrics text. With no `remote_write` destination the engine is passed through
 * untouched and no queue file is created.
 */
import type { RouteDefinition } from '../http/route.js';
import type { MetricsSystem } from '../model/api.js';
import { checkLiteralEgress, type EgressPolicy } from '../net/egress_guard.js';
import type { QuotaLookup } from '../tenancy/quota.js';
import { forwardingEngine, type TagRewriteOf } from './forwarding_engine.js';
import { INTEROP_CODECS, InteropSink, type IngestServices, type InteropLimits } from './interop_sink.js';
import { lineProtocolRoutes } from './line_protocol_routes.js';
import { parseRemoteWriteSection, type RemoteWriteTarget } from './remote_write_config.js';
import { RemoteWriteForwarder } from './remote_write_forwarder.js';
import { remoteWriteRoutes } from './remote_write_routes.js';

export type { RemoteWriteTarget } from './remote_write_config.js';

/**
 * The `remote_write` section, parsed and checked against the egress policy: a literal address
 * the policy refuses could never be reached, so it stops start-up instead of failing per batch.
 */
export function parseRemoteWriteConfig(raw: unknown, egress: EgressPolicy): RemoteWriteTarget[] {
  const targets = parseRemoteWriteSection(raw);
  targets.forEach((t, i) => {
    try {
      checkLiteralEgress(t.url.hostname, egress);
    } catch (err) {
      throw new Error(`remote_write[${i}].url: ${(err as Error).message}`);
    }
  });
  return targets;
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface InteropOptions {
  engine: MetricsSystem;
  quotas: QuotaLookup;
  egress: EgressPolicy;
  limits: InteropLimits;
  remoteWrite: readonly RemoteWriteTarget[];
  log: Log;
  /** security.anonymize's tag rewrite: the forwarder gets tags as the engine stores them. */
  anonymizeTags?: TagRewriteOf;
}

export interface Interop {
  /** What the server should ingest into: the engine, or its forwarding view. */
  readonly engine: MetricsSystem;
  readonly routes: RouteDefinition[];
  readonly forwarder: RemoteWriteForwarder | undefined;
  /** Decode-worker codecs for the server's decode pool (DecodePoolOptions.codecs). */
  readonly codecs: Readonly<Record<string, string>>;
  /** Decode in the server's pool and charge its rate limiter; call once the server exists. */
  attach(ingest: IngestServices): void;
  metrics(): string;
  stop(): Promise<void>;
}

export function openInterop(options: InteropOptions): Interop {
  let forwarder: RemoteWriteForwarder | undefined;
  let engine = options.engine;
  if (options.remoteWrite.length > 0) {
    forwarder = RemoteWriteForwarder.open(options.engine.dataDirectory, options.remoteWrite, { egress: options.egress, log: options.log });
    const f = forwarder;
    engine = forwardingEngine(options.engine, (tenant, series) => f.offer(tenant, series), options.anonymizeTags);
    f.start();
    for (const t of options.remoteWrite) options.log('info', `remote_write ${t.name}: forwarding ${t.match.length} pattern(s) to ${t.url.origin}${t.url.pathname}`);
  }
  const sink = new InteropSink(engine, options.quotas, options.limits);
  return {
    engine,
    forwarder,
    routes: [...lineProtocolRoutes(sink), ...remoteWriteRoutes(sink)],
    codecs: INTEROP_CODECS,
    attach: (ingest) => sink.attach(ingest),
    metrics() {
      let out = '# HELP emms_interop_points_ingested_total Points stored through line protocol and remote write in.\n# TYPE emms_interop_points_ingested_total counter\n';
      for (const [protocol, n] of Object.entries(sink.pointsStored)) out += `emms_interop_points_ingested_total{protocol="${protocol}"} ${n}\n`;
      return out + (forwarder?.renderMetrics() ?? '');
    },
    stop: async () => {
      await forwarder?.stop();
    },
  };
}
