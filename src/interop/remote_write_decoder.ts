/**
 * A remote-write 1.0 request body (snappy block format around a protobuf WriteRequest) turned
 * into EMMS columnar series, every bound checked before the memory it guards is spent:
 * 1. the compressed size is bounded by the server (`collector.max_body_bytes`);
 * 2. snappy's block header declares the uncompressed length (a varint): it is read and checked
 *    against `maxDecompressedBytes` before the snappy library allocates anything;
 * 3. series and samples are counted and bounded before anything is converted;
 * 4. every series is validated (name, labels, timestamps) before any is stored.
 *
 * Naming: `__name__` is the metric id as it is (`node_cpu_seconds_total` stays so, `_` is not
 * turned into `.`); the other labels become tags; an empty label value means "no label", as in
 * Prometheus. Samples whose value is NaN (including Prometheus's staleness marker) or ±Inf
 * cannot be stored by EMMS and are skipped and counted.
 */
import { uncompressSync } from 'snappy';
import { MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_POINT, METRIC_ID_PATTERN, TAG_KEY_PATTERN, isStorableTime, type Tags } from '../model/metric.js';
import { decodeWriteRequest, int64ToNumber, type WireLabel, type WireWriteRequest } from './remote_write_proto.js';
import { LocalNumbering, PointColumns, columnsToSeries, type SeriesNumbering } from './series_numbering.js';

export interface RemoteWriteLimits {
  maxDecompressedBytes: number;
  maxSeries: number;
  maxSamples: number;
}

export interface DecodedRemoteWrite {
  /** Sample i is (seriesOf[i], timestamps[i], values[i]); series numbers come from the numbering. */
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
  samples: number;
  /** NaN (staleness markers included) and ±Inf samples, not stored. */
  skippedNonFinite: number;
}

/** A refused request: `status` 400 or 413, `field` names where (e.g. `timeseries[3].labels`). */
export class RemoteWriteError extends Error {
  constructor(
    readonly status: 400 | 413,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteWriteError';
  }
}

/** Most bytes of a varint of up to 2^35: enough for any length we would accept. */
const MAX_VARINT_BYTES = 5;

/**
 * The uncompressed length a snappy block declares (its leading little-endian base-128
 * varint), or undefined when the header is malformed.
 */
export function snappyDeclaredLength(block: Uint8Array): number | undefined {
  let length = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES && i < block.length; i++) {
    const b = block[i]!;
    length += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return length;
    scale *= 128;
  }
  return undefined;
}

/** decodeRemoteWrite with a numbering of its own, as one series per series (tests, embedders). */
export function decodeRemoteWriteSeries(body: Uint8Array, limits: RemoteWriteLimits): { series: ReturnType<typeof columnsToSeries>; samples: number; skippedNonFinite: number } {
  const numbering = new LocalNumbering();
  const d = decodeRemoteWrite(body, limits, numbering);
  return { series: columnsToSeries(d, numbering.identities), samples: d.samples, skippedNonFinite: d.skippedNonFinite };
}

/**
 * Decodes and validates a request body, numbering new series through `numbering` (a series
 * whose label text was seen before is not validated again); throws RemoteWriteError naming
 * what is wrong.
 */
export function decodeRemoteWrite(body: Uint8Array, limits: RemoteWriteLimits, numbering: SeriesNumbering): DecodedRemoteWrite {
  if (body.byteLength === 0) throw new RemoteWriteError(400, 'body', 'empty body: send a snappy-compressed prometheus.WriteRequest');
  const declared = snappyDeclaredLength(body);
  if (declared === undefined) throw new RemoteWriteError(400, 'body', 'the body is not snappy block format (bad length header)');
  if (declared > limits.maxDecompressedBytes) {
    throw new RemoteWriteError(413, 'body', `the snappy body declares ${declared} uncompressed bytes, more than the limit of ${limits.maxDecompressedBytes}; lower max_samples_per_send`);
  }
  let raw: Uint8Array;
  try {
    raw = uncompressSync(Buffer.from(body.buffer, body.byteOffset, body.byteLength)) as Buffer;
  } catch (err) {
    throw new RemoteWriteError(400, 'body', `the body is not valid snappy block format: ${(err as Error).message}`);
  }
  let request: WireWriteRequest;
  try {
    request = decodeWriteRequest(raw);
  } catch (err) {
    throw new RemoteWriteError(400, 'body', `the body is not a protobuf prometheus.WriteRequest: ${(err as Error).message}`);
  }
  return toColumns(request, limits, numbering);
}

function toColumns(request: WireWriteRequest, limits: RemoteWriteLimits, numbering: SeriesNumbering): DecodedRemoteWrite {
  const wire = request.timeseries;
  if (wire.length > limits.maxSeries) throw new RemoteWriteError(413, 'timeseries', `the request has ${wire.length} series, more than the limit of ${limits.maxSeries}`);
  let total = 0;
  for (const ts of wire) total += ts.samples.length;
  if (total > limits.maxSamples) throw new RemoteWriteError(413, 'timeseries', `the request has ${total} samples, more than the limit of ${limits.maxSamples} (collector.batch_size)`);
  const out = new PointColumns(total);
  let skippedNonFinite = 0;
  for (let s = 0; s < wire.length; s++) {
    const ts = wire[s]!;
    let key = '';
    for (const l of ts.labels) key += `${l.name}\u0000${l.value}\u0001`;
    let series = numbering.keyed.get(key);
    if (series === undefined) {
      series = numbering.add(identityOf(ts.labels, s));
      numbering.keyed.set(key, series);
    }
    const n = ts.samples.length;
    for (let i = 0; i < n; i++) {
      const sample = ts.samples[i]!;
      const t = int64ToNumber(sample.timestamp);
      if (!isStorableTime(t)) {
        throw new RemoteWriteError(400, `timeseries[${s}].samples[${i}].timestamp`, `timeseries[${s}].samples[${i}].timestamp=${t} must be epoch milliseconds in [1970, 2200)`);
      }
      const v = sample.value;
      // v - v is 0 for every finite double and NaN for NaN and ±Inf: one test for both.
      if (v - v !== 0) {
        skippedNonFinite++;
        continue;
      }
      out.push(series, t, v);
    }
  }
  return { ...out.finish(), samples: out.length, skippedNonFinite };
}

/** The metric id and tags of a series' labels, validated; RemoteWriteError naming the label. */
function identityOf(labels: readonly WireLabel[], s: number): { metricId: string; tags: Tags } {
  let metricId: string | undefined;
  const tags: Tags = {};
  let tagCount = 0;
  for (let l = 0; l < labels.length; l++) {
    const { name, value } = labels[l]!;
    const field = `timeseries[${s}].labels[${l}]`;
    if (name === '__name__') {
      if (metricId !== undefined) throw new RemoteWriteError(400, field, `${field}: __name__ appears twice`);
      if (!METRIC_ID_PATTERN.test(value)) throw new RemoteWriteError(400, field, `${field}: __name__=${JSON.stringify(value.slice(0, 300))} must match ${METRIC_ID_PATTERN.source}`);
      metricId = value;
      continue;
    }
    if (!TAG_KEY_PATTERN.test(name)) throw new RemoteWriteError(400, field, `${field}: label name ${JSON.stringify(name.slice(0, 100))} must match ${TAG_KEY_PATTERN.source}`);
    if (Object.prototype.hasOwnProperty.call(tags, name)) throw new RemoteWriteError(400, field, `${field}: label ${name} appears twice`);
    if (value === '') continue;
    if (value.length > MAX_TAG_VALUE_CHARS) throw new RemoteWriteError(400, field, `${field}: label ${name} value must be at most ${MAX_TAG_VALUE_CHARS} characters`);
    if (++tagCount > MAX_TAGS_PER_POINT) throw new RemoteWriteError(400, field, `timeseries[${s}]: at most ${MAX_TAGS_PER_POINT} labels besides __name__`);
    tags[name] = value;
  }
  if (metricId === undefined) throw new RemoteWriteError(400, `timeseries[${s}].labels`, `timeseries[${s}] has no __name__ label`);
  return { metricId, tags };
}
