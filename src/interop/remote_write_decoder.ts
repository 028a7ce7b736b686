/**
 * A remote-write 1.0 request body (snappy block format around a protobuf WriteRequest) turned
 * into EMMS columnar series, every bound checked before the memory it guards is spent:
 * 1. the compressed size is bounded by the server (`collector.max_body_bytes`);
 * 2. snappy's block header declares the uncompressed length (a varint): it is read and checked
 *    against `maxDecompressedBytes` before the snappy library allocates anything;
 * 3. series and samples are counted while decoding and the walk stops past either limit, so
 *    the columns never hold more than the limit allows;
 * 4. every series is validated (name, labels, timestamps) before any is stored (the caller
 *    stores the columns only when the whole body decoded).
 *
 * Naming: `__name__` is the metric id as it is (`node_cpu_seconds_total` stays so, `_` is not
 * turned into `.`); the other labels become tags; an empty label value means "no label", as in
 * Prometheus. Samples whose value is NaN (including Prometheus's staleness marker) or ±Inf
 * cannot be stored by EMMS and are skipped and counted.
 */
import { uncompressSync } from 'snappy';
import { MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_POINT, METRIC_ID_PATTERN, TAG_KEY_PATTERN, isStorableTime, type Tags } from '../model/metric.js';
import protobuf from 'protobufjs';
import { FIELD, WIRE_I64, WIRE_LEN, WIRE_VARINT, int64ToNumber, tagOf, type Int64, type WireLabel } from './remote_write_proto.js';
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
 * whose label bytes were seen before is not decoded or validated again); throws
 * RemoteWriteError naming what is wrong. `expectedSamples` sizes the columns (the codec passes
 * what the tenant's last request suggests); they grow when it is short.
 */
export function decodeRemoteWrite(body: Uint8Array, limits: RemoteWriteLimits, numbering: SeriesNumbering, expectedSamples = 0): DecodedRemoteWrite {
  if (body.byteLength === 0) throw new RemoteWriteError(400, 'body', 'empty body: send a snappy-compressed prometheus.WriteRequest');
  const declared = snappyDeclaredLength(body);
  if (declared === undefined) throw new RemoteWriteError(400, 'body', 'the body is not snappy block format (bad length header)');
  if (declared > limits.maxDecompressedBytes) {
    throw new RemoteWriteError(413, 'body', `the snappy body declares ${declared} uncompressed bytes, more than the limit of ${limits.maxDecompressedBytes}; lower max_samples_per_send`);
  }
  let raw: Buffer;
  try {
    raw = uncompressSync(Buffer.from(body.buffer, body.byteOffset, body.byteLength)) as Buffer;
  } catch (err) {
    throw new RemoteWriteError(400, 'body', `the body is not valid snappy block format: ${(err as Error).message}`);
  }
  try {
    return readColumns(raw, limits, numbering, expectedSamples);
  } catch (err) {
    // The walk stops at the first problem it meets; the answer is the one a decode of the
    // whole message followed by the checks would give: a malformed message first, then the
    // request's size, then the first invalid series.
    const census = censusOf(raw);
    if (census.series > limits.maxSeries) throw new RemoteWriteError(413, 'timeseries', `the request has ${census.series} series, more than the limit of ${limits.maxSeries}`);
    if (census.samples > limits.maxSamples) throw new RemoteWriteError(413, 'timeseries', `the request has ${census.samples} samples, more than the limit of ${limits.maxSamples} (collector.batch_size)`);
    if (err instanceof RemoteWriteError) throw err;
    if (err instanceof OverLimit) throw new Error(`BUG: the walk stopped over a limit the census does not see (${census.series} series, ${census.samples} samples)`);
    throw malformed(err);
  }
}

const TIMESERIES_TAG = tagOf(FIELD.writeRequestTimeseries, WIRE_LEN);
const LABEL_TAG = tagOf(FIELD.timeSeriesLabels, WIRE_LEN);
const SAMPLE_TAG = tagOf(FIELD.timeSeriesSamples, WIRE_LEN);
const LABEL_NAME_TAG = tagOf(FIELD.labelName, WIRE_LEN);
const LABEL_VALUE_TAG = tagOf(FIELD.labelValue, WIRE_LEN);
const SAMPLE_VALUE_TAG = tagOf(FIELD.sampleValue, WIRE_I64);
const SAMPLE_TIMESTAMP_TAG = tagOf(FIELD.sampleTimestamp, WIRE_VARINT);

/** The walk passed maxSeries or maxSamples: censusOf counts the whole request for the message. */
class OverLimit extends Error {}

function malformed(err: unknown): RemoteWriteError {
  return new RemoteWriteError(400, 'body', `the body is not a protobuf prometheus.WriteRequest: ${(err as Error).message}`);
}

/**
 * The end of the length-delimited field at the reader, whose length was just read; a length
 * past the enclosing message is protobufjs's own "index out of range".
 */
function endOf(r: protobuf.Reader, length: number): number {
  const end = r.pos + length;
  if (end > r.len) throw new RangeError('index out of range');
  return end;
}

/**
 * One pass over the WriteRequest with protobufjs's Reader, in the shape of protobufjs's
 * generated decoder (a tag, a switch on it, `skipType` for anything else: unknown fields,
 * exemplars, histograms, metadata), writing samples straight into columns. Decoding into
 * protobufjs objects first cost ~6 objects per sample (Sample, Long, LongBits, arrays) and was
 * the largest part of a remote-write request's decode (profile in bench/interop_ingest.ts).
 *
 * A series' identity is keyed by the exact bytes of its label fields (read as latin1, one char
 * per byte, so any bytes make a distinct key): a series met before costs one Map lookup and no
 * string decoding. Only a new key's labels are decoded (UTF-8 checked) and validated.
 */
function readColumns(raw: Buffer, limits: RemoteWriteLimits, numbering: SeriesNumbering, expectedSamples: number): DecodedRemoteWrite {
  const r = protobuf.Reader.create(raw);
  const out = new PointColumns(Math.min(limits.maxSamples + 1, expectedSamples > 0 ? expectedSamples : raw.length / 16));
  let skippedNonFinite = 0;
  let series = 0;
  let samples = 0;
  /** Byte ranges [start, end) of the current series' label fields, merged when adjacent. */
  const labelRuns: number[] = [];
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag !== TIMESERIES_TAG) {
      r.skipType(tag & 7, 0, tag >>> 3);
      continue;
    }
    const s = series++;
    if (series > limits.maxSeries) throw new OverLimit();
    const end = endOf(r, r.size());
    const outerLen = r.len;
    r.len = end;
    const firstPoint = out.length;
    labelRuns.length = 0;
    let sampleIndex = 0;
    let badSample = -1;
    let badTime = 0;
    while (r.pos < end) {
      const at = r.pos;
      const fieldTag = r.tag();
      if (fieldTag === LABEL_TAG) {
        const labelEnd = endOf(r, r.size());
        r.pos = labelEnd;
        const runs = labelRuns.length;
        if (runs > 0 && labelRuns[runs - 1] === at) labelRuns[runs - 1] = labelEnd;
        else labelRuns.push(at, labelEnd);
      } else if (fieldTag === SAMPLE_TAG) {
        const sampleEnd = endOf(r, r.size());
        r.len = sampleEnd;
        let v = 0;
        let t = 0;
        while (r.pos < sampleEnd) {
          const sampleTag = r.tag();
          if (sampleTag === SAMPLE_VALUE_TAG) v = r.double();
          else if (sampleTag === SAMPLE_TIMESTAMP_TAG) t = int64ToNumber(r.int64() as unknown as Int64);
          else r.skipType(sampleTag & 7, 2, sampleTag >>> 3);
        }
        if (r.pos !== sampleEnd) throw new RangeError('index out of range');
        r.len = end;
        if (++samples > limits.maxSamples) throw new OverLimit();
        const i = sampleIndex++;
        // Reported after the series' labels are validated, as they come first in the checks.
        if (!isStorableTime(t)) {
          if (badSample < 0) {
            badSample = i;
            badTime = t;
          }
          continue;
        }
        // v - v is 0 for every finite double and NaN for NaN and ±Inf: one test for both.
        if (v - v !== 0) {
          skippedNonFinite++;
          continue;
        }
        out.push(-1, t, v);
      } else {
        r.skipType(fieldTag & 7, 1, fieldTag >>> 3);
      }
    }
    if (r.pos !== end) throw new RangeError('index out of range');
    r.len = outerLen;
    let key = '';
    for (let k = 0; k < labelRuns.length; k += 2) key += raw.toString('latin1', labelRuns[k]!, labelRuns[k + 1]!);
    let number = numbering.keyed.get(key);
    if (number === undefined) {
      number = numbering.add(identityOf(readLabels(raw, labelRuns), s));
      numbering.keyed.set(key, number);
    }
    if (badSample >= 0) {
      throw new RemoteWriteError(400, `timeseries[${s}].samples[${badSample}].timestamp`, `timeseries[${s}].samples[${badSample}].timestamp=${badTime} must be epoch milliseconds in [1970, 2200)`);
    }
    out.assignSeries(firstPoint, number);
  }
  return { ...out.finish(), samples: out.length, skippedNonFinite };
}

/** The labels in `runs` (label fields only), decoded with UTF-8 checked. */
function readLabels(raw: Buffer, runs: readonly number[]): WireLabel[] {
  const labels: WireLabel[] = [];
  for (let k = 0; k < runs.length; k += 2) {
    const r = protobuf.Reader.create(raw.subarray(runs[k]!, runs[k + 1]!));
    while (r.pos < r.len) {
      r.tag();
      labels.push(readLabel(r, endOf(r, r.size())));
    }
  }
  return labels;
}

function readLabel(r: protobuf.Reader, end: number): WireLabel {
  const outerLen = r.len;
  r.len = end;
  let name = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === LABEL_NAME_TAG) name = r.stringVerify();
    else if (tag === LABEL_VALUE_TAG) value = r.stringVerify();
    else r.skipType(tag & 7, 3, tag >>> 3);
  }
  if (r.pos !== end) throw new RangeError('index out of range');
  r.len = outerLen;
  return { name, value };
}

/**
 * Series and samples of the whole request, every label decoded (UTF-8 checked): what a decode
 * of the whole message would find. Throws RemoteWriteError for a malformed message. Runs only
 * after the walk has stopped, to choose which of the problems to report.
 */
function censusOf(raw: Buffer): { series: number; samples: number } {
  let series = 0;
  let samples = 0;
  try {
    const r = protobuf.Reader.create(raw);
    while (r.pos < r.len) {
      const tag = r.tag();
      if (tag !== TIMESERIES_TAG) {
        r.skipType(tag & 7, 0, tag >>> 3);
        continue;
      }
      series++;
      const end = endOf(r, r.size());
      const outerLen = r.len;
      r.len = end;
      while (r.pos < end) {
        const fieldTag = r.tag();
        if (fieldTag === LABEL_TAG) readLabel(r, endOf(r, r.size()));
        else {
          if (fieldTag === SAMPLE_TAG) samples++;
          r.skipType(fieldTag & 7, 1, fieldTag >>> 3);
        }
      }
      if (r.pos !== end) throw new RangeError('index out of range');
      r.len = outerLen;
    }
  } catch (err) {
    throw malformed(err);
  }
  return { series, samples };
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
