/**
 * Rollups in memory: per stored chunk, its rollup records at every resolution of
 * ROLLUP_RESOLUTIONS_MS (src/core/rollup_records.ts), keyed by chunk id, least recently used
 * first out once their bytes pass the budget. Nothing of it is stored: chunk rows keep their
 * size (bytes/point is a target), and a restart rebuilds rollups as queries and cuts need them.
 *
 * Who fills it: the storage engine when a cut or a compaction merge lands, with the records the
 * chunk encoder thread built from the points it encoded (encoded_rollups.ts, for every series,
 * so the first query after ingest finds them), or from the cut's points for chunks the writer
 * encoded itself; and RollupWarmer (rollup_warmer.ts) for chunks a query found without one
 * (chunks after a restart, chunks not kept for lack of room), in the background. Who empties
 * it: RollupCatalog (rollup_catalog.ts) drops a chunk's entry when the chunk is deleted, and
 * everything when the catalogue is reloaded. An entry also remembers its chunk's stats and is
 * only used for a row with the same stats, so a chunk id that came to mean other points can
 * never be answered from old partials.
 */
import type { RollupUsage } from '../../model/api.js';
import type { ChunkRow } from '../backend.js';
import { buildRollupRecords, ROLLUP_RESOLUTIONS_MS } from '../../core/rollup_records.js';
import { buildRollupSketches, rollupSketchBytes, type RollupSketches } from '../../core/rollup_sketches.js';

/** Default byte budget (the `query.rollup_memory_mb` setting): ~2,000 day-long 10 s chunks at both resolutions. */
export const DEFAULT_ROLLUP_BUDGET_BYTES = 64 * 1024 * 1024;
/** What an entry costs beyond its records: the Map slot, the object and its arrays' headers. */
const ENTRY_OVERHEAD_BYTES = 256;
/**
 * How long after a query planned over a series its chunks count as wanted when they land:
 * their encoder-built records may evict others (encoded_rollups.ts), and chunks without records
 * get them built on the main thread (~10–50 ns a point, which ingest of series nobody queries
 * should not pay). A dashboard refreshing a series keeps it warm.
 */
export const SERIES_WARM_MS = 10 * 60_000;
/**
 * The warmer builds, and chunks of series nobody queried lately keep, no rollup that would
 * evict one used within this long: with a budget smaller than what queries keep reading it
 * would otherwise rebuild and evict in circles.
 */
export const WARM_EVICTION_MIN_AGE_MS = 60_000;
/** Most series remembered as recently queried (oldest forgotten first). */
const MAX_WARM_SERIES = 1_000_000;

/** The stats of a chunk an entry belongs to. */
export interface RollupChunkStats {
  minTs: number;
  maxTs: number;
  count: number;
  sum: number;
  firstValue: number;
  lastValue: number;
}

interface Entry extends RollupChunkStats {
  /** Records per resolution, in ROLLUP_RESOLUTIONS_MS order. */
  records: Float64Array[];
  /**
   * Percentile sketches per resolution, same order (rollup_sketches.ts): only for chunks an
   * approximate percentile query read, since they cost more memory than the records.
   */
  sketches: RollupSketches[] | undefined;
  bytes: number;
  /** When a query last used it, or when it was built (ms since the epoch). */
  usedAtMs: number;
}

/** Counters shown on /metrics (emms_rollup_*, src/server/self_metrics.ts). */
export type RollupStats = RollupUsage;

function sameStats(e: RollupChunkStats, row: ChunkRow): boolean {
  return e.minTs === row.min_ts && e.maxTs === row.max_ts && e.count === row.count &&
    Object.is(e.sum, row.sum) && Object.is(e.firstValue, row.first) && Object.is(e.lastValue, row.last);
}

/** Notes `id` as used at `nowMs`, most recent last, forgetting the oldest past MAX_WARM_SERIES. */
function remember(map: Map<number, number>, id: number, nowMs: number): void {
  map.delete(id);
  map.set(id, nowMs);
  if (map.size > MAX_WARM_SERIES) {
    for (const oldest of map.keys()) {
      map.delete(oldest);
      break;
    }
  }
}

export class RollupStore {
  /** Insertion order is recency order: a use moves the entry to the end. */
  readonly #entries = new Map<number, Entry>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #built = 0;
  #evicted = 0;
  /** Series a query planned over, and when (ms since the epoch), oldest first. */
  readonly #queried = new Map<number, number>();
  /** Series an approximate percentile query read, and when: their cuts get sketches too. */
  readonly #sketchQueried = new Map<number, number>();

  /** @param budgetBytes 0 turns rollups off (every query decodes). */
  constructor(readonly budgetBytes = DEFAULT_ROLLUP_BUDGET_BYTES) {
    if (!(budgetBytes >= 0) || !Number.isFinite(budgetBytes)) {
      throw new RangeError(`RollupStore: budgetBytes=${budgetBytes} must be a finite number ≥ 0`);
    }
  }

  get enabled(): boolean {
    return this.budgetBytes > 0;
  }

  /** Whether the chunk has rollups (without counting a hit or touching its recency). */
  has(chunkId: number): boolean {
    return this.#entries.has(chunkId);
  }

  /** The stats of the chunk the entry under `chunkId` was built for, if any (no hit counted, recency untouched). */
  heldStats(chunkId: number): RollupChunkStats | undefined {
    return this.#entries.get(chunkId);
  }

  /**
   * The chunk's records at resolution `resolutionMs`, when held for exactly this row's chunk;
   * counts a hit or a miss.
   */
  recordsFor(row: ChunkRow, resolutionMs: number): Float64Array | undefined {
    const k = ROLLUP_RESOLUTIONS_MS.indexOf(resolutionMs);
    if (k < 0) return undefined;
    const e = this.#entries.get(row.id);
    if (e === undefined || !sameStats(e, row)) {
      // Misses of chunks without an entry are counted where queries plan (noteMiss), for
      // workers' reads too; a stale entry only shows here.
      if (e !== undefined) {
        this.#drop(row.id, e);
        this.#misses++;
      }
      return undefined;
    }
    // Most recently used goes last.
    this.#entries.delete(row.id);
    this.#entries.set(row.id, e);
    e.usedAtMs = Date.now();
    this.#hits++;
    return e.records[k];
  }

  /**
   * The chunk's percentile sketches at `resolutionMs` (rollup_sketches.ts), when held for
   * exactly this row's chunk; counts a hit, or a miss for a stale entry.
   */
  sketchesFor(row: ChunkRow, resolutionMs: number): RollupSketches | undefined {
    const k = ROLLUP_RESOLUTIONS_MS.indexOf(resolutionMs);
    const e = this.#entries.get(row.id);
    if (k < 0 || e === undefined || e.sketches === undefined) return undefined;
    return this.recordsFor(row, resolutionMs) === undefined ? undefined : e.sketches[k];
  }

  /** A query plans over the series: its cuts get rollups when they land, for SERIES_WARM_MS. */
  noteQueried(seriesId: number, nowMs: number, sketches = false): void {
    remember(this.#queried, seriesId, nowMs);
    if (sketches) remember(this.#sketchQueried, seriesId, nowMs);
  }

  /** Whether an approximate percentile query read the series within SERIES_WARM_MS of `nowMs`. */
  wantsSketches(seriesId: number, nowMs: number): boolean {
    if (!this.enabled) return false;
    const at = this.#sketchQueried.get(seriesId);
    return at !== undefined && nowMs - at <= SERIES_WARM_MS;
  }

  /** Whether a query planned over the series within SERIES_WARM_MS of `nowMs`. */
  wantsSeries(seriesId: number, nowMs: number): boolean {
    if (!this.enabled) return false;
    const at = this.#queried.get(seriesId);
    return at !== undefined && nowMs - at <= SERIES_WARM_MS;
  }

  /**
   * Whether the warmer may build now: there is room, or the least recently used rollup has not
   * been used for WARM_EVICTION_MIN_AGE_MS (so building evicts nothing a query still reads).
   */
  acceptsWarming(nowMs: number): boolean {
    if (!this.enabled) return false;
    if (this.#bytes <= this.budgetBytes * 0.9) return true;
    for (const e of this.#entries.values()) return nowMs - e.usedAtMs >= WARM_EVICTION_MIN_AGE_MS;
    return true;
  }

  /** Counts a chunk a query could have answered from rollups but had none for. */
  noteMiss(): void {
    this.#misses++;
  }

  /**
   * Builds and keeps the rollups of a chunk from its points (ascending, duplicate-free: what
   * the chunk holds), evicting the least recently used to stay within the budget. A chunk
   * bigger than the whole budget is not kept. With `sketches`, its percentile sketches too.
   */
  build(chunkId: number, timestamps: Float64Array, values: Float64Array, sketches = false): void {
    if (!this.enabled || timestamps.length === 0) return;
    const records = ROLLUP_RESOLUTIONS_MS.map((r) => buildRollupRecords(timestamps, values, r));
    const built = sketches ? ROLLUP_RESOLUTIONS_MS.map((r) => buildRollupSketches(timestamps, values, r)) : undefined;
    let sum = 0;
    for (let i = 0; i < values.length; i++) sum += values[i]!;
    const n = timestamps.length;
    this.add(chunkId, {
      minTs: timestamps[0]!, maxTs: timestamps[n - 1]!, count: n, sum, firstValue: values[0]!, lastValue: values[n - 1]!,
    }, records, built);
  }

  /** Keeps prebuilt records (one array per resolution, and optionally sketches) for a chunk with these stats. */
  add(chunkId: number, stats: RollupChunkStats, records: Float64Array[], sketches?: RollupSketches[]): void {
    if (!this.enabled) return;
    if (records.length !== ROLLUP_RESOLUTIONS_MS.length) {
      throw new Error(`BUG: RollupStore.add: ${records.length} record arrays for ${ROLLUP_RESOLUTIONS_MS.length} resolutions`);
    }
    let bytes = ENTRY_OVERHEAD_BYTES;
    for (const r of records) bytes += r.byteLength;
    for (const sk of sketches ?? []) bytes += rollupSketchBytes(sk);
    if (bytes > this.budgetBytes) return;
    const old = this.#entries.get(chunkId);
    if (old !== undefined) this.#drop(chunkId, old);
    for (const [id, e] of this.#entries) {
      if (this.#bytes + bytes <= this.budgetBytes) break;
      this.#drop(id, e);
      this.#evicted++;
    }
    this.#entries.set(chunkId, { ...stats, records, sketches, bytes, usedAtMs: Date.now() });
    this.#bytes += bytes;
    this.#built++;
  }

  /** Drops the rollups of chunks that were deleted or rewritten. */
  invalidate(chunkIds: Iterable<number>): void {
    for (const id of chunkIds) {
      const e = this.#entries.get(id);
      if (e !== undefined) this.#drop(id, e);
    }
  }

  /** Drops every rollup whose chunk ends before `boundMs` (retention dropped those chunks). */
  invalidateBefore(boundMs: number): void {
    for (const [id, e] of this.#entries) if (e.maxTs < boundMs) this.#drop(id, e);
  }

  /** Drops everything (the chunk catalogue was reloaded: ids may name other chunks now). */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  stats(): RollupStats {
    return {
      bytes: this.#bytes, budgetBytes: this.budgetBytes, chunks: this.#entries.size,
      hits: this.#hits, misses: this.#misses, built: this.#built, evicted: this.#evicted,
    };
  }

  #drop(id: number, e: Entry): void {
    this.#entries.delete(id);
    this.#bytes -= e.bytes;
  }
}
