/**
 * Builds the storage engine's background collaborators and ties them together: the cut
 * pipeline (cut_pipeline.ts), background compaction (background_compaction.ts), the
 * maintenance scheduler (maintenance_scheduler.ts) and settling (settle_controller.ts). Each
 * gets the shared structures it reads and the callbacks it needs of the others; the references
 * that go both ways (the scheduler asks settling whether the server is quiet, settling starts
 * the scheduler's checkpoint; landed cuts let a checkpoint go on) are resolved here, once.
 */
import type { ChunkSource, StorageBackend } from './backend.js';
import type { BackgroundWriter } from './background_writer.js';
import { BackgroundCompaction } from './background_compaction.js';
import type { ChunkCatalog } from './chunk_catalog.js';
import type { ChunkEncoder } from './chunk_encoder.js';
import { CutPipeline } from './cut_pipeline.js';
import type { HeadTable } from './head.js';
import { MaintenanceScheduler } from './maintenance_scheduler.js';
import type { RollupStore } from './rollup/rollup_store.js';
import { SettleController } from './settle_controller.js';
import type { HeadAges, SettleConfig } from './settle_policy.js';
import type { WalLedger } from './wal_ledger.js';

export interface BackgroundParts {
  heads: HeadTable;
  headAges: HeadAges;
  wal: WalLedger;
  encoder: ChunkEncoder;
  chunks: ChunkCatalog;
  rollups: RollupStore;
  chunkSource: ChunkSource;
  /** The back-end's free space and the steps that give it back (settling's last step). */
  space: Pick<StorageBackend, 'freeSpace' | 'returnFreeSpaceStep'>;
  writer: BackgroundWriter;
  maintenanceSliceMs: number;
  maxPendingCutPoints: number;
  settleConfig: SettleConfig;
  clock: () => number;
  walMaxAgeMs: number;
  /** Points of a landed cut left memory (the engine counts head points). */
  onPointsLanded: (points: number) => void;
  overLimits: () => boolean;
  lastCommitAt: () => number;
  describeSeries: (seriesId: number) => string;
}

export interface Background {
  cuts: CutPipeline;
  compaction: BackgroundCompaction;
  scheduler: MaintenanceScheduler;
  settle: SettleController;
}

export function wireBackground(parts: BackgroundParts): Background {
  const { heads, headAges, wal, encoder, chunks, writer, maintenanceSliceMs } = parts;
  // Built last, used only from callbacks that run after construction.
  let scheduler: MaintenanceScheduler | undefined;
  let settle: SettleController | undefined;
  const cuts = new CutPipeline({
    heads, headAges, encoder, chunks, rollups: parts.rollups, writer, maintenanceSliceMs, maxPendingCutPoints: parts.maxPendingCutPoints,
    onLanded: (seriesId, points) => {
      settle!.markCut(seriesId);
      parts.onPointsLanded(points);
    },
    afterLanding: () => scheduler!.afterLanding(),
  });
  const compaction = new BackgroundCompaction({
    chunks, chunkSource: parts.chunkSource, encoder, rollups: parts.rollups, writer, maintenanceSliceMs,
    generation: () => cuts.generation,
    wake: () => scheduler!.schedule(0),
    describeSeries: parts.describeSeries,
  });
  scheduler = new MaintenanceScheduler({
    writer, cuts, wal, heads, headAges, compaction, maintenanceSliceMs, space: parts.space,
    seriesWithChunks: () => chunks.seriesWithChunks(),
    walMaxAgeMs: parts.walMaxAgeMs,
    overLimits: parts.overLimits,
    lastCommitAt: parts.lastCommitAt,
    settle: {
      isQuiet: () => settle!.isQuiet(),
      takeSeries: () => settle!.takeSeries(),
      requeue: (sids) => settle!.requeue(sids),
      settledNow: () => settle!.settledNow(),
    },
  });
  settle = new SettleController({
    config: parts.settleConfig, clock: parts.clock, heads, headAges, wal, walMaxAgeMs: parts.walMaxAgeMs, cuts, scheduler, compaction, space: parts.space,
  });
  return { cuts, compaction, scheduler, settle };
}
