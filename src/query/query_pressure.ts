/**
 * How many queries of this process are waiting for admission (src/server/query_concurrency.ts
 * counts them here), plus the one being started after it waited, for the engine's
 * inline-or-workers choice: a query that had to wait was not alone, even when alike queries
 * that waited with it share its run and nobody else waits any more.
 *
 * Alone, a middling aggregation is answered fastest inline (a worker round trip costs more
 * than it saves, query_engine.ts WORKER_MIN_POINTS). With others waiting it is not alone: the
 * ~8 ms it holds the main thread delay every waiting query and the ingest acks, while a worker
 * thread would hold none of them. A process-wide count, because the server's admission and the
 * engines are wired separately; tests with several servers in one process only make their
 * engines use workers a little more often, with the same answers.
 */
let waiting = 0;

export const queryPressure = {
  /** Queries waiting for admission now. */
  get waiting(): number {
    return waiting;
  },
  /** Adds `n` (negative: removes) waiting queries. */
  add(n: number): void {
    waiting = Math.max(0, waiting + n);
  },
};
