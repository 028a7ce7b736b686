/**
 * Fast path for the row form `{seq, metrics: [{metric_id, value, timestamp?, metric_type?,
 * tags?}]}`: walks the MessagePack bytes directly instead of building one object per point
 * and one per tag map, and finds the series of a point by the raw bytes of its identity
 * (metric_id, metric_type and tags as they sit in the frame) in a hash table, so a series seen
 * before costs a hash and a byte compare: no string, no object, no key building. When a point
 * is the series its position held in the previous frame (clients repeat their series order),
 * one compare replaces even the tag walk and the hash: 0.58 → 0.37 µs of CPU per TSBS point.
 * Predictions are kept per stream (connection), and when a point's bytes equal those of the
 * same position in the stream's previous frame except its two number payloads, one compare
 * replaces the whole point's scan (StreamPrediction, byte_keyed_series_table.ts): the row-form decode worker went from
 * saturated to ~35% idle at the same rate (bench/server_ingest.bench.ts, 8 connections).
 *
 * Paired with the slow path in frame_decoder.ts (`FrameDecoder#decodeRows`): anything this
 * scanner does not expect (a timestamp extension or ISO string, unknown fields, a non-finite
 * value, any malformed byte) makes it give up, and the slow path decodes the whole payload
 * again and produces the precise error. Only well-formed, valid frames take this path, so both
 * paths accept exactly the same frames with the same result (tests/unit/wire_frame_decoder).
 *
 * MessagePack spec: https://github.com/msgpack/msgpack/blob/master/spec.md
 */
import { LAYOUT_SLOTS, rangeEqual, sameIdentity, type ByteKeyEntry, type ByteKeyedSeriesTable, type StreamPrediction } from './byte_keyed_series_table.js';
import { WireField } from './wire.js';
import { float64Column, int32Column } from './column_buffers.js';

/** Thrown internally to abandon the fast path; never escapes scanRowFrame. */
const GIVE_UP = Symbol('give up');

const enc = new TextEncoder();
// Keys as their UTF-8 bytes, spelled once in wire.ts.
const K_SEQ = enc.encode(WireField.seq);
const K_METRICS = enc.encode(WireField.metrics);
const K_METRIC_ID = enc.encode(WireField.metricId);
const K_METRIC_TYPE = enc.encode(WireField.metricType);
const K_VALUE = enc.encode(WireField.value);
const K_TIMESTAMP = enc.encode(WireField.timestamp);
const K_TAGS = enc.encode(WireField.tags);

/**
 * Resolves a series the byte table does not know: given the byte ranges of its identity in
 * the frame, returns its series index (validating and adding it when new), or throws to give up.
 */
export type ResolveSlow = (idStart: number, idEnd: number, typeStart: number, typeEnd: number, tagsStart: number, tagsEnd: number) => number;

export interface ScannedRows {
  /** null when the payload needs no seq (HTTP bodies). */
  seq: number | bigint | null;
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
}

/**
 * FNV-1a-style mixing over 32-bit little-endian words (then the tail bytes): a quarter of
 * the multiplies of the byte-wise hash, measured 2x faster on TSBS frames. It only picks the
 * bucket; identity is always confirmed by comparing the bytes.
 */
function hashRange(view: DataView, b: Uint8Array, start: number, end: number, h: number): number {
  let j = start;
  for (; j + 4 <= end; j += 4) h = Math.imul(h ^ view.getInt32(j, true), 0x01000193);
  for (; j < end; j++) h = Math.imul(h ^ b[j]!, 0x01000193);
  return h ^ (h >>> 15);
}

function keyIs(b: Uint8Array, at: number, len: number, key: Uint8Array): boolean {
  if (len !== key.length) return false;
  for (let i = 0; i < len; i++) if (b[at + i] !== key[i]) return false;
  return true;
}

/**
 * Scans a row-form frame. Returns undefined (give up) for anything but a valid, plainly
 * encoded row frame; the caller then runs the slow path.
 */
export function scanRowFrame(
  b: Uint8Array,
  table: ByteKeyedSeriesTable,
  resolveSlow: ResolveSlow,
  maxPoints: number,
  nowMs: number,
  minTimeMs: number,
  maxTimeMs: number,
  requireSeq = true,
): ScannedRows | undefined {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const end = b.length;
  let pos = 0;

  const need = (n: number): void => {
    if (pos + n > end) throw GIVE_UP;
  };
  const u8 = (): number => {
    if (pos >= end) throw GIVE_UP;
    return b[pos++]!;
  };
  /** Reads a map header; returns entry count. */
  const mapLen = (): number => {
    const t = u8();
    if (t >= 0x80 && t <= 0x8f) return t & 0x0f;
    if (t === 0xde) { need(2); const n = view.getUint16(pos); pos += 2; return n; }
    if (t === 0xdf) { need(4); const n = view.getUint32(pos); pos += 4; return n; }
    throw GIVE_UP;
  };
  const arrayLen = (): number => {
    const t = u8();
    if (t >= 0x90 && t <= 0x9f) return t & 0x0f;
    if (t === 0xdc) { need(2); const n = view.getUint16(pos); pos += 2; return n; }
    if (t === 0xdd) { need(4); const n = view.getUint32(pos); pos += 4; return n; }
    throw GIVE_UP;
  };
  /** Reads a str header; returns its byte length, `pos` at the first byte. */
  const strLen = (): number => {
    const t = u8();
    let n: number;
    if (t >= 0xa0 && t <= 0xbf) n = t & 0x1f;
    else if (t === 0xd9) { need(1); n = b[pos++]!; }
    else if (t === 0xda) { need(2); n = view.getUint16(pos); pos += 2; }
    else if (t === 0xdb) { need(4); n = view.getUint32(pos); pos += 4; }
    else throw GIVE_UP;
    need(n);
    return n;
  };
  // Not `pos += strLen()`: that reads `pos` before strLen moves it past the header.
  const skipStr = (): void => {
    const n = strLen();
    pos += n;
  };
  /** Reads any MessagePack number as a double; ints beyond 2^53 give up. */
  const num = (): number => {
    const t = u8();
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    let v: number;
    switch (t) {
      case 0xcb: need(8); v = view.getFloat64(pos); pos += 8; return v;
      case 0xca: need(4); v = view.getFloat32(pos); pos += 4; return v;
      case 0xcc: need(1); return b[pos++]!;
      case 0xcd: need(2); v = view.getUint16(pos); pos += 2; return v;
      case 0xce: need(4); v = view.getUint32(pos); pos += 4; return v;
      case 0xd0: need(1); v = view.getInt8(pos); pos += 1; return v;
      case 0xd1: need(2); v = view.getInt16(pos); pos += 2; return v;
      case 0xd2: need(4); v = view.getInt32(pos); pos += 4; return v;
      case 0xcf: {
        need(8);
        const hi = view.getUint32(pos);
        const lo = view.getUint32(pos + 4);
        pos += 8;
        if (hi >= 0x200000) throw GIVE_UP;
        return hi * 4294967296 + lo;
      }
      case 0xd3: {
        need(8);
        const hi = view.getInt32(pos);
        const lo = view.getUint32(pos + 4);
        pos += 8;
        if (hi >= 0x200000 || hi < -0x200000) throw GIVE_UP;
        return hi * 4294967296 + lo;
      }
      default: throw GIVE_UP;
    }
  };

  try {
    const topEntries = mapLen();
    let seq: number | bigint | undefined;
    let rows: ScannedRows | undefined;
    for (let e = 0; e < topEntries; e++) {
      const kl = strLen();
      const ka = pos;
      pos += kl;
      if (keyIs(b, ka, kl, K_SEQ)) {
        if (b[pos] === 0xcf) {
          // A full 64-bit seq: keep it exact, as the slow path does.
          need(9);
          const big = view.getBigUint64(pos + 1);
          pos += 9;
          seq = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
        } else {
          const s = num();
          if (!Number.isSafeInteger(s) || s < 0) throw GIVE_UP;
          seq = s;
        }
      } else if (keyIs(b, ka, kl, K_METRICS) && rows === undefined) {
        rows = scanRows();
      } else {
        throw GIVE_UP;
      }
    }
    if (pos !== end || rows === undefined || (requireSeq && seq === undefined)) throw GIVE_UP;
    rows.seq = requireSeq ? seq! : null;
    return rows;
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }

  function scanRows(): ScannedRows {
    const n = arrayLen();
    if (n === 0 || n > maxPoints) throw GIVE_UP;
    // Every entry of the three is written before they are returned (stale contents are fine).
    const seriesOf = int32Column(n);
    const ts = float64Column(n);
    const vs = float64Column(n);
    const prior = table.prediction;
    const priorPoints = prior === undefined ? 0 : prior.points;
    if (n === priorPoints && scanRepeatedFrame(prior!, n, seriesOf, ts, vs)) {
      table.wholePointHits += n;
      table.markRepeat();
      return { seq: 0, seriesOf, timestamps: ts, values: vs };
    }
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const pointStart = pos;
      if (i < priorPoints) {
        // Fast path: point i is point i of the stream's last frame but for its numbers.
        const l = prior!.layout;
        const o = i * LAYOUT_SLOTS;
        const ps = l[o]!;
        const len = l[o + 1]! - ps;
        const e1 = l[o + 3]!;
        const s2 = l[o + 4]!;
        const e2 = l[o + 5]!;
        const pv = prior!.frameView;
        if (pos + len <= end && rangeEqual(pv, ps, view, pos, l[o + 2]!) && rangeEqual(pv, ps + e1, view, pos + e1, s2 - e1) && rangeEqual(pv, ps + e2, view, pos + e2, len - e2)) {
          const valueAt = l[o + 6]!;
          const timeAt = l[o + 7]!;
          pos = pointStart + valueAt;
          const value = num();
          let time = nowMs;
          if (timeAt >= 0) {
            pos = pointStart + timeAt;
            time = num();
          }
          pos = pointStart + len;
          if (value - value !== 0 || !(time >= minTimeMs && time < maxTimeMs)) throw GIVE_UP;
          const entry = prior!.entries[i]!;
          table.recordPoint(i, entry, pointStart, pos, l[o + 2]!, e1, s2, e2, valueAt, timeAt);
          seriesOf[i] = entry.index;
          ts[i] = time;
          vs[i] = value;
          hits++;
          continue;
        }
      }
      const predicted = table.predictionAt(i);
      const fields = mapLen();
      let idStart = -1, idEnd = -1, typeStart = -1, typeEnd = -1, tagsStart = -1, tagsEnd = -1;
      let value = NaN;
      let time = nowMs;
      let tagsPredicted = false;
      let valueAt = -1, valueEnd = -1, timeAt = -1, timeEnd = -1;
      for (let f = 0; f < fields; f++) {
        const kl = strLen();
        const ka = pos;
        pos += kl;
        const first = b[ka];
        if (first === 0x6d /* m */ && keyIs(b, ka, kl, K_METRIC_ID)) {
          idStart = pos;
          skipStr();
          idEnd = pos;
        } else if (first === 0x76 /* v */ && keyIs(b, ka, kl, K_VALUE)) {
          valueAt = pos - pointStart;
          value = num();
          valueEnd = pos - pointStart;
        } else if (first === 0x74 /* t */ && kl === 4 && keyIs(b, ka, kl, K_TAGS)) {
          tagsStart = pos;
          tagsPredicted = false;
          // A predicted series whose tag bytes match here ends its (well-formed) map exactly
          // where the stored copy ends, so the map need not be walked.
          const tagsLen = predicted === undefined ? -1 : predicted.key.length - predicted.tagsAt;
          if (tagsLen > 0 && pos + tagsLen <= end && rangeEqual(predicted!.keyView, predicted!.tagsAt, view, pos, tagsLen)) {
            pos += tagsLen;
            tagsPredicted = true;
          } else if (b[pos] === 0xc0) {
            pos++;
          } else {
            const tn = mapLen();
            for (let t = 0; t < tn * 2; t++) skipStr();
          }
          tagsEnd = pos;
        } else if (first === 0x74 && keyIs(b, ka, kl, K_TIMESTAMP)) {
          if (b[pos] === 0xc0) {
            pos++;
            time = nowMs;
            timeAt = -1;
          } else {
            timeAt = pos - pointStart;
            time = num();
            timeEnd = pos - pointStart;
          }
        } else if (first === 0x6d && keyIs(b, ka, kl, K_METRIC_TYPE)) {
          typeStart = pos;
          skipStr();
          typeEnd = pos;
        } else {
          throw GIVE_UP;
        }
      }
      // value - value is 0 only for finite numbers; NaN (unset) fails too.
      if (idStart < 0 || value - value !== 0 || !(time >= minTimeMs && time < maxTimeMs)) throw GIVE_UP;
      let entry: ByteKeyEntry | undefined;
      if (predicted !== undefined && sameIdentity(predicted, b, view, idStart, idEnd, typeStart, typeEnd, tagsStart, tagsEnd, tagsPredicted)) {
        entry = predicted;
      } else {
        // Identity: the bytes of id, type and tags as they sit in the frame, hashed and compared
        // in place, with a 0xc1 separator (a byte valid msgpack never holds) between the parts
        // so no two identities concatenate alike.
        let h = hashRange(view, b, idStart, idEnd, 0x811c9dc5);
        h = Math.imul(h ^ 0xc1, 0x01000193);
        h = hashRange(view, b, typeStart, typeEnd, h);
        h = Math.imul(h ^ 0xc1, 0x01000193);
        h = hashRange(view, b, tagsStart, tagsEnd, h) >>> 0;
        entry = table.lookupParts(b, view, idStart, idEnd, typeStart, typeEnd, tagsStart, tagsEnd, h);
        if (entry === undefined) {
          const index = resolveSlow(idStart, idEnd, typeStart, typeEnd, tagsStart, tagsEnd);
          entry = table.insert(b, idStart, idEnd, typeStart, typeEnd, tagsStart, tagsEnd, h, index);
        }
      }
      // The number payloads this point's successor may differ in, in byte order.
      const len = pos - pointStart;
      const v1 = valueAt + 1;
      if (timeAt < 0) table.recordPoint(i, entry, pointStart, pos, v1, valueEnd, len, len, valueAt, -1);
      else if (valueAt < timeAt) table.recordPoint(i, entry, pointStart, pos, v1, valueEnd, timeAt + 1, timeEnd, valueAt, timeAt);
      else table.recordPoint(i, entry, pointStart, pos, timeAt + 1, timeEnd, v1, valueEnd, valueAt, timeAt);
      const index = entry.index;
      seriesOf[i] = index;
      ts[i] = time;
      vs[i] = value;
    }
    table.wholePointHits += hits;
    return { seq: 0, seriesOf, timestamps: ts, values: vs };
  }

  /**
   * The repeated-frame path, tried before the per-point one when the frame has as many points
   * as the stream's prediction: it takes each point's numbers at the place the prediction says,
   * writes their payloads into the prediction's own copy of the frame, and then compares all
   * the points' bytes with one native compare. Equal means every point is the predicted one
   * with only its numbers changed (the per-point path's condition, checked for all points at
   * once), and the prediction now holds this frame, so commit copies nothing. Per point that
   * leaves reading its two numbers: the three compares of ~180 bytes per point were a third of
   * the decode worker's CPU on bench:peers' frames, and the frame copy at commit another 4 %.
   *
   * Returns false, with `pos` back where it was, when the frame differs anywhere: the per-point
   * path then runs as before. Only the prediction's number payloads were changed by then, and
   * predictions never compare those.
   */
  function scanRepeatedFrame(p: StreamPrediction, n: number, seriesOf: Int32Array, ts: Float64Array, vs: Float64Array): boolean {
    const l = p.layout;
    const a = p.frame;
    const av = p.frameView;
    // A frame's points lie back to back, so [first start, last end) covers them all.
    const first = l[0]!;
    const length = l[(n - 1) * LAYOUT_SLOTS + 1]! - first;
    const start = pos;
    const shift = start - first;
    if (start + length > end) return false;
    for (let i = 0; i < n; i++) {
      const o = i * LAYOUT_SLOTS;
      const at = l[o]!;
      const valueAt = l[o + 6]!;
      const timeAt = l[o + 7]!;
      // Type bytes first: they fix the payloads' lengths, and num() reads this frame's own.
      if (b[at + shift + valueAt] !== a[at + valueAt] || (timeAt >= 0 && b[at + shift + timeAt] !== a[at + timeAt])) {
        pos = start;
        return false;
      }
      copyPayload(av, at + l[o + 2]!, view, at + shift + l[o + 2]!, l[o + 3]! - l[o + 2]!);
      copyPayload(av, at + l[o + 4]!, view, at + shift + l[o + 4]!, l[o + 5]! - l[o + 4]!);
      pos = at + shift + valueAt;
      const value = num();
      let time = nowMs;
      if (timeAt >= 0) {
        pos = at + shift + timeAt;
        time = num();
      }
      if (value - value !== 0 || !(time >= minTimeMs && time < maxTimeMs)) {
        pos = start;
        return false;
      }
      seriesOf[i] = p.entries[i]!.index;
      ts[i] = time;
      vs[i] = value;
    }
    if (!Buffer.from(a.buffer, a.byteOffset + first, length).equals(Buffer.from(b.buffer, b.byteOffset + start, length))) {
      pos = start;
      return false;
    }
    pos = start + length;
    return true;
  }
}

/** Copies `len` bytes of `from` at `fromAt` to `to` at `toAt`; number payloads are 0-8 bytes, mostly 8. */
function copyPayload(to: DataView, toAt: number, from: DataView, fromAt: number, len: number): void {
  if (len === 8) {
    to.setInt32(toAt, from.getInt32(fromAt));
    to.setInt32(toAt + 4, from.getInt32(fromAt + 4));
    return;
  }
  for (let k = 0; k < len; k++) to.setUint8(toAt + k, from.getUint8(fromAt + k));
}
