// Fused decode-and-aggregate of one chunk: reads the chunk format (docs/format/chunk.md) and
// adds each decoded point straight into its bucket's running state, without materialising the
// timestamp and value arrays. Records and IO block as in assembly/aggregate.ts
// (docs/format/aggregation.md), so the JS side merges them unchanged.
//
// Why: after compaction a query's chunks are almost all "decimal values coded by
// quotient-Huffman", mostly with constant-delta timestamps (the normal scrape). The generic
// path (aggregate_chunk.ts) decodes 8,640 timestamps and values into scratch, then walks them
// three times (order/NaN check, bucket runs, per-field loops): ~25% of the query's CPU in a
// profile of the 24 h TSBS hourly avg, and the decoder itself ~50%. Here values are accumulated
// while decoding (with a faster bit reader, see huffmanSegment), bucket edges become point
// indices computed once per bucket (t_i = t0 + i·delta; irregular timestamps are decoded by the
// codec and binary-searched), and the integer min/max are divided once per bucket.
//
// Fast path / slow path pair: accumulateChunkFused handles decimal values coded by
// quotient-Huffman (both integer sequence orders, escaped residuals included), with any
// timestamp coding, for count/sum/avg/min/max/first/last/rate. Anything else — XOR or constant
// values, Rice-coded values (short chunks), a checksum, range, order or padding failure,
// stddev and percentiles (they need every value of a bucket twice, or sorted), a chunk
// starting before the series' previous point —
// returns to accumulateChunk (aggregate_chunk.ts), which re-decodes the chunk from the start.
// So errors and rare shapes keep the generic path's exact statuses, and this file only has to be
// right on what it accepts.
//
// Bit-identical to the generic path: the same values (f64(x) / 10^d, one correctly rounded
// division, as the codec computes), summed in the same order from 0 per bucket, rate's pairs
// taken in the same order with the same predecessor; min, max, first and last of the integers
// map to the same float64 because that division is monotonic.

import { peekWindow, peekWindowSlow, readBits, readerInit, readerOverrun, readerPos, readVarBits, setReaderPos, unzigzag } from "./bitstream";
import { chunkPointCount } from "./chunk";
import { xxhash32 } from "./chunk_checksum";
import { inIntRange, INT_LIMIT, MAX_FIELD_WIDTH } from "./int_residuals";
import { SECTION_TIMESTAMPS } from "./codec_status";
import { decodeTimestamps, TS_CONST_DELTA } from "./timestamps";
import { MAX_DECIMAL_SCALE, VALUES_DECIMAL } from "./values_decimal";
import {
  IO_HAS_PREV, IO_PREV_TS, IO_PREV_VAL, IO_RECORDS_PTR, IO_SLICE_END, IO_SLICE_START, IO_VALUES_PTR,
  MODE_COUNT, MODE_FIRST, MODE_LAST, MODE_MAX, MODE_MIN, MODE_RATE, MODE_SUM,
  REC_BUCKET, REC_COUNT, REC_FIELDS, REC_FIRST_TS, REC_FIRST_VAL, REC_INCREASE, REC_LAST_TS, REC_LAST_VAL, REC_MAX, REC_MIN, REC_SUM,
} from "./aggregate";
import { accumulateChunk } from "./aggregate_chunk";

// Mirrors of the chunk format's constants (docs/format/chunk.md; private in the codec files).
const TRAILER_BYTES: i32 = 4;
const SCALE_BITS: i32 = 5;
const CODER_HUFFMAN: i32 = 1;
const HUFF_MAX_LEN: i32 = 12;
const HUFF_MAX_K: i32 = 53;
const HUFF_MAX_SYMBOLS: i32 = 64;

const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
];

// Own Huffman tables (the codec's are private to quotient_huffman.ts); same canonical assignment.
const codeLengths: usize = memory.data(HUFF_MAX_SYMBOLS, 16);
const codeValues: usize = memory.data(HUFF_MAX_SYMBOLS * 4, 16);
const decodeTable: usize = memory.data((1 << HUFF_MAX_LEN) * 2, 16);

// What the hot loop keeps per point: the sum (sum, avg), the integer extremes and first/last
// (count, min, max, first, last), or the counter increase (rate).
const KIND_SUM: i32 = 0;
const KIND_EXTREMES: i32 = 1;
const KIND_RATE: i32 = 2;

/** Returned by the fast path when the generic path must take the chunk. */
const FALLBACK: i32 = -1;

// ---- bucket state ------------------------------------------------------------------------------
// Points are indices; their times come from tAt (for constant deltas t_i = t0 + i·tsDelta exactly,
// in i64 as the codec's decoder computes them).
// State machine over the chunk: before the range → in a bucket → (next bucket …) → after the range.
const STATE_BEFORE: i32 = 0;
const STATE_IN: i32 = 1;
const STATE_AFTER: i32 = 2;

// Constant-delta chunks: t_i = gT0 + i·gTsDelta. Others: decoded times at gTsPtr (0 otherwise).
let gT0: i64 = 0;
let gTsDelta: i64 = 0;
let gTsPtr: usize = 0;
let gN: i32 = 0;
let gDivisor: f64 = 1;
let gMode: i32 = 0;
let gIntervalMs: f64 = 1;
let gStartMs: f64 = 0;
let gEndMs: f64 = 0;
let gOutPtr: usize = 0;
let gRecords: i32 = 0;

let gState: i32 = STATE_BEFORE;
let gEdgeIdx: i32 = 0; // index of the first point past the current state's end
let gBucket: f64 = 0;
let gFirstIdx: i32 = 0;
// Running state of the open bucket (the hot loops keep it in locals and store it back).
let gSum: f64 = 0;
let gLo: i64 = 0;
let gHi: i64 = 0;
let gFirstX: i64 = 0;
let gLastX: i64 = 0;
let gFirstPending: bool = false;
let gIncrease: f64 = 0;
// Rate: the previous point's value, and whether there is one (the series' point before the chunk).
let gBefore: f64 = 0;
let gHasBefore: bool = false;

// @ts-ignore: decorator
@inline function tAt(i: i32): f64 {
  return gTsPtr != 0 ? load<f64>(gTsPtr + (<usize>i << 3)) : <f64>(gT0 + <i64>i * gTsDelta);
}

/** Smallest index i in [from, n] with t_i >= bound (t ascending; n if none). */
function indexAtOrAfter(from: i32, bound: f64): i32 {
  const n = gN;
  if (from >= n) return n;
  if (gTsPtr != 0) {
    let lo = from;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (load<f64>(gTsPtr + (<usize>mid << 3)) < bound) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  if (tAt(from) >= bound) return from;
  if (gTsDelta == 0 || !(bound <= tAt(n - 1))) return n;
  // Estimate by division, then step to the exact edge (the estimate is off by at most one or two).
  let i = <i32>Math.ceil((bound - <f64>gT0) / <f64>gTsDelta);
  if (i < from + 1) i = from + 1;
  if (i > n - 1) i = n - 1;
  while (i > from + 1 && tAt(i - 1) >= bound) i--;
  while (i < n && tAt(i) < bound) i++;
  return i;
}

function writeRecord(endIdx: i32): void {
  const rec = gOutPtr + (<usize>gRecords * <usize>REC_FIELDS << 3);
  store<f64>(rec + (<usize>REC_BUCKET << 3), gBucket);
  store<f64>(rec + (<usize>REC_COUNT << 3), <f64>(endIdx - gFirstIdx));
  const mode = gMode;
  if (mode == MODE_SUM) store<f64>(rec + (<usize>REC_SUM << 3), gSum);
  else if (mode == MODE_MIN) store<f64>(rec + (<usize>REC_MIN << 3), <f64>gLo / gDivisor);
  else if (mode == MODE_MAX) store<f64>(rec + (<usize>REC_MAX << 3), <f64>gHi / gDivisor);
  else if (mode == MODE_FIRST) {
    store<f64>(rec + (<usize>REC_FIRST_TS << 3), tAt(gFirstIdx));
    store<f64>(rec + (<usize>REC_FIRST_VAL << 3), <f64>gFirstX / gDivisor);
  } else if (mode == MODE_LAST) {
    store<f64>(rec + (<usize>REC_LAST_TS << 3), tAt(endIdx - 1));
    store<f64>(rec + (<usize>REC_LAST_VAL << 3), <f64>gLastX / gDivisor);
  } else if (mode == MODE_RATE) store<f64>(rec + (<usize>REC_INCREASE << 3), gIncrease);
  gRecords++;
}

/** Point `i` (< n) reached gEdgeIdx: closes the open bucket and enters the state of t_i. */
function crossEdge(i: i32): void {
  if (gState == STATE_IN) writeRecord(i);
  const t = tAt(i);
  gSum = 0;
  gIncrease = 0;
  gLo = i64.MAX_VALUE;
  gHi = i64.MIN_VALUE;
  gFirstPending = true;
  gFirstIdx = i;
  if (t < gStartMs) {
    gState = STATE_BEFORE;
    gEdgeIdx = indexAtOrAfter(i, gStartMs);
  } else if (t >= gEndMs) {
    gState = STATE_AFTER;
    gEdgeIdx = gN;
  } else {
    // The generic kernel's run boundary: the bucket end or the range end, whichever is first.
    gState = STATE_IN;
    gBucket = Math.floor(t / gIntervalMs);
    gEdgeIdx = indexAtOrAfter(i, min((gBucket + 1) * gIntervalMs, gEndMs));
    // A run holds at least its first point, as in the generic kernel.
    if (gEdgeIdx <= i) gEdgeIdx = i + 1;
  }
}

/** Adds one point outside the hot loops (the sequence's first one or two). */
function feedPoint(i: i32, x: i64): void {
  if (i == gEdgeIdx) crossEdge(i);
  const v = <f64>x / gDivisor;
  gSum += v;
  // The pair (previous point, this one) belongs to this point's bucket; a drop is a counter reset.
  if (gHasBefore) gIncrease += v >= gBefore ? v - gBefore : v;
  gBefore = v;
  gHasBefore = true;
  if (x < gLo) gLo = x;
  if (x > gHi) gHi = x;
  if (gFirstPending) {
    gFirstX = x;
    gFirstPending = false;
  }
  gLastX = x;
}

// ---- Huffman tables ----------------------------------------------------------------------------

/** Reads k, top and the code lengths, builds the decode table; returns k | top << 8, or FALLBACK. */
function readHuffmanHeader(): i32 {
  const k = <i32>readBits(6);
  const top = <i32>readBits(6);
  if (k > HUFF_MAX_K || top == 0) return FALLBACK;
  for (let s = 0; s <= top; s++) {
    const len = <i32>readBits(4);
    if (len > HUFF_MAX_LEN) return FALLBACK;
    store<u8>(codeLengths + <usize>s, <u8>len);
  }
  // Canonical codes (RFC 1951 3.2.2), as quotient_huffman.ts assigns them.
  let code = 0;
  let kraft = 0;
  for (let len = 1; len <= HUFF_MAX_LEN; len++) {
    for (let s = 0; s <= top; s++) {
      if (<i32>load<u8>(codeLengths + <usize>s) == len) {
        store<u32>(codeValues + (<usize>s << 2), <u32>code);
        code++;
        kraft += 1 << (HUFF_MAX_LEN - len);
      }
    }
    code <<= 1;
  }
  if (kraft > 1 << HUFF_MAX_LEN) return FALLBACK;
  memory.fill(decodeTable, 0, <usize>((1 << HUFF_MAX_LEN) * 2));
  for (let s = 0; s <= top; s++) {
    const len = <i32>load<u8>(codeLengths + <usize>s);
    if (len == 0) continue;
    const span = 1 << (HUFF_MAX_LEN - len);
    const start = <i32>load<u32>(codeValues + (<usize>s << 2)) << (HUFF_MAX_LEN - len);
    const entry = <u16>((s << 4) | len);
    for (let i = start; i < start + span; i++) store<u16>(decodeTable + (<usize>i << 1), entry);
  }
  return k | (top << 8);
}

/** Escaped residuals and long remainders, as quotient_huffman.ts reads them. */
function readPayloadSlow(symbol: i32, k: i32, top: i32): u64 {
  if (symbol < top) return (<u64>symbol << <u64>k) | readBits(k);
  const w = <i32>readBits(6) + 1;
  // Wider than the encoder writes: flagged (>= 2^53), so the segment falls back.
  if (w > MAX_FIELD_WIDTH) return u64.MAX_VALUE;
  return readBits(w);
}

// Sequence state between segments of the hot loop.
let gX: i64 = 0;
let gDelta: i64 = 0;
let gPos: usize = 0;

/**
 * The 64 bits at bit `pos` (at least 57 valid; zeros past the end), like bitstream.ts
 * peekWindow but without its per-call byte swap: `revEnd` points 8 bytes before the end of a
 * byte-reversed copy of the payload (reversePayload), where a little-endian load at
 * revEnd - bytePos gives the big-endian window at bytePos. WebAssembly has no bswap, so
 * peekWindow's swap costs a dozen shifts and masks on every point's critical path.
 */
// @ts-ignore: decorator
@inline function windowAt(base: usize, lenBytes: usize, revEnd: usize, pos: usize): u64 {
  const bytePos = pos >>> 3;
  if (bytePos + 8 <= lenBytes) return load<u64>(revEnd - bytePos) << <u64>(pos & 7);
  return peekWindowSlow(base, lenBytes, pos);
}

/** Copies the lenBytes at base, byte-reversed, into a fresh allocation; returns revEnd for windowAt. */
function reversePayload(base: usize, lenBytes: usize): usize {
  const rev = heap.alloc(max<usize>(lenBytes, 8));
  let j: usize = 0;
  for (; j + 8 <= lenBytes; j += 8) store<u64>(rev + (lenBytes - 8 - j), bswap<u64>(load<u64>(base + j)));
  for (; j < lenBytes; j++) store<u8>(rev + (lenBytes - 1 - j), load<u8>(base + j));
  return rev + lenBytes - 8;
}

/**
 * Decodes and accumulates points [from, to) of the Huffman-coded sequence (one bucket state:
 * no edge inside). `order` and `kind` are constants at each call site so every instance is
 * a branch-free loop. Returns 0, or FALLBACK on anything the fast path does not take (bad
 * integers included: the generic path then reports them).
 *
 * Bits are consumed from a 64-bit buffer `w` refilled only when fewer than the longest fast
 * code (HUFF_MAX_LEN + k bits, at most 57: the caller checks k) remain, so the loop-carried
 * chain is the table lookup and a shift rather than a load per point.
 */
// @ts-ignore: decorator
@inline function huffmanSegment(from: i32, to: i32, k: i32, top: i32, order: i32, kind: i32, base: usize, lenBytes: usize, revEnd: usize): i32 {
  const kk = <u64>k;
  const longest = HUFF_MAX_LEN + k;
  const divisor = gDivisor;
  let pos = gPos;
  let w = windowAt(base, lenBytes, revEnd, pos);
  let avail = 57;
  let x = gX;
  let delta = gDelta;
  let bad: u64 = 0;
  let sum = gSum;
  let lo = gLo;
  let hi = gHi;
  let firstX = gFirstX;
  let firstPending = gFirstPending;
  let increase = gIncrease;
  let before = gBefore;
  for (let i = from; i < to; i++) {
    if (avail < longest) {
      w = windowAt(base, lenBytes, revEnd, pos);
      avail = 57;
    }
    const entry = <i32>load<u16>(decodeTable + (<usize>(w >>> <u64>(64 - HUFF_MAX_LEN)) << 1));
    const len = entry & 15;
    const symbol = entry >>> 4;
    // Past the end the window reads zeros; the final position check then sends the chunk back.
    if (len == 0) return FALLBACK;
    let u: u64;
    if (symbol < top) {
      u = (<u64>symbol << kk) | (((w << <u64>len) >>> 1) >>> (63 - kk));
      const used = len + k;
      w <<= <u64>used;
      avail -= used;
      pos += <usize>used;
    } else {
      setReaderPos(pos + <usize>len);
      u = readPayloadSlow(symbol, k, top);
      pos = readerPos();
      avail = 0;
    }
    bad |= u >>> 53;
    const r = unzigzag(u);
    if (order == 1) {
      x += r + delta;
    } else {
      delta += r;
      bad |= <u64>(delta + (INT_LIMIT << 1)) >>> 52;
      x += delta;
    }
    bad |= <u64>(x + INT_LIMIT) >>> 51;
    if (kind == KIND_SUM) {
      sum += <f64>x / divisor;
    } else if (kind == KIND_RATE) {
      // The same arithmetic as the generic kernel (assembly/aggregate.ts, MODE_RATE).
      const v = <f64>x / divisor;
      increase += select<f64>(v - before, v, v >= before);
      before = v;
    } else {
      lo = select<i64>(x, lo, x < lo);
      hi = select<i64>(x, hi, x > hi);
      firstX = select<i64>(x, firstX, firstPending);
      firstPending = false;
    }
  }
  if (bad != 0) return FALLBACK;
  gPos = pos;
  gX = x;
  gDelta = delta;
  gSum = sum;
  gLo = lo;
  gHi = hi;
  gFirstX = firstX;
  gFirstPending = firstPending;
  gIncrease = increase;
  gBefore = before;
  gLastX = x;
  return 0;
}

/** The whole residual stream [first, n), segment by segment; 0 or FALLBACK. */
// @ts-ignore: decorator
@inline function huffmanAll(first: i32, k: i32, top: i32, order: i32, kind: i32, base: usize, lenBytes: usize, revEnd: usize): i32 {
  let i = first;
  const n = gN;
  while (i < n) {
    if (i == gEdgeIdx) crossEdge(i);
    const to = min(n, gEdgeIdx);
    if (huffmanSegment(i, to, k, top, order, kind, base, lenBytes, revEnd) < 0) return FALLBACK;
    i = to;
  }
  return 0;
}

let fallbacks: i32 = 0;

/** Chunks accumulateChunkFused handed to the generic path since instantiation (tests, benchmarks). */
export function fusedChunkFallbacks(): i32 {
  return fallbacks;
}

/**
 * Fast path of accumulateChunk (see the file comment). Same signature and result; the records
 * go to a fresh allocation whose address is written to IO_RECORDS_PTR. Falls back to
 * accumulateChunk for everything it does not handle.
 */
export function accumulateChunkFused(
  inPtr: usize, inLen: i32, mode: i32,
  intervalMs: f64, startMs: f64, endMs: f64, ioPtr: usize,
): i32 {
  const records = fusedOrFallback(inPtr, inLen, mode, intervalMs, startMs, endMs, ioPtr);
  if (records == FALLBACK) fallbacks++;
  if (records == FALLBACK) return accumulateChunk(inPtr, inLen, mode, intervalMs, startMs, endMs, ioPtr);
  return records;
}

function fusedOrFallback(
  inPtr: usize, inLen: i32, mode: i32,
  intervalMs: f64, startMs: f64, endMs: f64, ioPtr: usize,
): i32 {
  if (mode != MODE_COUNT && mode != MODE_SUM && mode != MODE_MIN && mode != MODE_MAX && mode != MODE_FIRST && mode != MODE_LAST &&
      mode != MODE_RATE) {
    return FALLBACK;
  }
  const n = chunkPointCount(inPtr, inLen);
  if (n < 2) return FALLBACK;
  const tsMode = <i32>load<u8>(inPtr, 2);
  if (<i32>load<u8>(inPtr, 1) != VALUES_DECIMAL) return FALLBACK;
  // chunkPointCount accepted a canonical LEB128 n, so its length follows from n.
  const headerBytes = 3 + (n < 0x80 ? 1 : n < 0x4000 ? 2 : 3);
  const bodyLen = inLen - TRAILER_BYTES;
  if (xxhash32(inPtr, <usize>bodyLen) != load<u32>(inPtr + <usize>bodyLen)) return FALLBACK;
  readerInit(inPtr, <usize>bodyLen, <usize>(headerBytes << 3));

  const hasPrev = load<f64>(ioPtr + (<usize>IO_HAS_PREV << 3)) != 0;
  const prevTs = load<f64>(ioPtr + (<usize>IO_PREV_TS << 3));
  let t0: i64 = 0;
  let tsDelta: i64 = 0;
  gTsPtr = 0;
  if (tsMode == TS_CONST_DELTA) {
    // t0 and the delta (timestamps.ts decodeTimestamps); the points' times are never written.
    const t0u = readVarBits(MAX_FIELD_WIDTH);
    t0 = unzigzag(t0u);
    if (t0u == u64.MAX_VALUE || !inIntRange(t0)) return FALLBACK;
    const du = readVarBits(MAX_FIELD_WIDTH);
    tsDelta = unzigzag(du);
    const lastT = <f64>t0 + <f64>tsDelta * <f64>(n - 1);
    if (du == u64.MAX_VALUE || !(lastT >= -<f64>INT_LIMIT && lastT < <f64>INT_LIMIT)) return FALLBACK;
    // Descending timestamps or a chunk before the series' previous point: the generic path's error.
    if (tsDelta < 0) return FALLBACK;
    if (hasPrev && !(<f64>t0 >= prevTs)) return FALLBACK;
  } else {
    // Irregular timestamps: the codec decodes them into scratch (a fraction of the values' cost:
    // jittered scrapes code at ~1 byte/point), and bucket edges become binary searches in them.
    const tsPtr = heap.alloc(<usize>n << 3);
    if (decodeTimestamps(tsMode, n, tsPtr, SECTION_TIMESTAMPS) < 0) return FALLBACK;
    // The generic kernel's order check (NaN fails it too): out of order goes back to it.
    let last = hasPrev ? prevTs : -Infinity;
    for (let i = 0; i < n; i++) {
      const t = load<f64>(tsPtr + (<usize>i << 3));
      if (!(t >= last)) return FALLBACK;
      last = t;
    }
    gTsPtr = tsPtr;
  }

  // Value section, VALUES_DECIMAL: scale, then the integer sequence (rice_ints.ts decodeIntSeq).
  const d = <i32>readBits(SCALE_BITS);
  if (d > MAX_DECIMAL_SCALE) return FALLBACK;
  const divisor = unchecked(POW10[d]);
  const order = readBits(1) != 0 ? 2 : 1;
  if (<i32>readBits(1) != CODER_HUFFMAN) return FALLBACK;
  const x0u = readVarBits(MAX_FIELD_WIDTH);
  let x = unzigzag(x0u);
  if (x0u == u64.MAX_VALUE || !inIntRange(x)) return FALLBACK;
  const seqDu = readVarBits(MAX_FIELD_WIDTH);
  const seqDelta = unzigzag(seqDu);
  if (seqDu == u64.MAX_VALUE || <u64>(seqDelta + (INT_LIMIT << 1)) >= <u64>(INT_LIMIT << 2)) return FALLBACK;

  gT0 = t0;
  gTsDelta = tsDelta;
  gN = n;
  gDivisor = divisor;
  gMode = mode;
  gIntervalMs = intervalMs;
  gStartMs = startMs;
  gEndMs = endMs;
  gRecords = 0;
  gOutPtr = heap.alloc(<usize>n * <usize>REC_FIELDS << 3);
  gState = STATE_BEFORE;
  gEdgeIdx = 0;
  gHasBefore = load<f64>(ioPtr + (<usize>IO_HAS_PREV << 3)) != 0;
  gBefore = load<f64>(ioPtr + (<usize>IO_PREV_VAL << 3));

  feedPoint(0, x);
  if (order == 2) {
    x += seqDelta;
    if (!inIntRange(x)) return FALLBACK;
    feedPoint(1, x);
  }
  gX = x;
  gDelta = seqDelta;

  const kTop = readHuffmanHeader();
  if (kTop < 0 || readerOverrun()) return FALLBACK;
  const k = kTop & 0xff;
  const top = kTop >>> 8;
  gPos = readerPos();
  // The buffered reader needs the longest fast code (HUFF_MAX_LEN + k bits) within 57 bits.
  if (HUFF_MAX_LEN + k > 57) return FALLBACK;
  const lenBytes = <usize>bodyLen;
  const revEnd = reversePayload(inPtr, lenBytes);
  let status: i32;
  if (order == 1) {
    if (mode == MODE_SUM) status = huffmanAll(1, k, top, 1, KIND_SUM, inPtr, lenBytes, revEnd);
    else if (mode == MODE_RATE) status = huffmanAll(1, k, top, 1, KIND_RATE, inPtr, lenBytes, revEnd);
    else status = huffmanAll(1, k, top, 1, KIND_EXTREMES, inPtr, lenBytes, revEnd);
  } else {
    if (mode == MODE_SUM) status = huffmanAll(2, k, top, 2, KIND_SUM, inPtr, lenBytes, revEnd);
    else if (mode == MODE_RATE) status = huffmanAll(2, k, top, 2, KIND_RATE, inPtr, lenBytes, revEnd);
    else status = huffmanAll(2, k, top, 2, KIND_EXTREMES, inPtr, lenBytes, revEnd);
  }
  if (status < 0) return FALLBACK;

  // The payload ends in its last byte with zero padding (chunk.ts decodeChunk).
  const end = gPos;
  if (end > <usize>bodyLen << 3) return FALLBACK;
  const padBits = (8 - <i32>(end & 7)) & 7;
  const padding = padBits == 0 ? 0 : peekWindow(inPtr, <usize>bodyLen, end) >>> <u64>(64 - padBits);
  if (padding != 0 || ((end + 7) >>> 3) != <usize>bodyLen) return FALLBACK;

  if (gState == STATE_IN) writeRecord(n);
  store<f64>(ioPtr + (<usize>IO_RECORDS_PTR << 3), <f64>gOutPtr);
  store<f64>(ioPtr + (<usize>IO_VALUES_PTR << 3), 0);
  store<f64>(ioPtr + (<usize>IO_SLICE_START << 3), <f64>indexAtOrAfter(0, startMs));
  store<f64>(ioPtr + (<usize>IO_SLICE_END << 3), <f64>indexAtOrAfter(0, endMs));
  store<f64>(ioPtr + (<usize>IO_PREV_TS << 3), tAt(n - 1));
  store<f64>(ioPtr + (<usize>IO_PREV_VAL << 3), <f64>gLastX / divisor);
  store<f64>(ioPtr + (<usize>IO_HAS_PREV << 3), 1);
  return gRecords;
}
