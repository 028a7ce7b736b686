/**
 * What the storage engine's background collaborators (cut_pipeline.ts, background_compaction.ts,
 * maintenance_scheduler.ts) may ask of it: its one write path, its state, and where their
 * failures are counted. They reach the engine only through this interface.
 */
import type { WriteTransaction } from './backend.js';

export interface BackgroundWriter {
  /** StorageEngine.write: one transaction in the write turn; a failed commit rebuilds the engine's state. */
  write<T>(fill: (tx: WriteTransaction) => T, after?: (result: T) => void, options?: { deletesChunks?: boolean }): Promise<T>;
  /** The engine is closed (abandoned, or close() finished): results arriving now are dropped. */
  readonly closed: boolean;
  /** close() started: no background step starts a write any more. */
  readonly closing: boolean;
  /** A write holds or waits for the write turn. */
  readonly writeBusy: boolean;
  /**
   * A background step failed in the back-end (disk full, I/O error, connection lost): the
   * write already rebuilt every in-memory structure from the back-end; the engine counts it
   * and drops the background checkpoint and compaction, retried at the next maintenance round.
   */
  maintenanceFailed(error: unknown): void;
  /** The chunk encoder failed a task (it should not): counted, and shown as the last error. */
  encoderFailed(message: string): void;
}
