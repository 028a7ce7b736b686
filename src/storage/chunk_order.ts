/**
 * The order readers need a series' chunks in: (min_ts, id), so that of overlapping chunks the
 * newer write (higher id) comes later and wins. Back-ends fetch by their own index order
 * (SQLite and PostgreSQL: max_ts, which avoids a sort per call) and restore this order here,
 * which costs one pass when nothing overlaps.
 */
import type { ChunkRow } from './backend.js';

export function inMinTsOrder(rows: ChunkRow[]): ChunkRow[] {
  for (let k = 1; k < rows.length; k++) {
    const a = rows[k - 1]!;
    const b = rows[k]!;
    if (a.min_ts > b.min_ts || (a.min_ts === b.min_ts && a.id > b.id)) {
      return rows.sort((x, y) => x.min_ts - y.min_ts || x.id - y.id);
    }
  }
  return rows;
}
