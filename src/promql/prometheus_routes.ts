/**
 * The Prometheus-compatible HTTP API under `/prometheus/api/v1/` (query, query_range, series,
 * labels, label values, metadata, build info, exemplars), for Grafana's Prometheus data source
 * and `promtool query`: the same parameters, JSON shapes, error types and status codes as
 * Prometheus 2.42's `web/api/v1/api.go`, over the caller's tenant. GET and form POST both work.
 * docs/promql.md describes the subset, the naming rule and every deliberate difference.
 */
import { HttpError, tenantOf, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import type { MetricsSystem } from '../model/api.js';
import { typeOf } from './ast.js';
import { BadDataError, parseApiDuration, parseApiTime } from './api_values.js';
import { PromQLExecutionError, PromQLSyntaxError, PromQLTimeoutError, PromQLUnsupportedError } from './errors.js';
import { DEFAULT_EVAL_LIMITS, evaluateMatrixSelector, evaluateRange, type EvalLimits } from './evaluator.js';
import { apiParams, type ApiParams } from './form_params.js';
import { parsePromQL } from './parser.js';
import { PROMETHEUS_API_SCHEMAS } from './prometheus_route_schemas.js';
import { renderInstant, renderMatrix, renderRaw } from './result_json.js';
import { EngineSeriesSource } from './series_source.js';
import type { LabelMatcher } from './ast.js';
import type { Labels } from './name_mapping.js';

export const PROMETHEUS_API_PREFIX = '/prometheus/api/v1';
/** Series the listing endpoints (series, labels, label values, metadata) may touch. */
export const MAX_LISTED_SERIES = 100_000;
/** The version promtool and Grafana see: the Prometheus release whose PromQL semantics EMMS follows. */
export const COMPATIBLE_PROMETHEUS_VERSION = '2.42.0';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function errorAnswer(err: unknown): never {
  const fail = (status: number, errorType: string, message: string): never => {
    throw new HttpError(status, message, { status: 'error', errorType, error: message });
  };
  if (err instanceof BadDataError || err instanceof PromQLSyntaxError) return fail(400, 'bad_data', err.message);
  if (err instanceof PromQLUnsupportedError || err instanceof PromQLExecutionError) return fail(422, 'execution', err.message);
  if (err instanceof PromQLTimeoutError) return fail(503, 'timeout', err.message);
  throw err;
}

/** A whole success answer already written as JSON bytes (result_json.ts writes matrices so). */
class SerialisedJson {
  constructor(readonly bytes: Uint8Array) {}
}

/** What result_json.ts writes around a matrix's `data`, so that the answer is one buffer. */
const SUCCESS_ENVELOPE = { head: '{"status":"success","data":', tail: '}' };

/** The success envelope; an answer already serialised (a matrix) is sent as it is. */
function success(data: unknown): HttpResponseSpec {
  if (data instanceof SerialisedJson) return { body: data.bytes, contentType: 'application/json' };
  return { body: { status: 'success', data } };
}


/** Runs one API call with Prometheus' error shapes. */
function apiRoute(run: (params: ApiParams, source: EngineSeriesSource, req: HttpRequest) => Promise<unknown>, engine: MetricsSystem) {
  return async (req: HttpRequest): Promise<HttpResponseSpec> => {
    try {
      const params = apiParams(req);
      return success(await run(params, new EngineSeriesSource(engine.forTenant(tenantOf(req))), req));
    } catch (err) {
      return errorAnswer(err);
    }
  };
}

function limitsWithTimeout(params: ApiParams, limits: EvalLimits): EvalLimits {
  const timeout = params.get('timeout');
  if (timeout === undefined || timeout === '') return limits;
  const ms = parseApiDuration('timeout', timeout);
  return ms > 0 && ms < limits.timeoutMs ? { ...limits, timeoutMs: ms } : limits;
}

function requiredQuery(params: ApiParams): string {
  const q = params.get('query');
  if (q === undefined) throw new BadDataError('invalid parameter "query": no expression found in input');
  return q;
}

async function instantQuery(params: ApiParams, source: EngineSeriesSource, limits: EvalLimits): Promise<unknown> {
  const time = params.get('time');
  const timeMs = time === undefined || time === '' ? Date.now() : parseApiTime('time', time);
  const effective = limitsWithTimeout(params, limits);
  const expr = parsePromQL(requiredQuery(params));
  if (expr.kind === 'matrix_selector') return new SerialisedJson(renderRaw(await evaluateMatrixSelector(expr, source, timeMs, effective), SUCCESS_ENVELOPE));
  if (typeOf(expr) === 'matrix') throw new PromQLUnsupportedError('range vector expressions other than a selector');
  const { value } = await evaluateRange(expr, source, timeMs, timeMs, 1, effective);
  return renderInstant(value, timeMs);
}

async function rangeQuery(params: ApiParams, source: EngineSeriesSource, limits: EvalLimits): Promise<unknown> {
  const startMs = parseApiTime('start', params.get('start') ?? '');
  const endMs = parseApiTime('end', params.get('end') ?? '');
  if (endMs < startMs) throw new BadDataError('end timestamp must not be before start time');
  const stepMs = parseApiDuration('step', params.get('step') ?? '');
  if (stepMs <= 0) throw new BadDataError('zero or negative query resolution step widths are not accepted. Try a positive integer');
  if ((endMs - startMs) / stepMs > limits.maxSteps) throw new BadDataError('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
  const effective = limitsWithTimeout(params, limits);
  const expr = parsePromQL(requiredQuery(params));
  const type = typeOf(expr);
  if (type !== 'scalar' && type !== 'vector') throw new BadDataError(`invalid expression type "${type === 'matrix' ? 'range vector' : type}" for range query, must be Scalar or instant Vector`);
  const { steps, value } = await evaluateRange(expr, source, startMs, endMs, stepMs, effective);
  return new SerialisedJson(renderMatrix(value, steps, SUCCESS_ENVELOPE));
}

/** The matchers of every `match[]`, each a vector selector; validates start/end when given. */
function matchSets(params: ApiParams, required: boolean): LabelMatcher[][] | undefined {
  for (const name of ['start', 'end']) {
    const v = params.get(name);
    if (v !== undefined && v !== '') parseApiTime(name, v);
  }
  const matches = params.getAll('match[]');
  if (matches.length === 0) {
    if (required) throw new BadDataError('no match[] parameter provided');
    return undefined;
  }
  return matches.map((m) => {
    const expr = parsePromQL(m);
    if (expr.kind !== 'vector_selector') throw new BadDataError(`invalid parameter "match[]": ${JSON.stringify(m)} is not a series selector`);
    return expr.matchers as LabelMatcher[];
  });
}

async function matchingSeries(source: EngineSeriesSource, sets: LabelMatcher[][] | undefined): Promise<Labels[]> {
  const all = sets ?? [[{ name: '__name__', op: '=~', value: '.+' }]];
  const byKey = new Map<string, Labels>();
  for (const matchers of all) {
    for (const labels of await source.series(matchers, MAX_LISTED_SERIES)) byKey.set(JSON.stringify(Object.entries(labels).sort()), labels);
    if (byKey.size > MAX_LISTED_SERIES) throw new PromQLExecutionError(`more than ${MAX_LISTED_SERIES} series match; narrow match[]`);
  }
  return [...byKey.values()];
}

async function labelValues(params: ApiParams, source: EngineSeriesSource, name: string): Promise<string[]> {
  if (!LABEL_NAME.test(name)) throw new BadDataError(`invalid label name: "${name}"`);
  const sets = matchSets(params, false);
  if (name === '__name__' && sets === undefined) {
    await source.loadNames();
    return source.metricNames();
  }
  const values = new Set<string>();
  for (const labels of await matchingSeries(source, sets)) if (labels[name] !== undefined) values.add(labels[name]);
  return [...values].sort();
}

async function metadata(params: ApiParams, engine: MetricsSystem, source: EngineSeriesSource): Promise<unknown> {
  const limitText = params.get('limit');
  const limit = limitText === undefined || limitText === '' ? Infinity : Number(limitText);
  if (!Number.isInteger(limit) && limit !== Infinity) throw new BadDataError(`invalid parameter "limit": ${JSON.stringify(limitText)} is not an integer`);
  const only = params.get('metric');
  const out: Record<string, Array<{ type: string; help: string; unit: string }>> = {};
  let count = 0;
  for (const labels of await matchingSeries(source, only === undefined || only === '' ? undefined : [[{ name: '__name__', op: '=', value: only }]])) {
    const name = labels.__name__!;
    if (out[name] !== undefined) continue;
    if (limit >= 0 && count >= limit) break;
    const id = labels.emms_metric_id ?? (await source.idsOf(name))[0]!;
    const series = await engine.listSeries(id);
    out[name] = [{ type: series[0]?.metricType ?? 'unknown', help: `EMMS metric ${id}`, unit: '' }];
    count++;
  }
  return out;
}

export function prometheusApiRoutes(engine: MetricsSystem, limits: EvalLimits = DEFAULT_EVAL_LIMITS): RouteDefinition[] {
  const S = PROMETHEUS_API_SCHEMAS;
  const both = (path: string, schema: RouteDefinition['schema'], run: Parameters<typeof apiRoute>[0]): RouteDefinition[] => [
    { method: 'GET', pattern: `${PROMETHEUS_API_PREFIX}${path}`, access: 'reader', schema, handler: apiRoute(run, engine) },
    { method: 'POST', pattern: `${PROMETHEUS_API_PREFIX}${path}`, access: 'reader', bodyFormat: 'raw', schema, handler: apiRoute(run, engine) },
  ];
  return [
    ...both('/query', S.query, (p, s) => instantQuery(p, s, limits)),
    ...both('/query_range', S.queryRange, (p, s) => rangeQuery(p, s, limits)),
    ...both('/series', S.series, async (p, s) => (await matchingSeries(s, matchSets(p, true))).map((l) => Object.fromEntries(Object.entries(l).sort()))),
    ...both('/labels', S.labels, async (p, s) => {
      const names = new Set<string>();
      for (const labels of await matchingSeries(s, matchSets(p, false))) for (const n of Object.keys(labels)) names.add(n);
      return [...names].sort();
    }),
    ...both('/label/:name/values', S.labelValues, (p, s, req) => labelValues(p, s, req.params.name ?? '')),
    { method: 'GET', pattern: `${PROMETHEUS_API_PREFIX}/metadata`, access: 'reader', schema: S.metadata, handler: apiRoute((p, s) => metadata(p, s.metrics, s), engine) },
    ...both('/query_exemplars', S.exemplars, async (p) => {
      requiredQuery(p);
      return [];
    }),
    {
      method: 'GET', pattern: `${PROMETHEUS_API_PREFIX}/status/buildinfo`, access: 'reader', schema: S.buildinfo,
      handler: () => success({ version: COMPATIBLE_PROMETHEUS_VERSION, revision: 'emms', branch: 'emms', buildUser: 'emms', buildDate: '', goVersion: 'none (EMMS, TypeScript)' }),
    },
  ];
}
