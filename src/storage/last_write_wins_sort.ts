/**
 * The order every read and cut of one series' points takes: by time, the newest write winning
 * among equal timestamps. Heads (head.ts), overlapping chunks (chunk_encoding.ts) and the query
 * reader's merge of chunks and heads (src/query/series_reader.ts) all go through it.
 */

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
