/**
 * The server's own routes: queries, /federate, /health and /metrics, with their access.
 * Queries and /federate read the caller's tenant only (`engine.forTenant(principal.tenant)`)
 * and count against its `query_concurrency`; `query.max_series` bounds both (422 past it).
 * `POST /api/v1/metrics` is listed here for the router (405s, the access matrix) but answered
 * by the server's ingest path, whose body goes to a decode worker.
 */
import { HttpError, tenantOf, type HttpRequest, type HttpResponseSpec, type RouteAccess, type RouteDefinition } from '../http/route.js';
import { CONTENT_TYPE_JSON } from '../ingest/wire.js';
import type { MetricsSystem } from '../model/api.js';
import { PROMETHEUS_CONTENT_TYPE, renderFederation } from './prometheus_text.js';
import type { QueryConcurrency } from './query_concurrency.js';
import { queryFromBody, queryFromSearchParams, renderQueryResponse, type QueryLimits } from './query_request.js';
import type { SelfMetrics } from './self_metrics.js';

export const INGEST_PATH = '/api/v1/metrics';
export const STREAM_PATH = '/api/v1/stream';
/** Least role that may ingest, over HTTP and on the stream. */
export const INGEST_ACCESS = 'writer' as const;

export interface BuiltinRouteDeps {
  engine: MetricsSystem;
  limits: QueryLimits;
  metrics: SelfMetrics;
  /** `security.metrics_access`: GET /metrics is public (`open`) or needs a reader of any tenant. */
  metricsAccess: 'open' | 'reader';
  queries: QueryConcurrency;
  extraMetrics?: (() => string) | undefined;
  /** The server's own state for /health. */
  status: () => { shuttingDown: boolean; wsConnections: number; decodeThreads: number };
}

/** The route whose requests the server's ingest path answers; its handler is never called. */
export const INGEST_ROUTE: RouteDefinition = {
  method: 'POST',
  pattern: INGEST_PATH,
  access: INGEST_ACCESS,
  handler: () => {
    throw new Error(`BUG: POST ${INGEST_PATH} is answered by the ingest path, never through the router`);
  },
};

export function builtinRoutes(deps: BuiltinRouteDeps): RouteDefinition[] {
  const { engine, limits, metrics } = deps;

  async function runQuery(req: HttpRequest, query: Parameters<MetricsSystem['queryWithStats']>[0]): Promise<HttpResponseSpec> {
    const tenant = tenantOf(req);
    const started = performance.now();
    try {
      const { series, stats } = await deps.queries.run(tenant, () => engine.forTenant(tenant).queryWithStats(query));
      return { body: renderQueryResponse(series, stats), contentType: CONTENT_TYPE_JSON };
    } finally {
      metrics.queryLatency.observe((performance.now() - started) / 1000);
    }
  }

  const metricsAccess: RouteAccess = deps.metricsAccess === 'open' ? 'public' : 'reader';
  return [
    { method: 'GET', pattern: '/api/v1/query', access: 'reader', handler: (req) => runQuery(req, queryFromSearchParams(req.query, limits)) },
    { method: 'POST', pattern: '/api/v1/query', access: 'reader', handler: (req) => runQuery(req, queryFromBody(req.body, limits)) },
    { method: 'GET', pattern: '/health', access: 'public', handler: (req) => health(deps, req.principal !== undefined) },
    {
      method: 'GET', pattern: '/metrics', access: metricsAccess,
      handler: () => ({
        body: metrics.render(engine.running ? engine.stats() : undefined) + (deps.extraMetrics?.() ?? ''),
        contentType: PROMETHEUS_CONTENT_TYPE,
      }),
    },
    {
      method: 'GET', pattern: '/federate', access: 'reader',
      handler: async (req) => {
        const match = req.query.get('match') ?? req.query.get('match[]');
        if (match === null || match === '') throw new HttpError(400, 'match is required: a glob over metric ids, e.g. match=crypto.*', { error: 'match is required', parameter: 'match' });
        const tenant = tenantOf(req);
        const latest = await deps.queries.run(tenant, () => engine.forTenant(tenant).latest(match, undefined, limits.maxSeries));
        return { body: renderFederation(latest), contentType: PROMETHEUS_CONTENT_TYPE };
      },
    },
  ];
}

/**
 * `/health`: 200 or 503 by whether storage takes writes. Components (storage figures,
 * connection counts, the last maintenance error) only for a caller with valid credentials;
 * anyone else learns the status alone.
 */
function health(deps: BuiltinRouteDeps, detailed: boolean): HttpResponseSpec {
  const { engine } = deps;
  const state = deps.status();
  const components: Record<string, unknown> = {
    server: { status: state.shuttingDown ? 'stopping' : 'ok', ws_connections: state.wsConnections },
    decoders: { status: 'ok', threads: state.decodeThreads },
  };
  try {
    if (!engine.running) throw new Error('engine is not running');
    engine.checkWritable();
    const s = engine.stats();
    const m = s.maintenance;
    components.storage = {
      status: 'ok', series: s.series, chunks: s.chunks, head_points: s.headPoints, wal_bytes: s.walBytes, disk_bytes: s.diskBytes,
      ...(m === undefined ? {} : {
        pending_cuts: m.pendingCuts, pending_cut_points: m.pendingCutPoints, cuts_encoded_by_writer: m.cutsEncodedByWriter, checkpoint_running: m.checkpointRunning, compaction_running: m.compactionRunning,
        maintenance_failures: m.failures + m.encoderFailures,
        // Writes still succeed (status ok), but an operator should see why maintenance is stuck.
        ...(m.lastError === undefined ? {} : { last_maintenance_error: m.lastError }),
      }),
    };
  } catch (err) {
    components.storage = { status: 'error', error: (err as Error).message };
    return { status: 503, body: detailed ? { status: 'error', failing: 'storage', components } : { status: 'error' } };
  }
  return { body: detailed ? { status: 'ok', components } : { status: 'ok' } };
}
