/**
 * Group commit: batches submitted in the same turn of the event loop share one write
 * transaction (one write-ahead record, one commit), so many concurrent small batches cost
 * about as much as one big one. A batch resolves only after the transaction holding it
 * committed; if the commit fails every batch of the group rejects.
 *
 * One group is committed at a time: while a network back-end's commit is in flight, the next
 * batches gather and go together when it returns (with SQLite a commit has returned before the
 * next turn, so this never waits).
 *
 * Lifecycle: submit() any number of times; flush() commits now (or as soon as the commit in
 * flight returns). The owner awaits flush() once more before closing the store (EngineCore#stop
 * in src/metrics_system.ts), so no submitted batch is left pending.
 */
import type { IngestBatch } from '../storage/ingest_batch.js';
import { commitActivity } from './commit_activity.js';

/**
 * Pending points at which the group is committed at once instead of at the end of the turn:
 * past this, waiting would only add latency and memory (about 20 bytes a point).
 *
 * It was 8,192, so a bulk loader's 10,000-point frames each took a transaction of their own,
 * although the decode worker often hands several over in one turn (BEGIN/COMMIT were ~9 % of
 * the main thread's profile samples on bench:peers, 2026-12-07). At 65,536 the frames a turn
 * delivers share one: 1.9 batches per transaction there, and 3-4 % less main-thread CPU per
 * point (bench/peers_ingest_ab.bench.ts at load 15-17, within its noise): most of a commit's
 * cost is the bytes it writes, not the transaction.
 */
export const COMMIT_NOW_POINTS = 65_536;

interface Pending {
  batch: IngestBatch;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class GroupCommitter {
  readonly #commit: (batches: IngestBatch[]) => Promise<void>;
  #pending: Pending[] = [];
  #pendingPoints = 0;
  #scheduled = false;
  /** The commit in flight; the next group waits for it. */
  #inFlight: Promise<void> | undefined;

  constructor(commit: (batches: IngestBatch[]) => Promise<void>) {
    this.#commit = commit;
  }

  submit(batch: IngestBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ batch, resolve, reject });
      commitActivity.noteSubmitted(1);
      this.#pendingPoints += batch.length;
      if (this.#pendingPoints >= COMMIT_NOW_POINTS) {
        void this.flush();
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Commits every pending batch in one transaction and settles their promises; resolves when nothing is pending or in flight. */
  async flush(): Promise<void> {
    this.#scheduled = false;
    while (this.#inFlight !== undefined) await this.#inFlight;
    const group = this.#pending;
    if (group.length === 0) return;
    this.#pending = [];
    this.#pendingPoints = 0;
    let committed: Promise<void>;
    try {
      committed = this.#commit(group.map((p) => p.batch));
    } catch (error) {
      committed = Promise.reject(error);
    }
    this.#inFlight = committed.then(
      () => {
        commitActivity.noteSettled(group.length, true);
        for (const p of group) p.resolve();
      },
      (error: unknown) => {
        commitActivity.noteSettled(group.length, false);
        for (const p of group) p.reject(error);
      },
    ).finally(() => {
      this.#inFlight = undefined;
    });
    await this.#inFlight;
    // Batches that arrived while this group was in flight go next.
    if (this.#pending.length > 0 && !this.#scheduled) await this.flush();
  }
}
