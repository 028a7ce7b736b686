/**
 * InfluxDB write endpoints, so Telegraf's `outputs.influxdb` (`POST /write`, 1.x) and
 * `outputs.influxdb_v2` (`POST /api/v2/write`) and any line-protocol client can send to EMMS.
 * Points go to the tenant of the credentials (writer role); `db`, `rp`, `org` and `bucket` are
 * accepted for compatibility and do not choose anything. Success is 204 as in InfluxDB, with the
 * counts in `x-emms-*` headers. A bad line is a 400 naming its line and column, in a body that
 * carries both InfluxDB 1.x's (`error`) and 2.x's (`code`, `message`) fields; nothing of that
 * request is stored. Parsing rules: line_protocol_parser.ts; docs/ingest_protocols.md.
 */
import { HttpError, tenantOf, type HttpRequest, type HttpResponseSpec, type RouteDefinition, type RouteSchema } from '../http/route.js';
import { decodedBody } from './content_encoding.js';
import { InteropRefusal, type InteropSink } from './interop_sink.js';
import type { LinePrecision } from './line_protocol_parser.js';

export const LINE_PROTOCOL_V1_PATH = '/write';
export const LINE_PROTOCOL_V2_PATH = '/api/v2/write';

/** 1.x accepts n/u as well as ns/us, and minutes and hours; 2.x only ns, us, ms, s. */
const V1_PRECISIONS: Readonly<Record<string, LinePrecision>> = { n: 'ns', ns: 'ns', u: 'us', us: 'us', ms: 'ms', s: 's', m: 'm', h: 'h' };
const V2_PRECISIONS: Readonly<Record<string, LinePrecision>> = { ns: 'ns', us: 'us', ms: 'ms', s: 's' };

interface Dialect {
  path: string;
  precisions: Readonly<Record<string, LinePrecision>>;
  /** Parameters read (precision) or accepted and ignored (the rest). */
  params: readonly string[];
}

const V1: Dialect = { path: LINE_PROTOCOL_V1_PATH, precisions: V1_PRECISIONS, params: ['db', 'rp', 'precision', 'consistency'] };
const V2: Dialect = { path: LINE_PROTOCOL_V2_PATH, precisions: V2_PRECISIONS, params: ['org', 'orgID', 'bucket', 'precision'] };

function invalid(status: number, message: string, extra: Record<string, unknown> = {}): HttpError {
  return new HttpError(status, message, { error: message, code: 'invalid', message, ...extra });
}

async function write(sink: InteropSink, dialect: Dialect, req: HttpRequest): Promise<HttpResponseSpec> {
  const tenant = tenantOf(req);
  for (const name of req.query.keys()) {
    if (!dialect.params.includes(name)) throw invalid(400, `unknown parameter ${JSON.stringify(name)}: ${dialect.path} takes ${dialect.params.join(', ')}`, { parameter: name });
  }
  const precisionParam = req.query.get('precision') ?? 'ns';
  const precision = dialect.precisions[precisionParam];
  if (precision === undefined) {
    throw invalid(400, `precision=${JSON.stringify(precisionParam)} must be one of ${Object.keys(dialect.precisions).join(', ')} (default ns)`, { parameter: 'precision' });
  }
  const bytes = await decodedBody(req.rawBody ?? new Uint8Array(0), req.headers['content-encoding'], sink.limits.maxDecompressedBytes);
  // The UTF-8 check and the parse run in a decode worker (line_protocol_codec.ts).
  let stored;
  try {
    stored = await sink.store(tenant, 'line_protocol', bytes, { precision, maxPoints: sink.limits.maxPoints });
  } catch (err) {
    if (err instanceof InteropRefusal) throw invalid(err.status, err.message, { ...err.details });
    throw err;
  }
  return {
    status: 204,
    headers: {
      'x-emms-points-accepted': String(stored.accepted),
      'x-emms-skipped-string-fields': String(stored.counts.skippedStringFields ?? 0),
    },
  };
}

const ERROR_BODY = {
  type: 'object',
  properties: {
    error: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' },
    line: { type: 'integer', description: '1-based line of the first bad line' },
    column: { type: 'integer', description: '1-based column in that line' },
  },
  required: ['error'],
};

function schemaOf(dialect: Dialect, summary: string): RouteSchema {
  const params: Record<string, { description: string; schema: Record<string, unknown> }> = {};
  for (const p of dialect.params) {
    params[p] = p === 'precision'
      ? { description: 'Unit of the timestamps in the body; default ns.', schema: { type: 'string', enum: Object.keys(dialect.precisions), default: 'ns' } }
      : { description: 'Accepted for compatibility with InfluxDB clients; ignored (the tenant comes from the credentials).', schema: { type: 'string', maxLength: 256 } };
  }
  return {
    summary,
    tag: 'ingest',
    description: 'InfluxDB line protocol; each numeric field becomes the series `measurement.field` with the line\'s tags. String fields are skipped and counted. Content-Encoding gzip is accepted. See docs/ingest_protocols.md.',
    query: params,
    body: [{ contentType: 'text/plain', schema: { type: 'string', description: 'line protocol, one point per line' }, required: true }],
    responses: {
      204: { description: 'Every point stored durably (counts in x-emms-points-accepted and x-emms-skipped-string-fields).' },
      400: { description: 'A bad line (line and column named) or parameter; nothing stored.', contentType: 'application/json', schema: ERROR_BODY },
      413: { description: 'The body, or its inflated gzip content, is too large.', contentType: 'application/json', schema: ERROR_BODY },
      415: { description: 'An unsupported Content-Encoding.', contentType: 'application/json', schema: ERROR_BODY },
      429: { description: 'The tenant\'s ingest_points_per_second quota is exhausted.', contentType: 'application/json', schema: ERROR_BODY },
    },
  };
}

export function lineProtocolRoutes(sink: InteropSink): RouteDefinition[] {
  return [
    // acceptsTokenScheme: Telegraf's outputs.influxdb_v2 sends `Authorization: Token <key>`.
    // Not audited: points are data, as on POST /api/v1/metrics (one record per batch flooded the log).
    { method: 'POST', pattern: V1.path, access: 'writer', bodyFormat: 'raw', audited: false, acceptsTokenScheme: true, schema: schemaOf(V1, 'Write line protocol (InfluxDB 1.x)'), handler: (req) => write(sink, V1, req) },
    { method: 'POST', pattern: V2.path, access: 'writer', bodyFormat: 'raw', audited: false, acceptsTokenScheme: true, schema: schemaOf(V2, 'Write line protocol (InfluxDB 2.x)'), handler: (req) => write(sink, V2, req) },
  ];
}
