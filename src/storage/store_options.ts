/**
 * What a storage engine (storage_engine.ts) is opened with, and the defaults of its size and
 * age limits. Tests shrink the limits to exercise cuts and checkpoints with few points.
 */
import type { StorageBackend } from './backend.js';
import type { ChunkEncoder, ChunkEncoding } from './chunk_encoder.js';
import type { SettleConfig } from './settle_policy.js';

/**
 * Points at which a head is cut into a chunk (each series at its own point in [2048, 4096],
 * see cutAt). Bounds head memory to 64 KiB per busy series
 * (1,000 series: 64 MiB); compaction later packs consecutive cuts into chunks of up to
 * STORED_CHUNK_MAX_POINTS, which is what the storage target needs.
 */
export const HEAD_CUT_POINTS = 4096;
/** Write-ahead bytes that trigger a checkpoint: bounds replay at start (~12M points, about a second). */
export const WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Age of the oldest write-ahead record that triggers a checkpoint (so idle series get cut). */
export const WAL_MAX_AGE_MS = 2 * 3600_000;
/**
 * Points in heads and pending cuts past which a checkpoint starts (as the write-ahead limit
 * would): 16M points, 256 MiB of columns. At the usual ~5 bytes per point of records the
 * 64 MiB record limit (~12M points) comes first; this bounds head memory when records
 * compress better than 4 bytes per point (constant values) or when many series hold few points.
 */
export const HEAD_POINTS_LIMIT = 16 * 1024 * 1024;
export interface StoreOptions {
  /** The opened back-end (backends.ts); the engine closes it. */
  backend: StorageBackend;
  /** 0 = keep forever. */
  retentionDays?: number;
  /** A tenant's own retention in days (0 = keep forever); default `retentionDays` for every tenant. */
  retentionDaysOf?: ((tenant: string) => number) | undefined;
  /** Tests shrink these to exercise cuts and checkpoints with few points. */
  headCutPoints?: number | undefined;
  walCheckpointBytes?: number | undefined;
  /** Head slab memory mapped when the store opens (HeadTable.reserve); default 0. */
  headReserveBytes?: number | undefined;
  /** MAINTENANCE_SLICE_MS (maintenance_scheduler.ts); tests set 0 (one head or series per slice) to interleave slices with commits. */
  maintenanceSliceMs?: number | undefined;
  /** MAX_PENDING_CUT_POINTS (cut_pipeline.ts); tests shrink it to make the writer take over encoding. */
  maxPendingCutPoints?: number | undefined;
  /** Where chunks are encoded and merged: a thread of their own (default) or inline. */
  chunkEncoding?: ChunkEncoding | undefined;
  /** lz4 for write-ahead records where it pays (default), or none. */
  compression?: 'lz4' | 'none' | undefined;
  /** Replaces the encoder chunkEncoding picks: tests decide when its tasks finish. */
  chunkEncoder?: ChunkEncoder | undefined;
  /** When to settle (settle_policy.ts); the EMMS_SETTLE_* environment variables override it. */
  settle?: Partial<SettleConfig> | undefined;
  /** HEAD_POINTS_LIMIT; tests shrink it. */
  headPointsLimit?: number | undefined;
  /** The settle policy's clock (Date.now); tests move it. */
  clock?: (() => number) | undefined;
  /**
   * Asked before each write transaction: false once this node may no longer write the store
   * (it lost the writer lease of a shared back-end, src/cluster/writer_lease.ts).
   */
  mayWrite?: (() => boolean) | undefined;
  /** Memory for rollups (src/storage/rollup/rollup_store.ts), default DEFAULT_ROLLUP_BUDGET_BYTES; 0 = none. */
  rollupBudgetBytes?: number | undefined;
}
