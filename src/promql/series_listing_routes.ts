/**
 * EMMS's own listing API (not Prometheus-shaped): `GET /api/v1/series` lists series (metric
 * id, type, tags) and `GET /api/v1/labels` lists tag keys with their values, both over the
 * caller's tenant, filtered by a glob over metric ids (`match`) and exact `tag.<key>=<value>`
 * filters, and bounded by `limit` (default 1,000, at most 10,000) with `truncated` saying when
 * more existed. Unknown parameters are refused by name, as the strict API requires.
 */
import { HttpError, tenantOf, type HttpRequest, type HttpResponseSpec, type JsonSchema, type RouteDefinition, type RouteSchema } from '../http/route.js';
import type { MetricsSystem } from '../model/api.js';
import { MetricValidationError, describeValue, type Tags } from '../model/metric.js';

export const DEFAULT_LISTING_LIMIT = 1000;
export const MAX_LISTING_LIMIT = 10_000;
const KNOWN_PARAMETERS = new Set(['match', 'limit']);
const TAG_PREFIX = 'tag.';

function bad(parameter: string, value: unknown, rule: string): never {
  const message = `${parameter}=${describeValue(value)} ${rule}`;
  throw new HttpError(400, message, { error: message, parameter });
}

interface ListingRequest {
  match: string;
  tags: Tags | undefined;
  limit: number;
}

function listingRequest(query: URLSearchParams): ListingRequest {
  let tags: Tags | undefined;
  const unknown: string[] = [];
  for (const [name, value] of query) {
    if (name.startsWith(TAG_PREFIX)) {
      if (name.length === TAG_PREFIX.length) bad(name, value, 'needs a tag key after `tag.`');
      tags ??= {};
      tags[name.slice(TAG_PREFIX.length)] = value;
    } else if (!KNOWN_PARAMETERS.has(name)) {
      unknown.push(name);
    }
  }
  if (unknown.length > 0) {
    const message = `unknown parameter(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')}; accepted: match, limit, tag.<key>`;
    throw new HttpError(400, message, { error: message, parameter: unknown[0] });
  }
  const match = query.get('match') ?? '*';
  const limitText = query.get('limit');
  const limit = limitText === null ? DEFAULT_LISTING_LIMIT : Number(limitText);
  if (limitText !== null && (!/^[0-9]+$/.test(limitText) || limit < 1 || limit > MAX_LISTING_LIMIT)) {
    bad('limit', limitText, `must be an integer in [1, ${MAX_LISTING_LIMIT}] (default ${DEFAULT_LISTING_LIMIT})`);
  }
  return { match, tags, limit };
}

async function selected(engine: MetricsSystem, req: HttpRequest, r: ListingRequest): Promise<Array<{ metricId: string; metricType: string; tags: Tags }>> {
  try {
    return await engine.forTenant(tenantOf(req)).listSeries(r.match, r.tags);
  } catch (err) {
    if (err instanceof MetricValidationError) bad('match', r.match, 'must be a glob over metric ids (`*` any run, `?` one character) of at most 512 characters');
    throw err;
  }
}

async function listSeries(engine: MetricsSystem, req: HttpRequest): Promise<HttpResponseSpec> {
  const r = listingRequest(req.query);
  const all = await selected(engine, req, r);
  const series = all.slice(0, r.limit).map((s) => ({ metric_id: s.metricId, metric_type: s.metricType, tags: s.tags }));
  return { body: { series, truncated: all.length > r.limit } };
}

async function listLabels(engine: MetricsSystem, req: HttpRequest): Promise<HttpResponseSpec> {
  const r = listingRequest(req.query);
  const values = new Map<string, Set<string>>();
  let truncated = false;
  for (const s of await selected(engine, req, r)) {
    for (const [k, v] of Object.entries(s.tags)) {
      let set = values.get(k);
      if (set === undefined) {
        if (values.size >= r.limit) {
          truncated = true;
          continue;
        }
        set = new Set();
        values.set(k, set);
      }
      if (set.has(v)) continue;
      if (set.size >= r.limit) truncated = true;
      else set.add(v);
    }
  }
  const labels: Record<string, string[]> = {};
  for (const k of [...values.keys()].sort()) labels[k] = [...values.get(k)!].sort();
  return { body: { labels, truncated } };
}

const QUERY = {
  match: { description: 'Glob over metric ids (`*` any run, `?` one character); default `*`', schema: { type: 'string', maxLength: 512 } },
  limit: { description: `Most entries returned (series; or tag keys, and values per key); default ${DEFAULT_LISTING_LIMIT}`, schema: { type: 'integer', minimum: 1, maximum: MAX_LISTING_LIMIT } },
  'tag.{key}': { description: 'Exact tag filter, repeatable: only series whose tag <key> has this value', schema: { type: 'string' } },
};
const ERROR: JsonSchema = { type: 'object', required: ['error'], properties: { error: { type: 'string' }, parameter: { type: 'string' } } };

function schema(summary: string, body: JsonSchema): RouteSchema {
  return {
    summary,
    tag: 'query',
    query: QUERY,
    responses: {
      200: { description: 'Success', contentType: 'application/json', schema: body },
      400: { description: 'A parameter is invalid or unknown (named in `parameter`)', contentType: 'application/json', schema: ERROR },
    },
  };
}

export function seriesListingRoutes(engine: MetricsSystem): RouteDefinition[] {
  return [
    {
      method: 'GET', pattern: '/api/v1/series', access: 'reader',
      schema: schema('List series (metric id, type, tags)', {
        type: 'object',
        required: ['series', 'truncated'],
        properties: {
          series: { type: 'array', items: { type: 'object', properties: { metric_id: { type: 'string' }, metric_type: { type: 'string' }, tags: { type: 'object', additionalProperties: { type: 'string' } } } } },
          truncated: { type: 'boolean' },
        },
      }),
      handler: (req) => listSeries(engine, req),
    },
    {
      method: 'GET', pattern: '/api/v1/labels', access: 'reader',
      schema: schema('List tag keys with their values', {
        type: 'object',
        required: ['labels', 'truncated'],
        properties: { labels: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } }, truncated: { type: 'boolean' } },
      }),
      handler: (req) => listLabels(engine, req),
    },
  ];
}
