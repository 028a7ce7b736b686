/**
 * A series head: the open, in-memory tail of one series, appended to by ingest and cut into a
 * chunk when full. Points arrive in any order; the head keeps arrival order until someone
 * reads it, then sorts once (stable, so that of two points with the same timestamp the later
 * arrival wins) and remembers that it is sorted.
 *
 * Lifecycle: append() any number of times; sorted() for reads (cheap when already sorted);
 * clear() after the points were cut into a chunk.
 */

/** Initial capacity: most series of a busy system get many points; tiny series stay tiny. */
const INITIAL_CAPACITY = 16;

/**
 * A Float64Array over shared memory, for the buffers a cut hands to the chunk encoder thread:
 * posting them costs nothing, where structured clone copied every cut on the writer thread
 * (a task of 128 cuts, ~6 MB: 5–10 ms of the thread that acknowledges batches, in the wave of
 * cuts a fresh server's lockstep series start after ~9 s). The writer keeps reading the same
 * memory (pending cuts stay readable), and neither side writes it until the chunk has landed
 * and the buffers come back through recycle().
 */
function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(length * Float64Array.BYTES_PER_ELEMENT));
}

export class SeriesHead {
  timestamps: Float64Array;
  values: Float64Array;
  length = 0;
  /** True while timestamps are strictly increasing (no reordering or dedup needed). */
  inOrder = true;
  minTs = Infinity;
  maxTs = -Infinity;
  /** Buffers of a landed cut, reused by the next takePoints (see recycle). */
  #spare: { timestamps: Float64Array; values: Float64Array } | undefined;

  /** @param cutAt length at which the owner cuts this head into a chunk. */
  constructor(readonly cutAt = Infinity, capacity = INITIAL_CAPACITY) {
    this.timestamps = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  append(timestampMs: number, value: number): void {
    const n = this.length;
    // Up to the cut, grow no further than the cut: a head cut at 2,500 never holds 4,096 slots.
    if (n === this.timestamps.length) this.#grow(n < this.cutAt ? Math.min(n * 2, this.cutAt) : n * 2);
    this.timestamps[n] = timestampMs;
    this.values[n] = value;
    this.length = n + 1;
    if (timestampMs > this.maxTs) {
      this.maxTs = timestampMs;
    } else {
      this.inOrder = false;
    }
    if (timestampMs < this.minTs) this.minTs = timestampMs;
  }

  /**
   * Appends points [from, to) of the columns: the columnar form's run of one series in a batch
   * (100+ points) costs one bounds check and two memcpy instead of a call per point.
   */
  appendRun(timestamps: Float64Array, values: Float64Array, from: number, to: number): void {
    const n = this.length;
    const count = to - from;
    const need = n + count;
    if (need > this.timestamps.length) {
      let capacity = Math.max(this.timestamps.length, 1);
      // As append(): up to the cut, grow no further than the cut; past it, keep doubling.
      while (capacity < need) capacity = capacity < this.cutAt ? Math.min(capacity * 2, this.cutAt) : capacity * 2;
      this.#grow(capacity);
    }
    this.timestamps.set(timestamps.subarray(from, to), n);
    this.values.set(values.subarray(from, to), n);
    this.length = need;
    let maxTs = this.maxTs;
    let minTs = this.minTs;
    let inOrder = this.inOrder;
    for (let i = from; i < to; i++) {
      const t = timestamps[i]!;
      if (t > maxTs) maxTs = t;
      else inOrder = false;
      if (t < minTs) minTs = t;
    }
    this.maxTs = maxTs;
    this.minTs = minTs;
    this.inOrder = inOrder;
  }

  /**
   * A buffer of `capacity` points: in shared memory from the cut size on, since those are the
   * buffers a cut hands over; smaller ones never are (a head is cut only once it is that full).
   */
  #buffer(capacity: number): Float64Array {
    return capacity >= this.cutAt ? sharedFloat64(capacity) : new Float64Array(capacity);
  }

  /** Capacity a busy head starts again with after a cut: its cut size (so it does not regrow). */
  #restartCapacity(keepCapacity: number): number {
    return Number.isFinite(this.cutAt) ? Math.min(this.cutAt, keepCapacity) : INITIAL_CAPACITY;
  }

  #grow(capacity: number): void {
    const ts = this.#buffer(capacity);
    const vs = this.#buffer(capacity);
    ts.set(this.timestamps.subarray(0, this.length));
    vs.set(this.values.subarray(0, this.length));
    this.timestamps = ts;
    this.values = vs;
  }

  /** Sorts by time, keeping the last arrival of each timestamp; in place, once. */
  normalize(): void {
    if (this.inOrder) return;
    const { timestamps, values } = sortDedupLastWins(this.timestamps.subarray(0, this.length), this.values.subarray(0, this.length));
    this.timestamps.set(timestamps);
    this.values.set(values);
    this.length = timestamps.length;
    this.inOrder = true;
  }

  /** Sorted, deduplicated views (valid until the next append/clear). */
  sorted(): { timestamps: Float64Array; values: Float64Array } {
    this.normalize();
    return { timestamps: this.timestamps.subarray(0, this.length), values: this.values.subarray(0, this.length) };
  }

  /**
   * Hands the points over in arrival order and empties the head (a cut whose chunk is encoded
   * elsewhere). A full buffer is given away and replaced by one of `cutAt` points, so a busy
   * series does not regrow from 16 points after every cut; a partly filled one is copied out
   * and kept. Either way the points handed over are in shared memory (see sharedFloat64).
   */
  takePoints(keepCapacity: number): { timestamps: Float64Array; values: Float64Array; inOrder: boolean; minTs: number } {
    const n = this.length;
    let timestamps: Float64Array;
    let values: Float64Array;
    if (n === this.timestamps.length) {
      timestamps = this.timestamps;
      values = this.values;
      const capacity = this.#restartCapacity(keepCapacity);
      const spare = this.#spare;
      this.#spare = undefined;
      if (spare !== undefined && spare.timestamps.length === capacity) {
        this.timestamps = spare.timestamps;
        this.values = spare.values;
      } else {
        this.timestamps = this.#buffer(capacity);
        this.values = this.#buffer(capacity);
      }
    } else {
      timestamps = sharedFloat64(n);
      timestamps.set(this.timestamps.subarray(0, n));
      values = sharedFloat64(n);
      values.set(this.values.subarray(0, n));
    }
    const taken = { timestamps, values, inOrder: this.inOrder, minTs: this.minTs };
    this.clear(keepCapacity);
    return taken;
  }

  /**
   * Takes back the buffers takePoints handed over, once nothing reads them any more (the
   * cut's chunk landed). A busy series then swaps two buffer pairs instead of allocating 64 KB
   * per cut: at 400 cuts/s the fresh buffers made V8 collect garbage often enough to show in
   * the ack p99.
   */
  recycle(timestamps: Float64Array, values: Float64Array): void {
    if (timestamps.length === this.timestamps.length && values.length === timestamps.length) this.#spare = { timestamps, values };
  }

  /** Empties the head; keeps its buffers up to `keepCapacity` points to avoid regrowing. */
  clear(keepCapacity: number): void {
    this.length = 0;
    this.inOrder = true;
    this.minTs = Infinity;
    this.maxTs = -Infinity;
    if (this.timestamps.length > keepCapacity) {
      // A head that outgrew the cut (runs of 100+ points) belongs to a busy series: start again
      // at the cut size. Starting at 16, every such head regrew by doubling in lockstep with the
      // others, and one commit reallocated them all (seen: 30-60 ms stalls after a checkpoint).
      const capacity = this.#restartCapacity(keepCapacity);
      this.timestamps = this.#buffer(capacity);
      this.values = this.#buffer(capacity);
    }
  }
}

/**
 * Stable sort of (timestamps, values) by time; of equal timestamps only the last one (the
 * newest write, given arrival order) is kept. Returns new arrays.
 *
 * A natural merge sort: heads and overlapping chunks are a few ascending runs interleaved
 * (several clients, or a backfill next to live data), so the runs are found in one pass and
 * merged pairwise, O(n log runs). Measured on 4 interleaved TSBS streams (bench/server_ingest,
 * columnar form): the comparator-based `Uint32Array#sort` it replaces took 30% of the ingest
 * thread. Merging takes the left run on ties, which keeps arrival order among equal times.
 */
export function sortDedupLastWins(timestamps: Float64Array, values: Float64Array): { timestamps: Float64Array; values: Float64Array } {
  const n = timestamps.length;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let bounds: number[] = [0];
  for (let i = 1; i < n; i++) if (timestamps[i]! < timestamps[i - 1]!) bounds.push(i);
  bounds.push(n);
  if (bounds.length > 2) {
    let scratch = new Uint32Array(n);
    while (bounds.length > 2) {
      const next: number[] = [0];
      let r = 0;
      for (; r + 2 < bounds.length; r += 2) {
        mergeRuns(timestamps, order, scratch, bounds[r]!, bounds[r + 1]!, bounds[r + 2]!);
        next.push(bounds[r + 2]!);
      }
      if (r + 1 < bounds.length) {
        // An odd run out: carried over as it is.
        scratch.set(order.subarray(bounds[r]!, bounds[r + 1]!), bounds[r]!);
        next.push(bounds[r + 1]!);
      }
      const swap = order;
      order = scratch;
      scratch = swap;
      bounds = next;
    }
  }
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  let m = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const t = timestamps[i]!;
    if (m > 0 && ts[m - 1] === t) {
      vs[m - 1] = values[i]!;
    } else {
      ts[m] = t;
      vs[m] = values[i]!;
      m++;
    }
  }
  return { timestamps: ts.slice(0, m), values: vs.slice(0, m) };
}

/** Merges order[lo, mid) and order[mid, hi), each sorted by time, into out[lo, hi); ties from the left. */
function mergeRuns(timestamps: Float64Array, order: Uint32Array, out: Uint32Array, lo: number, mid: number, hi: number): void {
  let a = lo;
  let b = mid;
  let o = lo;
  while (a < mid && b < hi) {
    const ia = order[a]!;
    const ib = order[b]!;
    if (timestamps[ib]! < timestamps[ia]!) {
      out[o++] = ib;
      b++;
    } else {
      out[o++] = ia;
      a++;
    }
  }
  while (a < mid) out[o++] = order[a++]!;
  while (b < hi) out[o++] = order[b++]!;
}
