/**
 * The bytes of a "points written" notice, the message EMMS nodes publish so that a dashboard
 * or subscriber attached to one node sees points written through another. MessagePack, plain
 * arrays and maps (no msgpackr records or extensions), so any client can read the channel
 * (box diagram and bounds: docs/format/live_notice.md):
 *
 *   notice (format 1)  = [ 1, node_id, tenant, entries, truncated ]
 *     node_id          str, 1–64 chars of A-Z a-z 0-9 _ . : -   the publishing node
 *     tenant           str (TENANT_NAME_PATTERN) | nil            nil: every tenant
 *     entries          array of ≤ MAX_SERIES_PER_NOTICE entries   newest point per series
 *     truncated        bool     more series of the tenant changed than listed: re-read it whole
 *   entry              = [ metric_id, tags, timestamp, value ]
 *     metric_id        str (METRIC_ID_PATTERN)
 *     tags             map str → str (≤ MAX_TAGS_PER_POINT keys, TAG_KEY_PATTERN, values ≤ MAX_TAG_VALUE_CHARS)
 *     timestamp        int, epoch ms in [MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS)
 *     value            float64 (NaN and ±Infinity allowed: stale markers)
 *
 * A whole notice is at most MAX_NOTICE_BYTES. The first element is the format version: a
 * node reading a version it does not know drops the notice (and counts it), so a rolling
 * upgrade that changes the format degrades to polling instead of misreading.
 *
 * The channel is open to every client of the Redis server, so decoding treats each message
 * as hostile: the length is checked before any parsing, every field's type and bound after,
 * tags are copied into fresh objects, and no input makes `decodeNotice` throw. Writing is
 * live_notice_writer.ts.
 */
import { Unpackr } from 'msgpackr';
import { isStorableTime, MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_POINT, METRIC_ID_PATTERN, TAG_KEY_PATTERN, type Tags } from '../model/metric.js';
import { TENANT_NAME_PATTERN } from '../model/tenant.js';

export const LIVE_FORMAT_VERSION = 1;
/** 64 KiB: a few hundred typical series, and far below Redis' 32 MB pub/sub output buffer limit. */
export const MAX_NOTICE_BYTES = 65_536;
export const MAX_SERIES_PER_NOTICE = 1_000;
export const NODE_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The newest point of one series, as a notice carries it. */
export interface SeriesUpdate {
  metricId: string;
  tags: Tags;
  timestamp: number;
  value: number;
}

export interface PointsWrittenNotice {
  nodeId: string;
  /** null: points of every tenant may have changed (the publisher was overwhelmed). */
  tenant: string | null;
  series: SeriesUpdate[];
  /** More series changed than `series` lists: re-read the tenant (or every tenant) whole. */
  truncated: boolean;
}

export type NoticeDropReason = 'size' | 'decode' | 'version' | 'shape';

export type NoticeDecodeResult =
  | { ok: true; notice: PointsWrittenNotice }
  | { ok: false; reason: NoticeDropReason; detail: string };

const FIELD_COUNT = 5;
const ENTRY_FIELD_COUNT = 4;

// Plain maps become plain objects; no structures are shared between messages, so one
// message's record definitions cannot change how the next is read.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

class ShapeError extends Error {}

function shape(detail: string): never {
  throw new ShapeError(detail);
}

/** Reads one message from the channel; never throws, whatever the bytes. */
export function decodeNotice(bytes: Uint8Array): NoticeDecodeResult {
  if (bytes.length > MAX_NOTICE_BYTES) return { ok: false, reason: 'size', detail: `${bytes.length} bytes exceed MAX_NOTICE_BYTES=${MAX_NOTICE_BYTES}` };
  let raw: unknown;
  try {
    raw = unpackr.unpack(bytes);
  } catch (err) {
    // Truncated input, an unknown extension, nesting deep enough to exhaust the stack: all land here.
    return { ok: false, reason: 'decode', detail: `not MessagePack: ${printable((err as Error)?.message ?? err)}` };
  }
  if (!Array.isArray(raw) || raw.length === 0) return { ok: false, reason: 'shape', detail: 'a notice must be a non-empty array' };
  if (raw[0] !== LIVE_FORMAT_VERSION) {
    return typeof raw[0] === 'number'
      ? { ok: false, reason: 'version', detail: `format version ${raw[0]} is not ${LIVE_FORMAT_VERSION}` }
      : { ok: false, reason: 'shape', detail: 'the first element must be the format version' };
  }
  try {
    return { ok: true, notice: readNotice(raw) };
  } catch (err) {
    if (err instanceof ShapeError) return { ok: false, reason: 'shape', detail: err.message };
    return { ok: false, reason: 'shape', detail: printable((err as Error)?.message ?? err) };
  }
}

/** A decoder's message may quote the input: cut short and printable ASCII only before it reaches a log. */
function printable(message: unknown): string {
  return String(message).slice(0, 120).replace(/[^\x20-\x7e]/g, '?');
}

function readNotice(raw: unknown[]): PointsWrittenNotice {
  if (raw.length !== FIELD_COUNT) shape(`a format-1 notice has ${FIELD_COUNT} elements, not ${raw.length}`);
  const [, nodeId, tenant, entries, truncated] = raw;
  if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) shape('node_id must be 1 to 64 characters of A-Z a-z 0-9 _ . : -');
  if (tenant !== null && (typeof tenant !== 'string' || !TENANT_NAME_PATTERN.test(tenant))) shape('tenant must be nil or a tenant name');
  if (!Array.isArray(entries)) shape('entries must be an array');
  if (entries.length > MAX_SERIES_PER_NOTICE) shape(`${entries.length} entries exceed MAX_SERIES_PER_NOTICE=${MAX_SERIES_PER_NOTICE}`);
  if (tenant === null && entries.length > 0) shape('a notice for every tenant lists no series');
  if (typeof truncated !== 'boolean') shape('truncated must be a boolean');
  const series: SeriesUpdate[] = [];
  for (let i = 0; i < entries.length; i++) series.push(readEntry(entries[i], i));
  return { nodeId, tenant, series, truncated };
}

function readEntry(raw: unknown, i: number): SeriesUpdate {
  if (!Array.isArray(raw) || raw.length !== ENTRY_FIELD_COUNT) shape(`entries[${i}] must be [metric_id, tags, timestamp, value]`);
  const [metricId, tags, timestamp, value] = raw;
  if (typeof metricId !== 'string' || !METRIC_ID_PATTERN.test(metricId)) shape(`entries[${i}].metric_id is not a metric name`);
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || !isStorableTime(timestamp)) shape(`entries[${i}].timestamp must be an integer epoch ms in range`);
  if (typeof value !== 'number') shape(`entries[${i}].value must be a number`);
  return { metricId, tags: readTags(tags, i), timestamp, value };
}

function readTags(raw: unknown, i: number): Tags {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.getPrototypeOf(raw) !== Object.prototype) shape(`entries[${i}].tags must be a map`);
  const keys = Object.keys(raw);
  if (keys.length > MAX_TAGS_PER_POINT) shape(`entries[${i}].tags has ${keys.length} keys, more than ${MAX_TAGS_PER_POINT}`);
  const tags: Tags = {};
  for (const key of keys) {
    const v = (raw as Record<string, unknown>)[key];
    // `__proto__` fits the key pattern but would set the copy's prototype rather than a tag.
    if (!TAG_KEY_PATTERN.test(key) || key === '__proto__') shape(`entries[${i}].tags has a key that is not a tag name`);
    if (typeof v !== 'string' || v.length > MAX_TAG_VALUE_CHARS) shape(`entries[${i}].tags.${key} must be a string of at most ${MAX_TAG_VALUE_CHARS} characters`);
    tags[key] = v;
  }
  return tags;
}
