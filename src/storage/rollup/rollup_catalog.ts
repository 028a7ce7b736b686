/**
 * The chunk catalogue of a store that keeps rollups: every way a chunk leaves the catalogue
 * (compaction, retention, erasure, repair: all go through delete() or forgetBefore()) drops
 * its rollups, and a reload (open, a failed write, a restore) drops them all, since ids may
 * then name other chunks. Hooking the catalogue rather than each caller means a new way of
 * deleting chunks cannot forget its rollups.
 */
import { ChunkCatalog } from '../chunk_catalog.js';
import type { ChunkMetaRow, WriteTransaction } from '../backend.js';
import type { RollupStore } from './rollup_store.js';

export class RollupCatalog extends ChunkCatalog {
  constructor(readonly rollups: RollupStore) {
    super();
  }

  override load(rows: readonly ChunkMetaRow[]): void {
    this.rollups.clear();
    super.load(rows);
  }

  override delete(tx: WriteTransaction, seriesId: number, ids: ReadonlySet<number>): void {
    this.rollups.invalidate(ids);
    super.delete(tx, seriesId, ids);
  }

  override forgetBefore(boundMs: number): number {
    this.rollups.invalidateBefore(boundMs);
    return super.forgetBefore(boundMs);
  }
}
