/**
 * The columns of a commit group: batches of one group commit that came without a worker's
 * write-ahead block (wal_parts.ts) concatenated into one columnar batch, in columns reused from
 * commit to commit: only the encoding of the commit's write-ahead record reads them, and fresh
 * ones per commit were part of the external-memory churn that made V8 collect garbage inside
 * commits.
 */
import type { IngestBatch } from './ingest_batch.js';

let groupColumns: IngestBatch = { seriesIds: new Uint32Array(0), timestamps: new Float64Array(0), values: new Float64Array(0), length: 0 };

/** Points of the largest group whose columns are kept (20 bytes each). */
const GROUP_COLUMNS_KEEP_POINTS = 1 << 19;

/** `reuse`: the group's columns may be the shared ones (the commit reads them before the next group is made). */
export function concatBatches(batches: readonly IngestBatch[], total: number, reuse: boolean): IngestBatch {
  if (!reuse || total > GROUP_COLUMNS_KEEP_POINTS) {
    return concatInto({ seriesIds: new Uint32Array(total), timestamps: new Float64Array(total), values: new Float64Array(total), length: 0 }, batches, total);
  }
  if (groupColumns.seriesIds.length < total) {
    const capacity = Math.min(GROUP_COLUMNS_KEEP_POINTS, Math.max(total, groupColumns.seriesIds.length * 2, 4096));
    groupColumns = { seriesIds: new Uint32Array(capacity), timestamps: new Float64Array(capacity), values: new Float64Array(capacity), length: 0 };
  }
  return concatInto(groupColumns, batches, total);
}

function concatInto(into: IngestBatch, batches: readonly IngestBatch[], total: number): IngestBatch {
  const { seriesIds, timestamps, values } = into;
  let o = 0;
  for (const b of batches) {
    seriesIds.set(b.seriesIds.subarray(0, b.length), o);
    timestamps.set(b.timestamps.subarray(0, b.length), o);
    values.set(b.values.subarray(0, b.length), o);
    o += b.length;
  }
  return { seriesIds, timestamps, values, length: total };
}
