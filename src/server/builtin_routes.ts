/**
 * The server's own routes: queries, /federate, /health and /metrics, with their access.
 * Queries and /federate read the caller's tenant only (`engine.forTenant(principal.tenant)`)
 * and count against its `query_concurrency`; `query.max_series` bounds both (422 past it).
 * `POST /api/v1/metrics` is listed here for the router (405s, the access matrix) but answered
 * by the server's ingest path, whose body goes to a decode worker.
 */
import { HttpError, tenantOf, type HttpRequest, type JsonSchema, type HttpResponseSpec, type RouteAccess, type RouteDefinition } from '../http/route.js';
import { readFileSync } from 'node:fs';
import { buildOpenApi } from '../http/openapi.js';
import { CONTENT_TYPE_JSON } from '../ingest/wire.js';
import type { MetricsSystem } from '../model/api.js';
import { FEDERATE_SCHEMA, HEALTH_SCHEMA, INGEST_SCHEMA, METRICS_SCHEMA, OPENAPI_SCHEMA, QUERY_GET_SCHEMA, QUERY_POST_SCHEMA } from './builtin_schemas.js';
import { PROMETHEUS_CONTENT_TYPE, renderFederation } from './prometheus_text.js';
import type { QueryConcurrency } from './query_concurrency.js';
import { cleanIntervalError, queryFromBody, queryFromSearchParams, type QueryLimits } from './query_request.js';
import { writeQueryJson } from './query_json_writer.js';
import { CONTENT_TYPE_COLUMNAR, acceptsColumnar, encodeColumnarQuery } from './query_columnar.js';
import type { SelfMetrics } from './self_metrics.js';

export { PRECISION_PARAMETER } from './builtin_schemas.js';

export const INGEST_PATH = '/api/v1/metrics';
export const OPENAPI_PATH = '/api/v1/openapi.json';
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
  /** Further /health components by name (a cluster node's state replication); never fail the check. */
  extraHealth?: (() => Record<string, unknown>) | undefined;
  /** The server's own state for /health. */
  status: () => { shuttingDown: boolean; wsConnections: number; decodeThreads: number };
}

/** The route whose requests the server's ingest path answers; its handler is never called. */
export const INGEST_ROUTE: RouteDefinition = {
  method: 'POST',
  pattern: INGEST_PATH,
  access: INGEST_ACCESS,
  audited: false,
  // The ingest path reads the bytes itself (a decode worker parses them), hence `raw`.
  bodyFormat: 'raw',
  schema: INGEST_SCHEMA,
  handler: () => {
    throw new Error(`BUG: POST ${INGEST_PATH} is answered by the ingest path, never through the router`);
  },
};

/**
 * `GET /api/v1/openapi.json`, answered by the HTTP handler from the router's own table
 * (openApiDocument), so the document lists exactly the routes served; its handler is never called.
 */
export const OPENAPI_ROUTE: RouteDefinition = {
  method: 'GET',
  pattern: OPENAPI_PATH,
  access: 'public',
  schema: OPENAPI_SCHEMA,
  handler: () => {
    throw new Error(`BUG: GET ${OPENAPI_PATH} is answered from the route table, never through its handler`);
  },
};

let packageVersion: string | undefined;
/** The package's version (package.json sits two levels above both src/server and dist/server). */
function version(): string {
  packageVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return packageVersion;
}

/** The OpenAPI 3.1 document of `routes` (src/http/openapi.ts). */
export function openApiDocument(routes: readonly RouteDefinition[]): Record<string, unknown> {
  return buildOpenApi(routes, {
    title: 'EMMS HTTP API',
    version: version(),
    description: 'Every route but the health probes, `/metrics` and this document needs `Authorization: Bearer <token>`. Unknown, missing and invalid parameters are answered with one 400 listing them all. Guide: docs/http_api.md.',
  });
}

type QueryAnswer = Awaited<ReturnType<MetricsSystem['queryWithStats']>>;
/** Bodies of answers shared by alike queries (query_concurrency.ts), by form: rendered once, not once per client. */
const renderedBodies = new WeakMap<QueryAnswer, { json?: ReturnType<typeof writeQueryJson>; columnar?: Uint8Array }>();

function renderedAnswer(answer: QueryAnswer, columnar: boolean): HttpResponseSpec {
  let bodies = renderedBodies.get(answer);
  if (bodies === undefined) renderedBodies.set(answer, (bodies = {}));
  if (columnar) return { body: (bodies.columnar ??= encodeColumnarQuery(answer.series, answer.stats)), contentType: CONTENT_TYPE_COLUMNAR };
  return { body: (bodies.json ??= writeQueryJson(answer.series, answer.stats)), contentType: CONTENT_TYPE_JSON };
}

export function builtinRoutes(deps: BuiltinRouteDeps): RouteDefinition[] {
  const { engine, limits, metrics } = deps;

  async function runQuery(req: HttpRequest, query: Parameters<MetricsSystem['queryWithStats']>[0]): Promise<HttpResponseSpec> {
    const tenant = tenantOf(req);
    const started = performance.now();
    try {
      // Alike queries waiting at once share one run (query_concurrency.ts): the key is the whole query.
      const origin = { client: req.principal?.id, key: JSON.stringify(query) };
      const answer = await deps.queries.run(tenant, () => engine.forTenant(tenant).queryWithStats(query), origin);
      return renderedAnswer(answer, acceptsColumnar(req.headers.accept));
    } catch (err) {
      throw cleanIntervalError(err);
    } finally {
      metrics.queryLatency.observe((performance.now() - started) / 1000);
    }
  }

  const metricsAccess: RouteAccess = deps.metricsAccess === 'open' ? 'public' : 'reader';
  return [
    { method: 'GET', pattern: '/api/v1/query', access: 'reader', schema: QUERY_GET_SCHEMA, handler: (req) => runQuery(req, queryFromSearchParams(req.query, limits)) },
    { method: 'POST', pattern: '/api/v1/query', access: 'reader', schema: QUERY_POST_SCHEMA, handler: (req) => runQuery(req, queryFromBody(req.body, limits)) },
    { method: 'GET', pattern: '/health', access: 'public', schema: HEALTH_SCHEMA, handler: async (req) => health(deps, req.principal !== undefined) },
    OPENAPI_ROUTE,
    ...probeRoutes(deps),
    {
      method: 'GET', pattern: '/metrics', access: metricsAccess, schema: METRICS_SCHEMA,
      handler: () => ({
        body: metrics.render(engine.running ? engine.stats() : undefined) + (deps.extraMetrics?.() ?? ''),
        contentType: PROMETHEUS_CONTENT_TYPE,
      }),
    },
    {
      method: 'GET', pattern: '/federate', access: 'reader', schema: FEDERATE_SCHEMA,
      handler: async (req) => {
        const match = req.query.get('match') ?? req.query.get('match[]');
        if (match === null || match === '') throw new HttpError(400, 'match is required: a glob over metric ids, e.g. match=crypto.*', { error: 'match is required', parameter: 'match' });
        const tenant = tenantOf(req);
        const latest = await deps.queries.run(tenant, () => engine.forTenant(tenant).latest(match, undefined, limits.maxSeries), { client: req.principal?.id, key: `federate\u0000${match}` });
        return { body: renderFederation(latest), contentType: PROMETHEUS_CONTENT_TYPE };
      },
    },
  ];
}

const PROBE_ANSWER: JsonSchema = {
  type: 'object', required: ['status'], additionalProperties: false,
  properties: { status: { type: 'string', enum: ['alive', 'ready', 'not_ready'] }, reason: { type: 'string', description: 'why the server is not ready' } },
};

/**
 * `/health/live` and `/health/ready`, for orchestrators (Kubernetes probes, load balancers):
 * public, tiny, and free of figures. Live: the process answers HTTP (a failing live probe means
 * restart it). Ready: storage is open, its replay is done (`engine.running` turns true only
 * after `start()` replayed the write-ahead records), it takes writes (the back-end is
 * reachable), and the server is not shutting down; otherwise 503 with the reason, so traffic
 * goes elsewhere without a restart.
 */
function probeRoutes(deps: BuiltinRouteDeps): RouteDefinition[] {
  return [
    {
      method: 'GET', pattern: '/health/live', access: 'public',
      schema: { summary: 'Liveness: the process answers', tag: 'health', responses: { 200: { description: 'the process is up', schema: PROBE_ANSWER } } },
      handler: () => ({ body: { status: 'alive' } }),
    },
    {
      method: 'GET', pattern: '/health/ready', access: 'public',
      schema: {
        summary: 'Readiness: storage open, replay done, back-end reachable', tag: 'health',
        responses: { 200: { description: 'ready for traffic', schema: PROBE_ANSWER }, 503: { description: 'not ready; `reason` says why', schema: PROBE_ANSWER } },
      },
      handler: async () => {
        const reason = await notReadyReason(deps);
        return reason === undefined ? { body: { status: 'ready' } } : { status: 503, body: { status: 'not_ready', reason } };
      },
    },
  ];
}

async function notReadyReason(deps: BuiltinRouteDeps): Promise<string | undefined> {
  if (deps.status().shuttingDown) return 'server is shutting down';
  const { engine } = deps;
  if (!engine.running) return 'storage is not open (start-up replay not finished, or stopped)';
  try {
    await engine.checkWritable();
  } catch {
    // The error itself (paths, SQLite codes) is for GET /health with credentials, not the public.
    return 'storage back-end does not take writes (details: GET /health with credentials)';
  }
  return undefined;
}

/**
 * `/health`: 200 or 503 by whether storage takes writes. Components (storage figures,
 * connection counts, the last maintenance error) only for a caller with valid credentials;
 * anyone else learns the status alone.
 */
async function health(deps: BuiltinRouteDeps, detailed: boolean): Promise<HttpResponseSpec> {
  const { engine } = deps;
  const state = deps.status();
  const components: Record<string, unknown> = {
    server: { status: state.shuttingDown ? 'stopping' : 'ok', ws_connections: state.wsConnections },
    decoders: { status: 'ok', threads: state.decodeThreads },
    ...deps.extraHealth?.(),
  };
  try {
    if (!engine.running) throw new Error('engine is not running');
    await engine.checkWritable();
    const s = engine.stats();
    const m = s.maintenance;
    components.storage = {
      status: 'ok', series: s.series, chunks: s.chunks, head_points: s.headPoints, wal_bytes: s.walBytes, disk_bytes: s.diskBytes,
      ...(m === undefined ? {} : {
        pending_cuts: m.pendingCuts, pending_cut_points: m.pendingCutPoints, cuts_encoded_by_writer: m.cutsEncodedByWriter, checkpoint_running: m.checkpointRunning, compaction_running: m.compactionRunning,
        // Settling after ingest goes quiet (src/storage/settle_policy.ts): a benchmark or an operator waits for settled.
        ...(m.settled === undefined ? {} : {
          settled: m.settled, last_settled_at: m.lastSettledAtMs === undefined ? null : new Date(m.lastSettledAtMs).toISOString(), heads_to_settle: m.headsToSettle,
          head_bytes: m.headBytes, wal_oldest_age_ms: m.walOldestAgeMs, compaction_backlog: m.compactionBacklog, recent_points_per_second: m.recentPointsPerSecond,
        }),
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
