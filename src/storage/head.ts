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

export class SeriesHead {
  timestamps: Float64Array;
  values: Float64Array;
  length = 0;
  /** True while timestamps are strictly increasing (no reordering or dedup needed). */
  inOrder = true;
  minTs = Infinity;
  maxTs = -Infinity;

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

  #grow(capacity: number): void {
    const ts = new Float64Array(capacity);
    const vs = new Float64Array(capacity);
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

  /** Empties the head; keeps its buffers up to `keepCapacity` points to avoid regrowing. */
  clear(keepCapacity: number): void {
    this.length = 0;
    this.inOrder = true;
    this.minTs = Infinity;
    this.maxTs = -Infinity;
    if (this.timestamps.length > keepCapacity) {
      this.timestamps = new Float64Array(INITIAL_CAPACITY);
      this.values = new Float64Array(INITIAL_CAPACITY);
    }
  }
}

/**
 * Stable sort of (timestamps, values) by time; of equal timestamps only the last one (the
 * newest write, given arrival order) is kept. Returns new arrays.
 */
export function sortDedupLastWins(timestamps: Float64Array, values: Float64Array): { timestamps: Float64Array; values: Float64Array } {
  const n = timestamps.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Index ties broken by position make the sort stable whatever the engine's algorithm.
  order.sort((a, b) => (timestamps[a]! - timestamps[b]!) || (a - b));
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
