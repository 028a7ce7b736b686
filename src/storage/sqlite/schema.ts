/**
 * Every SQLite table, column and statement of the metrics database, in one place (STYLE.md
 * habit 20): no other file spells a table name.
 *
 * Layout (one database file, WAL journal mode):
 *
 *   meta          (key, value)                         schema version
 *   series        (tenant, metric_id, tags) → id, type  one row per series; tags canonical, sorted
 *   chunks        id, series_id, min_ts, max_ts, count, codec, format_version,
 *                 sum, min, max, first, last, mean, m2, data
 *                                                      encoded points of one series + their stats
 *   wal_records   id, created_ms, points, data         columnar batches not yet in chunks
 *   head_marks    series_id → wal_id                   series' points of records ≤ wal_id are in chunks
 *
 * Why the shapes:
 * - `series` is WITHOUT ROWID keyed by its identity, so the canonical tag string is stored once
 *   (a rowid table plus a UNIQUE index would store it twice). Lookups by id happen only at start,
 *   when every series is loaded into memory.
 * - `chunks.data` is the last column: SQLite reads a row's columns in order and a blob larger
 *   than a page spills into overflow pages, so the stats before it are read without touching
 *   the blob's pages (aligned aggregate queries use only the stats).
 * - `chunks_by_series_max_ts (series_id, max_ts)`: a range scan `max_ts >= start AND min_ts <
 *   end` for one series starts at the first chunk that can overlap.
 */

/** Bump when a table changes shape; `openDatabase` refuses files of another version. */
export const SCHEMA_VERSION = 1;

/**
 * Page size of new databases, in bytes. Measured by bench/storage_size.bench.ts on the 24 h
 * TSBS workload (8.64M points, 1,000 chunks of ~9.5 KB after stop()): 1024 → 1.154 B/pt in
 * every run; 4096 → anywhere from 1.139 to 1.211 B/pt, because SQLite keeps P − 489 mod 4092
 * bytes of a blob on the leaf page and, for some blob sizes, only one ~2 KB cell then fits a
 * page (half of it wasted per chunk); 512 → 1.207 (the ~150-byte series rows fit badly).
 * 1024 is chosen for being close to the best and insensitive to the codec's exact sizes.
 */
export const PAGE_SIZE_BYTES = 1024;

export const TABLE = {
  meta: 'meta',
  series: 'series',
  chunks: 'chunks',
  walRecords: 'wal_records',
  headMarks: 'head_marks',
} as const;

export const DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${TABLE.meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS ${TABLE.series} (
     tenant TEXT NOT NULL,
     metric_id TEXT NOT NULL,
     tags TEXT NOT NULL,
     id INTEGER NOT NULL,
     metric_type TEXT NOT NULL,
     PRIMARY KEY (tenant, metric_id, tags)
   ) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS ${TABLE.chunks} (
     id INTEGER PRIMARY KEY,
     series_id INTEGER NOT NULL,
     min_ts INTEGER NOT NULL,
     max_ts INTEGER NOT NULL,
     count INTEGER NOT NULL,
     codec INTEGER NOT NULL,
     format_version INTEGER NOT NULL,
     sum REAL NOT NULL,
     min REAL NOT NULL,
     max REAL NOT NULL,
     first REAL NOT NULL,
     last REAL NOT NULL,
     mean REAL NOT NULL,
     m2 REAL NOT NULL,
     data BLOB NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS chunks_by_series_max_ts ON ${TABLE.chunks} (series_id, max_ts)`,
  `CREATE TABLE IF NOT EXISTS ${TABLE.walRecords} (
     id INTEGER PRIMARY KEY,
     created_ms INTEGER NOT NULL,
     points INTEGER NOT NULL,
     data BLOB NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS ${TABLE.headMarks} (series_id INTEGER PRIMARY KEY, wal_id INTEGER NOT NULL)`,
];

/** Columns of a chunk row as read for queries (data last, see above). */
const CHUNK_COLUMNS = 'id, series_id, min_ts, max_ts, count, codec, format_version, sum, min, max, first, last, mean, m2';

export const SQL = {
  readSchemaVersion: `SELECT value FROM ${TABLE.meta} WHERE key = 'schema_version'`,
  writeSchemaVersion: `INSERT OR REPLACE INTO ${TABLE.meta} (key, value) VALUES ('schema_version', ?)`,

  insertSeries: `INSERT INTO ${TABLE.series} (tenant, metric_id, tags, id, metric_type) VALUES (?, ?, ?, ?, ?)`,
  upsertMeta: `INSERT OR REPLACE INTO ${TABLE.meta} (key, value) VALUES (?, ?)`,
  deleteMeta: `DELETE FROM ${TABLE.meta} WHERE key = ?`,
  allMeta: `SELECT key, value FROM ${TABLE.meta}`,
  /** An erasure removing a series whose every point it deleted (src/storage/point_erasure.ts). */
  deleteSeries: `DELETE FROM ${TABLE.series} WHERE tenant = ? AND metric_id = ? AND tags = ?`,
  allSeries: `SELECT id, tenant, metric_id, tags, metric_type FROM ${TABLE.series}`,

  /** Ids come from the engine (chunk_catalog.ts): a higher id is a newer write. */
  insertChunk: `INSERT INTO ${TABLE.chunks} (id, series_id, min_ts, max_ts, count, codec, format_version, sum, min, max, first, last, mean, m2, data)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  deleteChunk: `DELETE FROM ${TABLE.chunks} WHERE id = ?`,
  /**
   * Chunks of one series overlapping [start, end), up to a snapshot chunk id, in max_ts order:
   * the index's own order (ORDER BY min_ts made SQLite sort in a temp B-tree per call, which
   * measured 2/3 of a 1,000-series query answered from chunk stats). Readers restore (min_ts,
   * id) order in JS, which is already the case unless chunks overlap.
   */
  chunksInRange: `SELECT ${CHUNK_COLUMNS}, data FROM ${TABLE.chunks}
                  WHERE series_id = ? AND max_ts >= ? AND min_ts < ? AND id <= ? ORDER BY max_ts`,
  /**
   * Chunks for an aggregation: the blob only when the chunk cannot be answered from its stats
   * (it is not inside one bucket and the range, or summaries are off), so SQLite never reads
   * the overflow pages of chunks answered from stats; series_reader.ts re-checks in JS.
   * Positional parameters (binding by name measured slower): summaries (0/1), start, end,
   * intervalMs, intervalMs, series, start, end, maxChunkId.
   */
  chunksForAggregation: `SELECT ${CHUNK_COLUMNS},
                           CASE WHEN ? AND min_ts >= ? AND max_ts < ?
                                     AND CAST(min_ts / ? AS INTEGER) = CAST(max_ts / ? AS INTEGER)
                                THEN NULL ELSE data END AS data
                         FROM ${TABLE.chunks}
                         WHERE series_id = ? AND max_ts >= ? AND min_ts < ? AND id <= ?
                         ORDER BY max_ts`,
  /**
   * chunksForAggregation for many series in one statement (a JSON array of series ids as the
   * 6th parameter): one statement per series cost ~7 µs, a third of a 1,000-series query over
   * small chunks. Rows come grouped by series, each in max_ts order.
   */
  chunksForAggregationMany: `SELECT ${CHUNK_COLUMNS},
                               CASE WHEN ? AND min_ts >= ? AND max_ts < ?
                                         AND CAST(min_ts / ? AS INTEGER) = CAST(max_ts / ? AS INTEGER)
                                    THEN NULL ELSE data END AS data
                             FROM ${TABLE.chunks}
                             WHERE series_id IN (SELECT value FROM json_each(?)) AND max_ts >= ? AND min_ts < ? AND id <= ?
                             ORDER BY series_id, max_ts`,
  chunkData: `SELECT codec, data FROM ${TABLE.chunks} WHERE id = ?`,
  allChunkMeta: `SELECT id, series_id, min_ts, max_ts, count FROM ${TABLE.chunks}`,
  /** The chunk holding a series' newest point before a time: the predecessor for rate. */
  newestChunkBefore: `SELECT max_ts, last FROM ${TABLE.chunks}
                      WHERE series_id = ? AND max_ts < ? AND id <= ? ORDER BY max_ts DESC, id DESC LIMIT 1`,
  /** Newest point of a series in chunks; of two chunks ending at the same time the newer write wins. */
  newestChunkOfSeries: `SELECT max_ts, last FROM ${TABLE.chunks} WHERE series_id = ? ORDER BY max_ts DESC, id DESC LIMIT 1`,

  insertWalRecord: `INSERT INTO ${TABLE.walRecords} (id, created_ms, points, data) VALUES (?, ?, ?, ?)`,
  /** Replay reads records in steps (bounded memory): those after an id, oldest first. */
  walRecordsAfter: `SELECT id, data, created_ms, points FROM ${TABLE.walRecords} WHERE id > ? ORDER BY id LIMIT ?`,
  deleteWalRecordsUpTo: `DELETE FROM ${TABLE.walRecords} WHERE id <= ?`,

  upsertHeadMark: `INSERT OR REPLACE INTO ${TABLE.headMarks} (series_id, wal_id) VALUES (?, ?)`,
  allHeadMarks: `SELECT series_id, wal_id FROM ${TABLE.headMarks}`,
  deleteHeadMarksUpTo: `DELETE FROM ${TABLE.headMarks} WHERE wal_id <= ?`,
} as const;
