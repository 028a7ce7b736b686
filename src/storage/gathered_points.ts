/**
 * A series' points for one read when cuts of it are still pending (StorageEngine#head): its
 * pending cuts and live head copied together, for reads that must see both.
 */
import { sortDedupLastWins } from './last_write_wins_sort.js';
import { spanOf, type HeadPoints, type PointColumns, type ReadRange } from './head.js';

/**
 * A series' points gathered for a read (its pending cuts and live head, copied together):
 * arrival order until sorted() sorts them once in place.
 */
export class GatheredPoints implements HeadPoints {
  timestamps: Float64Array;
  values: Float64Array;
  length = 0;
  inOrder = true;
  minTs = Infinity;
  maxTs = -Infinity;

  constructor(capacity = 16) {
    this.timestamps = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  appendRun(timestamps: Float64Array, values: Float64Array, from: number, to: number): void {
    const n = this.length;
    const need = n + to - from;
    if (need > this.timestamps.length) {
      let capacity = Math.max(this.timestamps.length, 1);
      while (capacity < need) capacity *= 2;
      const ts = new Float64Array(capacity);
      const vs = new Float64Array(capacity);
      ts.set(this.timestamps.subarray(0, n));
      vs.set(this.values.subarray(0, n));
      this.timestamps = ts;
      this.values = vs;
    }
    this.timestamps.set(timestamps.subarray(from, to), n);
    this.values.set(values.subarray(from, to), n);
    this.length = need;
    for (let i = from; i < to; i++) {
      const t = timestamps[i]!;
      if (t > this.maxTs) this.maxTs = t;
      else this.inOrder = false;
      if (t < this.minTs) this.minTs = t;
    }
  }

  sortedInto(timestamps: Float64Array, values: Float64Array, at: number, range?: ReadRange): number {
    const sorted = this.sorted(range);
    timestamps.set(sorted.timestamps, at);
    values.set(sorted.values, at);
    return sorted.timestamps.length;
  }

  lengthIn(range: ReadRange): number {
    return this.sorted(range).timestamps.length;
  }

  /** Views of this (a copy made for the read), not copies. */
  sorted(range?: ReadRange): PointColumns {
    if (!this.inOrder) {
      const { timestamps, values } = sortDedupLastWins(this.timestamps.subarray(0, this.length), this.values.subarray(0, this.length));
      this.timestamps.set(timestamps);
      this.values.set(values);
      this.length = timestamps.length;
      this.inOrder = true;
    }
    const all = { timestamps: this.timestamps.subarray(0, this.length), values: this.values.subarray(0, this.length) };
    return range === undefined ? all : spanOf(all, range);
  }
}
