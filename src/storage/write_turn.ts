/**
 * The storage engine's write turn and its read gate (storage_engine.ts):
 *
 * - **One write at a time.** A body runs alone, after every body queued before it. The engine
 *   fills a transaction and its in-memory state in one synchronous step, then awaits the
 *   back-end's commit; nothing else may write meanwhile, or its in-memory changes would run
 *   ahead of what the back-end holds.
 * - **Chunk-deleting writes and snapshot reads exclude each other.** A read holds a bound on
 *   chunk ids and reads in several statements (or round trips); a write that deletes chunks
 *   under that bound (compaction, retention, erasure, cleanup) would make it lose points
 *   mid-way. From the moment such a write is asked for until it ended, new reads wait
 *   (`readReady`), and it starts once the running reads ended. Holding new reads back is what
 *   keeps a steady stream of queries from starving compaction: found with PostgreSQL and Redis,
 *   whose reads overlap each other (with SQLite, whose commits end at once, reads only wait for
 *   earlier readers to drain).
 */
export class WriteTurn {
  #running = false;
  readonly #queue: Array<() => void> = [];
  /** Chunk-deleting bodies queued or running. */
  #deleters = 0;
  /** Reads waiting for the deleters to end. */
  #gate: Array<() => void> = [];
  #readers = 0;
  /** A deleting body waiting for the running reads to end. */
  #drained: Array<() => void> = [];

  /** A body is running (a commit may be in flight). */
  get busy(): boolean {
    return this.#running;
  }

  /** Reads running against a snapshot bound. */
  get readers(): number {
    return this.#readers;
  }

  /**
   * Runs `body` in the write turn. The part of `body` before its first await runs at once when
   * the turn is free (and no read holds back a deleting body): the engine relies on that for
   * SQLite, whose write path stays one synchronous step.
   */
  run<T>(body: () => Promise<T>, deletesChunks: boolean): Promise<T> {
    if (deletesChunks) this.#deleters++;
    const start = async (): Promise<T> => {
      this.#running = true;
      try {
        if (deletesChunks && this.#readers > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
        return await body();
      } finally {
        this.#running = false;
        this.#queue.shift()?.();
        if (deletesChunks && --this.#deleters === 0) for (const open of this.#gate.splice(0)) open();
      }
    };
    if (!this.#running) return start();
    return new Promise<T>((resolve, reject) => {
      this.#queue.push(() => {
        start().then(resolve, reject);
      });
    });
  }

  /** Resolves when a read may begin: no chunk-deleting body is queued or running. */
  async readReady(): Promise<void> {
    while (this.#deleters > 0) await new Promise<void>((resolve) => this.#gate.push(resolve));
  }

  beginRead(): void {
    this.#readers++;
  }

  endRead(): void {
    if (--this.#readers === 0) for (const resolve of this.#drained.splice(0)) resolve();
  }

  /** At close: reads still registered are abandoned (their workers are stopped), so nothing waits for them. */
  forgetReads(): void {
    this.#readers = 0;
    for (const resolve of this.#drained.splice(0)) resolve();
  }
}
