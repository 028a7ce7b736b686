/**
 * `POST /api/v1/write`: Prometheus remote-write 1.0 in, into the tenant of the credentials
 * (writer role). Configure Prometheus with `remote_write: [{url: http://emms:8080/api/v1/write,
 * authorization: {credentials: <EMMS API key>}}]`. Answers 204 once the whole request is
 * durable; 400 (Prometheus drops the request and logs our message) or 413 names what is wrong
 * and nothing of the request is stored; 429 on the tenant's ingest quota (Prometheus retries
 * with `retry_on_http_429`). Remote write 2.0 is refused with 415, as its specification asks.
 */
import { HttpError, tenantOf, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { InteropRefusal, type InteropSink } from './interop_sink.js';

export const REMOTE_WRITE_PATH = '/api/v1/write';

/** Series per request: Prometheus sends at most max_samples_per_send (500 to 2000) samples, so far fewer. */
export const MAX_REMOTE_WRITE_SERIES = 100_000;

async function write(sink: InteropSink, req: HttpRequest): Promise<HttpResponseSpec> {
  const tenant = tenantOf(req);
  const encoding = (req.headers['content-encoding'] ?? 'snappy').trim().toLowerCase();
  if (encoding !== 'snappy') throw new HttpError(415, `content-encoding ${JSON.stringify(req.headers['content-encoding'])} is not supported: remote write bodies are snappy-compressed`);
  const version = req.headers['x-prometheus-remote-write-version'];
  const contentType = req.headers['content-type'] ?? '';
  if ((version !== undefined && !version.startsWith('0.1')) || contentType.includes('io.prometheus.write.v2')) {
    throw new HttpError(415, `remote write ${version ?? 'v2'} is not supported: send remote write 1.0 (prometheus.WriteRequest, X-Prometheus-Remote-Write-Version 0.1.0)`);
  }
  for (const name of req.query.keys()) throw new HttpError(400, `unknown parameter ${JSON.stringify(name)}: ${REMOTE_WRITE_PATH} takes none`, { error: `unknown parameter ${JSON.stringify(name)}`, parameter: name });
  // Snappy, protobuf and validation run in a decode worker (remote_write_codec.ts).
  let stored;
  try {
    stored = await sink.store(tenant, 'remote_write', req.rawBody ?? new Uint8Array(0), {
      maxDecompressedBytes: sink.limits.maxDecompressedBytes,
      maxSeries: MAX_REMOTE_WRITE_SERIES,
      maxSamples: sink.limits.maxPoints,
    });
  } catch (err) {
    if (err instanceof InteropRefusal) throw new HttpError(err.status, err.message, { error: err.message, ...err.details });
    throw err;
  }
  return { status: 204, headers: { 'x-emms-samples-accepted': String(stored.accepted), 'x-emms-samples-skipped-non-finite': String(stored.counts.skippedNonFinite ?? 0) } };
}

const ERROR_BODY = { type: 'object', properties: { error: { type: 'string' }, field: { type: 'string' } }, required: ['error'] };

export function remoteWriteRoutes(sink: InteropSink): RouteDefinition[] {
  return [{
    // Not audited: samples are data, as on POST /api/v1/metrics.
    method: 'POST', pattern: REMOTE_WRITE_PATH, access: 'writer', bodyFormat: 'raw', audited: false,
    schema: {
      summary: 'Prometheus remote write 1.0',
      tag: 'ingest',
      description: 'A snappy-compressed protobuf prometheus.WriteRequest. `__name__` becomes the metric id unchanged, other labels become tags; NaN and ±Inf samples (staleness markers) are skipped and counted. See docs/ingest_protocols.md.',
      body: [{ contentType: 'application/x-protobuf', schema: { type: 'string', format: 'binary', description: 'snappy block format around a protobuf prometheus.WriteRequest' }, required: true }],
      responses: {
        204: { description: 'Every sample stored durably (counts in x-emms-samples-accepted and x-emms-samples-skipped-non-finite).' },
        400: { description: 'Malformed body or an invalid series (named in `field`); nothing stored.', contentType: 'application/json', schema: ERROR_BODY },
        413: { description: 'Too large: decompressed size, series or samples past the limits.', contentType: 'application/json', schema: ERROR_BODY },
        415: { description: 'Not snappy, or remote write 2.0.', contentType: 'application/json', schema: ERROR_BODY },
        429: { description: 'The tenant\'s ingest_points_per_second quota is exhausted.', contentType: 'application/json', schema: ERROR_BODY },
      },
    },
    handler: (req) => write(sink, req),
  }];
}
