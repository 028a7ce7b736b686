/**
 * Group commit: batches submitted in the same turn of the event loop share one SQLite
 * transaction (one write-ahead record, one commit), so many concurrent small batches cost
 * about as much as one big one. A batch resolves only after the transaction holding it
 * committed; if the commit fails every batch of the group rejects.
 *
 * Lifecycle: submit() any number of times; flush() commits now. The owner calls flush() once
 * more before closing the store (EngineCore#stop in src/metrics_system.ts), so no submitted
 * batch is left pending.
 */
import type { IngestBatch } from '../storage/sqlite_store.js';

/**
 * Pending points at which the group is committed at once instead of at the next turn: a batch
 * this big amortises a commit on its own, and waiting would only add latency and memory.
 */
export const COMMIT_NOW_POINTS = 8192;

interface Pending {
  batch: IngestBatch;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class GroupCommitter {
  readonly #commit: (batches: IngestBatch[]) => void;
  #pending: Pending[] = [];
  #pendingPoints = 0;
  #scheduled = false;

  constructor(commit: (batches: IngestBatch[]) => void) {
    this.#commit = commit;
  }

  submit(batch: IngestBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ batch, resolve, reject });
      this.#pendingPoints += batch.length;
      if (this.#pendingPoints >= COMMIT_NOW_POINTS) {
        this.flush();
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending batch in one transaction and settles their promises. */
  flush(): void {
    this.#scheduled = false;
    const group = this.#pending;
    if (group.length === 0) return;
    this.#pending = [];
    this.#pendingPoints = 0;
    try {
      this.#commit(group.map((p) => p.batch));
    } catch (error) {
      for (const p of group) p.reject(error);
      return;
    }
    for (const p of group) p.resolve();
  }
}
