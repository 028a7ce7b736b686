/**
 * Series heads: the open, in-memory tails of the series, appended to by ingest and cut into
 * chunks when full. Points arrive in any order; a head keeps arrival order until someone reads
 * it, then sorts once (stable, so that of two points with the same timestamp the later arrival
 * wins) and remembers that it is sorted.
 *
 * Lifecycle of a series' head in a HeadTable: append() any number of times; sorted() for reads
 * (cheap when already sorted); take() hands the points over for a cut, recycle() takes the
 * buffers back once the cut's chunk landed, clear() empties the head after a checkpoint wrote it.
 */

import { BufferPool } from '../workers/buffer_pool.js';
import { lowerBound } from '../core/sorted_search.js';
import { sortDedupLastWins } from './last_write_wins_sort.js';

/** Sorted, deduplicated points of a series. */
export interface PointColumns {
  timestamps: Float64Array;
  values: Float64Array;
}

/**
 * The time range [startMs, endMs) a read asks for. A head read for it gives the points inside
 * it plus the newest point before startMs: rate pairs that one with the first point of the
 * range, and the reader's chunk/head overlap check sees the head start where it did.
 */
export interface ReadRange {
  startMs: number;
  endMs: number;
}

/** A series' points not in chunks yet, as reads see them. */
export interface HeadPoints {
  /** Points in arrival order (duplicates of a timestamp count until sorted). */
  readonly length: number;
  readonly minTs: number;
  /**
   * Sorted, deduplicated points, all of them or those a read of `range` needs (see ReadRange);
   * the caller may keep them (copies, or views of a copy).
   */
  sorted(range?: ReadRange): PointColumns;
  /**
   * Writes the sorted, deduplicated points (of `range`, as sorted() does) into the columns from
   * index `at`, with room for lengthIn(range) points (or `length` without a range); returns how
   * many it wrote. Saves a copy where points are gathered anyway.
   */
  sortedInto(timestamps: Float64Array, values: Float64Array, at: number, range?: ReadRange): number;
  /** How many points sortedInto(…, range) writes, at most. Sorts an out-of-order head (once, as a read would). */
  lengthIn(range: ReadRange): number;
  /**
   * Changes whenever points other than appended ones change (sorted, deduplicated, cut,
   * cleared); unique in the process. While it stays, the head's sorted points are the same
   * ones plus later appends, each after the last: what a query's head_rollups.ts cache keys on.
   * Undefined for copies gathered with pending cuts.
   */
  readonly generation?: number | undefined;
}

/** Head generations are unique across HeadTables, so no cache can mistake one table's head for another's. */
let lastGeneration = 0;

/** What a cut takes out of a head: its points in arrival order, in shared memory. */
export interface TakenPoints {
  timestamps: Float64Array;
  values: Float64Array;
  inOrder: boolean;
  minTs: number;
}

/** Per-series fields of HeadTable's state array: one cache line per series. */
const LENGTH = 0;
const MIN_TS = 1;
const MAX_TS = 2;
const CUT_AT = 3;
/** Where the series' last block starts: its slab pair, and its offset in the slabs (in float64s). */
const LAST_SLAB = 4;
const LAST_BASE = 5;
/** First and last block ids of the series' chain (NO_BLOCK when it has none). */
const FIRST_BLOCK = 6;
const LAST_BLOCK = 7;
const STATE_FIELDS = 8;

/**
 * Points per block (1 KiB: 64 timestamps in a timestamp slab, their values at the same place in
 * the matching value slab). Columns, not (t, v) pairs, so that reads copy with memcpy, and
 * blocks that follow each other in memory (a run of 100+ points gets consecutive ones) in one
 * memcpy per column: de-interleaving pairs in a loop made the 24 h hourly average of 100
 * series ~0.3 ms slower.
 */
export const BLOCK_POINTS = 64;
/** Blocks per slab pair (2 × 512 KiB); a block id is slab × SLAB_BLOCKS + index in the slab. */
const SLAB_BLOCKS = 1024;
const SLAB_SHIFT = 10;
const NO_BLOCK = -1;

/** Cut buffers are pooled by capacity, rounded up to this many points. */
const CUT_BUFFER_STEP = 256;
/** Bytes of landed cut buffers kept for reuse. */
const CUT_BUFFER_POOL_BYTES = 64 * 1024 * 1024;

const NO_POINTS = new Float64Array(0);

/**
 * The heads of every series of a store, indexed by series id. Each series' length, time range,
 * cut size and block chain sit side by side in one Float64Array (one cache line per series);
 * its points are in blocks of 64 (see BLOCK_POINTS) taken from slabs, and chained by a table
 * of next-block ids.
 *
 * Why this layout: a commit appends one point to each of thousands of series. With an object
 * and two growing Float64Arrays per head, each point touched ~5 scattered cache lines (the head
 * object, the typed-array objects, the two data lines), all cold again by the next commit since
 * decoding, SQLite and the network run in between. In the server at 1 M points/s that was
 * 150–370 ns per point, 15–40% of the writer thread's time. Here a commit walks the state array
 * in series order (prefetched) and writes into blocks handed out in address order (see
 * #addBlock). Measured at 1.05 M points/s (bench/load/ingest_load.ts, CPU profile of the writer
 * thread): the commit loop takes ~2–3%; the thread is idle 70–72% of the time on a fresh
 * server (46–55% before) and 58–60% after the max-rate bursts (27–39% before).
 *
 * Blocks also make growth free: a head never reallocates or copies (the staggered capacities
 * that once kept 1,000 lockstep heads from reallocating 64 MB in one batch are gone), and a
 * cut copies its points out once, in order, into a shared buffer for the encoder thread.
 */
export class HeadTable {
  #state = new Float64Array(1024 * STATE_FIELDS);
  #outOfOrder = new Uint8Array(1024);
  /** Per series, HeadPoints.generation. */
  #generation = new Float64Array(1024);
  /** Series ids below this have a state slot. */
  #size = 0;
  #timestampSlabs: Float64Array[] = [];
  #valueSlabs: Float64Array[] = [];
  /** Per block id, the next block of its series' chain. */
  #nextBlock = new Int32Array(SLAB_BLOCKS);
  /** One bit per block, set when free; allocation sweeps it from #sweepWord on (see #addBlock). */
  #freeBits = new Uint32Array(SLAB_BLOCKS / 32);
  #sweepWord = 0;
  #blocksInUse = 0;
  /** Landed cut buffers by byte length, for the next cuts (see recycle). */
  readonly #cutBuffers = new BufferPool<SharedArrayBuffer>(CUT_BUFFER_POOL_BYTES);

  /** @param cutPoints most points a head holds before its owner cuts it (see cutAt). */
  constructor(readonly cutPoints: number) {}

  /** Series ids below this have a slot (ids at or above it have never had points). */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the slabs that hold head points (in use or free). */
  get slabBytes(): number {
    return 2 * this.#timestampSlabs.length * SLAB_BLOCKS * BLOCK_POINTS * Float64Array.BYTES_PER_ELEMENT;
  }

  /** Blocks chained to series (the rest of the slabs' blocks are free). */
  get blocksInUse(): number {
    return this.#blocksInUse;
  }

  /**
   * Points at which this series' head is cut: spread over [cut/2, cut] by a hash of the id, so
   * that series fed in lockstep (one point each per scrape) are not all encoded in the same
   * commit, which would stall that one acknowledgement (1,000 TSBS series: ~4M points at once).
   */
  cutAt(seriesId: number): number {
    const cut = this.cutPoints;
    const spread = Math.floor(cut / 2);
    return spread < 1 ? cut : cut - (Math.imul(seriesId, 0x9e3779b1) >>> 0) % spread;
  }

  #addSlots(seriesId: number): void {
    if (seriesId >= this.#outOfOrder.length) {
      let capacity = this.#outOfOrder.length * 2;
      while (capacity <= seriesId) capacity *= 2;
      const state = new Float64Array(capacity * STATE_FIELDS);
      state.set(this.#state);
      this.#state = state;
      const outOfOrder = new Uint8Array(capacity);
      outOfOrder.set(this.#outOfOrder);
      this.#outOfOrder = outOfOrder;
      const generation = new Float64Array(capacity);
      generation.set(this.#generation);
      this.#generation = generation;
    }
    for (let sid = this.#size; sid <= seriesId; sid++) {
      this.#resetSlot(sid);
      this.#state[sid * STATE_FIELDS + CUT_AT] = this.cutAt(sid);
    }
    this.#size = seriesId + 1;
  }

  #resetSlot(seriesId: number): void {
    const o = seriesId * STATE_FIELDS;
    const state = this.#state;
    state[o + LENGTH] = 0;
    state[o + MIN_TS] = Infinity;
    state[o + MAX_TS] = -Infinity;
    state[o + FIRST_BLOCK] = NO_BLOCK;
    state[o + LAST_BLOCK] = NO_BLOCK;
    this.#outOfOrder[seriesId] = 0;
    this.#generation[seriesId] = ++lastGeneration;
  }

  /** Appends one point; true when the head has reached its cut size. */
  append(seriesId: number, timestampMs: number, value: number): boolean {
    if (seriesId >= this.#size) this.#addSlots(seriesId);
    const state = this.#state;
    const o = seriesId * STATE_FIELDS;
    const n = state[o + LENGTH]!;
    const inBlock = n & (BLOCK_POINTS - 1);
    // A head of n points has ceil(n / 64) blocks: at a multiple of 64 the last one is full.
    if (inBlock === 0) this.#addBlock(o);
    const slab = state[o + LAST_SLAB]!;
    const at = state[o + LAST_BASE]! + inBlock;
    this.#timestampSlabs[slab]![at] = timestampMs;
    this.#valueSlabs[slab]![at] = value;
    state[o + LENGTH] = n + 1;
    if (timestampMs > state[o + MAX_TS]!) state[o + MAX_TS] = timestampMs;
    else this.#outOfOrder[seriesId] = 1;
    if (timestampMs < state[o + MIN_TS]!) state[o + MIN_TS] = timestampMs;
    // `>=`, not "reached by this point": a head replayed at start can already be past it.
    return n + 1 >= state[o + CUT_AT]!;
  }

  /**
   * Appends points [from, to) of the columns: the columnar form's run of one series in a batch
   * (100+ points), a block at a time. True when the head has reached its cut size.
   */
  appendRun(seriesId: number, timestamps: Float64Array, values: Float64Array, from: number, to: number): boolean {
    if (seriesId >= this.#size) this.#addSlots(seriesId);
    const state = this.#state;
    const o = seriesId * STATE_FIELDS;
    let n = state[o + LENGTH]!;
    let maxTs = state[o + MAX_TS]!;
    let minTs = state[o + MIN_TS]!;
    let inOrder = true;
    for (let i = from; i < to;) {
      const inBlock = n & (BLOCK_POINTS - 1);
      if (inBlock === 0) this.#addBlock(o);
      const timestampSlab = this.#timestampSlabs[state[o + LAST_SLAB]!]!;
      const valueSlab = this.#valueSlabs[state[o + LAST_SLAB]!]!;
      let at = state[o + LAST_BASE]! + inBlock;
      const end = Math.min(to, i + BLOCK_POINTS - inBlock);
      n += end - i;
      for (; i < end; i++) {
        const t = timestamps[i]!;
        timestampSlab[at] = t;
        valueSlab[at] = values[i]!;
        at++;
        if (t > maxTs) maxTs = t;
        else inOrder = false;
        if (t < minTs) minTs = t;
      }
    }
    state[o + LENGTH] = n;
    state[o + MAX_TS] = maxTs;
    state[o + MIN_TS] = minTs;
    if (!inOrder) this.#outOfOrder[seriesId] = 1;
    return n >= state[o + CUT_AT]!;
  }

  /**
   * Chains a free block to the end of the series at state offset `o`: the next free one in
   * address order from where the last one was found. Series fed in lockstep need their next
   * blocks in the same commit, in series order; taken in address order they lie in ascending
   * memory as on a fresh server, and the commit's writes stream. A LIFO free list handed out
   * the blocks that cuts and checkpoints had freed in scattered order: after a burst every
   * point then wrote a cold line (the commit loop took 11–17% of the writer thread, 2% fresh).
   */
  #addBlock(o: number): void {
    const block = this.#takeFreeBlock();
    const state = this.#state;
    this.#nextBlock[block] = NO_BLOCK;
    const last = state[o + LAST_BLOCK]!;
    if (last === NO_BLOCK) state[o + FIRST_BLOCK] = block;
    else this.#nextBlock[last] = block;
    state[o + LAST_BLOCK] = block;
    state[o + LAST_SLAB] = block >>> SLAB_SHIFT;
    state[o + LAST_BASE] = (block & (SLAB_BLOCKS - 1)) * BLOCK_POINTS;
    this.#blocksInUse++;
  }

  #takeFreeBlock(): number {
    const bits = this.#freeBits;
    const words = this.#timestampSlabs.length * (SLAB_BLOCKS / 32);
    // From the sweep position to the end, then once from the start; a new slab if all are taken.
    for (let pass = 0; pass < 2; pass++) {
      for (let w = pass === 0 ? this.#sweepWord : 0; w < words; w++) {
        const word = bits[w]!;
        if (word === 0) continue;
        const bit = 31 - Math.clz32(word & -word);
        bits[w] = word & ~(1 << bit);
        this.#sweepWord = w;
        return w * 32 + bit;
      }
    }
    this.#addSlab();
    return this.#takeFreeBlock();
  }

  /**
   * Adds slab pairs until the slabs hold `bytes` (rounded up to whole 1 MiB pairs; no more than
   * that is ever added), with their pages written once, so the first appends into them find
   * memory mapped: a fresh server creates its series and their first blocks in the first frames
   * of load, and each fresh page was a page fault on the thread that acknowledges them.
   * Measured in-process (tsx) on the appends of a fresh server's first second (4,000 series ×
   * 150 points, one point per series per pass; three fresh processes each, load ~17): 3,700–4,200
   * faults and 60–68 ms of CPU without it; 610–840 faults and 44–63 ms with 16 MiB reserved,
   * which cost 11–40 ms at start. The slabs are kept for the life of the table, as any slab is.
   * Returns the slab bytes added.
   */
  reserve(bytes: number): number {
    if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`HeadTable.reserve: bytes must be a non-negative number; got ${bytes}`);
    const before = this.slabBytes;
    const sweepWord = this.#sweepWord;
    while (this.slabBytes < bytes) {
      this.#addSlab();
      // A Float64Array's zeroed pages are mapped at their first write, not at allocation.
      this.#timestampSlabs[this.#timestampSlabs.length - 1]!.fill(0);
      this.#valueSlabs[this.#valueSlabs.length - 1]!.fill(0);
    }
    // Blocks are still handed out in address order from where the sweep stood (see #addBlock).
    this.#sweepWord = sweepWord;
    return this.slabBytes - before;
  }

  #addSlab(): void {
    const slab = this.#timestampSlabs.length;
    this.#timestampSlabs.push(new Float64Array(SLAB_BLOCKS * BLOCK_POINTS));
    this.#valueSlabs.push(new Float64Array(SLAB_BLOCKS * BLOCK_POINTS));
    const blocks = (slab + 1) * SLAB_BLOCKS;
    if (this.#nextBlock.length < blocks) {
      const next = new Int32Array(Math.max(blocks, this.#nextBlock.length * 2));
      next.set(this.#nextBlock);
      this.#nextBlock = next;
      const bits = new Uint32Array(next.length / 32);
      bits.set(this.#freeBits);
      this.#freeBits = bits;
    }
    this.#freeBits.fill(0xffffffff, slab * (SLAB_BLOCKS / 32), blocks / 32);
    this.#sweepWord = slab * (SLAB_BLOCKS / 32);
  }

  /** Frees `block` and the rest of its chain. */
  #freeChain(block: number): void {
    const bits = this.#freeBits;
    const nextBlock = this.#nextBlock;
    for (; block !== NO_BLOCK; block = nextBlock[block]!) {
      bits[block >>> 5] = bits[block >>> 5]! | (1 << (block & 31));
      this.#blocksInUse--;
    }
  }

  /**
   * Copies `count` of the series' points, from its `skip`-th on, out of its blocks in arrival
   * order, to index `to` on.
   */
  #copyOut(seriesId: number, timestamps: Float64Array, values: Float64Array, count: number, to = 0, skip = 0): void {
    const state = this.#state;
    if (count === 0) return;
    const nextBlock = this.#nextBlock;
    let block = state[seriesId * STATE_FIELDS + FIRST_BLOCK]!;
    for (let s = skip; s >= BLOCK_POINTS; s -= BLOCK_POINTS) block = nextBlock[block]!;
    let inFirst = skip & (BLOCK_POINTS - 1);
    for (let i = 0; i < count;) {
      // A run of blocks that follow each other in one slab pair is copied at once.
      let blocks = 1;
      let next = nextBlock[block]!;
      while (next === block + blocks && next >>> SLAB_SHIFT === block >>> SLAB_SHIFT) {
        blocks++;
        next = nextBlock[next]!;
      }
      const slab = block >>> SLAB_SHIFT;
      const at = (block & (SLAB_BLOCKS - 1)) * BLOCK_POINTS + inFirst;
      const m = Math.min(count - i, blocks * BLOCK_POINTS - inFirst);
      timestamps.set(this.#timestampSlabs[slab]!.subarray(at, at + m), to + i);
      values.set(this.#valueSlabs[slab]!.subarray(at, at + m), to + i);
      i += m;
      inFirst = 0;
      block = next;
    }
  }

  /**
   * Index of the first point at or after `ts` in the series' head, which must be in order (its
   * length when none is): a walk over the blocks' last points, then a search in one block.
   */
  #lowerBound(seriesId: number, ts: number): number {
    const n = this.length(seriesId);
    const o = seriesId * STATE_FIELDS;
    if (ts <= this.#state[o + MIN_TS]!) return 0;
    if (ts > this.#state[o + MAX_TS]!) return n;
    const nextBlock = this.#nextBlock;
    let block = this.#state[o + FIRST_BLOCK]!;
    for (let i = 0; i < n; i += BLOCK_POINTS, block = nextBlock[block]!) {
      const slab = this.#timestampSlabs[block >>> SLAB_SHIFT]!;
      let lo = (block & (SLAB_BLOCKS - 1)) * BLOCK_POINTS;
      const base = lo;
      let hi = lo + Math.min(BLOCK_POINTS, n - i) - 1;
      if (slab[hi]! < ts) continue;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (slab[mid]! < ts) lo = mid + 1;
        else hi = mid;
      }
      return i + lo - base;
    }
    return n;
  }

  /** Points [from, to) of the series' in-order head that a read of `range` needs (see ReadRange). */
  #span(seriesId: number, range: ReadRange | undefined): { from: number; to: number } {
    const n = this.length(seriesId);
    if (range === undefined) return { from: 0, to: n };
    const from = Math.max(0, this.#lowerBound(seriesId, range.startMs) - 1);
    // A range that ends before it starts (or before the point preceding its start) reads
    // nothing: a negative count made sortedInto's callers view stale scratch memory as points.
    return { from, to: Math.max(from, this.#lowerBound(seriesId, range.endMs)) };
  }

  /** Sorts an out-of-order head once and writes it back in order; returns the sorted copy. */
  #sortInPlace(seriesId: number): PointColumns {
    const n = this.length(seriesId);
    const timestamps = new Float64Array(n);
    const values = new Float64Array(n);
    this.#copyOut(seriesId, timestamps, values, n);
    const sorted = sortDedupLastWins(timestamps, values);
    this.#rewrite(seriesId, sorted.timestamps, sorted.values);
    this.#outOfOrder[seriesId] = 0;
    return sorted;
  }

  /** Writes sorted points back over the series' first blocks and frees the rest (dedup shrinks). */
  #rewrite(seriesId: number, timestamps: Float64Array, values: Float64Array): void {
    const state = this.#state;
    const o = seriesId * STATE_FIELDS;
    const nextBlock = this.#nextBlock;
    const count = timestamps.length;
    let block = state[o + FIRST_BLOCK]!;
    let last = block;
    for (let i = 0; i < count; block = nextBlock[block]!) {
      last = block;
      const at = (block & (SLAB_BLOCKS - 1)) * BLOCK_POINTS;
      const m = Math.min(count - i, BLOCK_POINTS);
      this.#timestampSlabs[block >>> SLAB_SHIFT]!.set(timestamps.subarray(i, i + m), at);
      this.#valueSlabs[block >>> SLAB_SHIFT]!.set(values.subarray(i, i + m), at);
      i += m;
    }
    const surplus = nextBlock[last]!;
    if (surplus !== NO_BLOCK) {
      this.#freeChain(surplus);
      nextBlock[last] = NO_BLOCK;
      state[o + LAST_BLOCK] = last;
      state[o + LAST_SLAB] = last >>> SLAB_SHIFT;
      state[o + LAST_BASE] = (last & (SLAB_BLOCKS - 1)) * BLOCK_POINTS;
    }
    state[o + LENGTH] = count;
    this.#generation[seriesId] = ++lastGeneration;
  }

  length(seriesId: number): number {
    return seriesId < this.#size ? this.#state[seriesId * STATE_FIELDS + LENGTH]! : 0;
  }

  minTs(seriesId: number): number {
    return seriesId < this.#size ? this.#state[seriesId * STATE_FIELDS + MIN_TS]! : Infinity;
  }

  /** True while the series' timestamps are strictly increasing (no reordering or dedup needed). */
  inOrder(seriesId: number): boolean {
    return seriesId >= this.#size || this.#outOfOrder[seriesId] === 0;
  }

  /**
   * The series' head sorted and deduplicated, as fresh arrays: all of it, or what a read of
   * `range` needs (see ReadRange). Out-of-order points are sorted once and written back, so
   * later reads and the cut find them in order.
   *
   * With a range only that part is copied: a dashboard over the last day while ingest runs
   * reads heads that also hold today's points, and copying them whole was the largest part
   * of the main thread's share of such a query (bench/concurrent_users.bench.ts).
   */
  sorted(seriesId: number, range?: ReadRange): PointColumns {
    const n = this.length(seriesId);
    if (n === 0) return { timestamps: NO_POINTS, values: NO_POINTS };
    if (!this.inOrder(seriesId)) {
      const sorted = this.#sortInPlace(seriesId);
      return range === undefined ? sorted : spanOf(sorted, range);
    }
    const { from, to } = this.#span(seriesId, range);
    const timestamps = new Float64Array(to - from);
    const values = new Float64Array(to - from);
    this.#copyOut(seriesId, timestamps, values, to - from, 0, from);
    return { timestamps, values };
  }

  /** See HeadPoints.sortedInto. */
  sortedInto(seriesId: number, timestamps: Float64Array, values: Float64Array, at: number, range?: ReadRange): number {
    if (!this.inOrder(seriesId)) this.#sortInPlace(seriesId);
    const { from, to } = this.#span(seriesId, range);
    this.#copyOut(seriesId, timestamps, values, to - from, at, from);
    return to - from;
  }

  /** See HeadPoints.lengthIn. */
  lengthIn(seriesId: number, range: ReadRange): number {
    if (this.length(seriesId) === 0) return 0;
    if (!this.inOrder(seriesId)) this.#sortInPlace(seriesId);
    const { from, to } = this.#span(seriesId, range);
    return to - from;
  }

  /** The series' head as reads see it, or undefined when it holds no points. */
  view(seriesId: number): HeadPoints | undefined {
    const length = this.length(seriesId);
    if (length === 0) return undefined;
    const table = this;
    return {
      length,
      get generation() {
        return table.#generation[seriesId];
      },
      minTs: this.minTs(seriesId),
      sorted: (range) => this.sorted(seriesId, range),
      sortedInto: (timestamps, values, at, range) => this.sortedInto(seriesId, timestamps, values, at, range),
      lengthIn: (range) => this.lengthIn(seriesId, range),
    };
  }

  /**
   * Hands the series' points over in arrival order and empties its head (a cut whose chunk is
   * encoded elsewhere): copied once into shared memory, from a pool of landed cuts' buffers,
   * and the blocks go back to the free list.
   *
   * Shared memory, because posting it to the chunk encoder thread costs nothing, where
   * structured clone copied every cut on the writer thread (a task of 128 cuts, ~6 MB: 5–10 ms
   * of the thread that acknowledges batches). The writer keeps reading the same memory
   * (pending cuts stay readable), and neither side writes it until the chunk has landed and
   * the buffers come back through recycle().
   */
  take(seriesId: number): TakenPoints {
    const n = this.length(seriesId);
    const timestamps = this.#cutBuffer(n);
    const values = this.#cutBuffer(n);
    this.#copyOut(seriesId, timestamps, values, n);
    const taken = { timestamps, values, inOrder: this.inOrder(seriesId), minTs: this.minTs(seriesId) };
    this.clear(seriesId);
    return taken;
  }

  /** A shared view of n points, over a pooled buffer of n rounded up to CUT_BUFFER_STEP. */
  #cutBuffer(n: number): Float64Array {
    const bytes = Math.ceil(Math.max(n, 1) / CUT_BUFFER_STEP) * CUT_BUFFER_STEP * Float64Array.BYTES_PER_ELEMENT;
    return new Float64Array(this.#cutBuffers.take(bytes) ?? new SharedArrayBuffer(bytes), 0, n);
  }

  /**
   * Takes back the buffers take() handed over, once nothing reads them any more (the cut's
   * chunk landed). At 400 cuts/s, fresh shared buffers per cut were ~5% of the writer thread.
   */
  recycle(timestamps: Float64Array, values: Float64Array): void {
    if (timestamps.buffer instanceof SharedArrayBuffer) this.#cutBuffers.give(timestamps.buffer);
    if (values.buffer instanceof SharedArrayBuffer) this.#cutBuffers.give(values.buffer);
  }

  /** Empties the series' head; its blocks go back to the free list. */
  clear(seriesId: number): void {
    if (seriesId >= this.#size) return;
    const first = this.#state[seriesId * STATE_FIELDS + FIRST_BLOCK]!;
    if (first !== NO_BLOCK) this.#freeChain(first);
    this.#resetSlot(seriesId);
  }

  /** Forgets every head (the store rebuilds them from the write-ahead records); keeps the slabs. */
  reset(): void {
    for (let sid = 0; sid < this.#size; sid++) this.clear(sid);
  }
}

/** Views of the sorted points a read of `range` needs (see ReadRange). */
export function spanOf(points: PointColumns, range: ReadRange): PointColumns {
  const from = Math.max(0, lowerBound(points.timestamps, range.startMs) - 1);
  const to = lowerBound(points.timestamps, range.endMs);
  return { timestamps: points.timestamps.subarray(from, to), values: points.values.subarray(from, to) };
}
