/**
 * Names and codecs of everything EMMS puts on the network: the snake_case field names of the
 * WebSocket frames, HTTP bodies and query parameters, and the one MessagePack configuration
 * the server and the ingest path use. No other file of either spells a wire field name as a
 * literal (STYLE.md habit 20; the row scanner encodes these to bytes), so a protocol change is
 * one edit here.
 */
import { Packr, Unpackr } from 'msgpackr';

/** Field names of one point (row form) and of one series (columnar form). */
export const WireField = {
  seq: 'seq',
  metrics: 'metrics',
  series: 'series',
  metricId: 'metric_id',
  metricType: 'metric_type',
  value: 'value',
  timestamp: 'timestamp',
  tags: 'tags',
  timestamps: 'timestamps',
  values: 'values',
  ack: 'ack',
  nack: 'nack',
  accepted: 'accepted',
  error: 'error',
} as const;

/** Query parameter / JSON body names of GET and POST /api/v1/query. */
export const QueryField = {
  metricPattern: 'metric_pattern',
  startTime: 'start_time',
  endTime: 'end_time',
  aggregation: 'aggregation',
  interval: 'interval',
  groupBy: 'group_by',
  /** Opt-in approximate percentiles: the relative error accepted (AggregatedQuery.percentileAccuracy). */
  percentileAccuracy: 'percentile_accuracy',
  tags: 'tags',
  /** GET form of one tag filter: `tag.<key>=<value>`. */
  tagPrefix: 'tag.',
} as const;

/** Names in query responses. */
export const QueryResponseField = {
  series: 'series',
  stats: 'stats',
  metricId: 'metric_id',
  metricType: 'metric_type',
  tags: 'tags',
  points: 'points',
  pointsScanned: 'points_scanned',
  elapsedMs: 'elapsed_ms',
  /** Only for approximated percentiles: `{"method":"ddsketch","relative_error":α}`. */
  percentile: 'percentile',
  percentileMethod: 'method',
  relativeError: 'relative_error',
} as const;

export const CONTENT_TYPE_JSON = 'application/json';
export const CONTENT_TYPE_MSGPACK = 'application/msgpack';
export const CONTENT_TYPES_MSGPACK: ReadonlySet<string> = new Set([CONTENT_TYPE_MSGPACK, 'application/x-msgpack']);

/**
 * Decoder for client frames. `mapsAsObjects` gives plain objects with string keys (any msgpack
 * library's maps, not only msgpackr's records); `int64AsType: 'auto'` keeps a 64-bit `seq` exact
 * (as a bigint) so the server can echo it unchanged; `bin` arrives as a Buffer and the
 * timestamp extension (-1) as a Date, both handled by the frame decoder.
 */
export function createWireUnpackr(): Unpackr {
  // 'auto' (number when safe, else bigint) exists at runtime but is missing from msgpackr's types.
  return new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint', moreTypes: false });
}

/** Encoder for replies: plain maps, readable by any msgpack library. */
export function createWirePackr(): Packr {
  return new Packr({ useRecords: false, moreTypes: false });
}

const replyPackr = createWirePackr();

export type Seq = number | bigint;

/** `{ack: seq, accepted: n}`: the batch with this seq is durable. */
export function encodeAck(seq: Seq, accepted: number): Uint8Array {
  return replyPackr.pack({ [WireField.ack]: seq, [WireField.accepted]: accepted });
}

/** `{nack: seq|null, error}`: the batch was refused and nothing of it stored. */
export function encodeNack(seq: Seq | null, error: string): Uint8Array {
  return replyPackr.pack({ [WireField.nack]: seq, [WireField.error]: error });
}

/** True for a `seq` value the protocol accepts: an unsigned integer of up to 64 bits. */
export function isValidSeq(seq: unknown): seq is Seq {
  if (typeof seq === 'number') return Number.isSafeInteger(seq) && seq >= 0;
  if (typeof seq === 'bigint') return seq >= 0n && seq < 1n << 64n;
  return false;
}
