/**
 * How many queries of this process wait for admission and how many it admitted are running
 * (src/server/query_concurrency.ts counts both here), for the engine's inline-or-workers
 * choice: whether a query is alone.
 *
 * Alone, a middling aggregation is answered fastest inline (a worker round trip costs more
 * than it saves, query_engine.ts WORKER_MIN_POINTS). With others waiting or running it is not
 * alone: the ~8 ms it holds the main thread delay every other query and the ingest acks, while
 * a worker thread would hold none of them. Running ones count, not only waiting ones: the
 * engine decides after its first await, by when a query admitted from the queue has left it
 * (a flag raised only while admission called the query was always down again by then, and 64
 * clients' aggregations ran inline). A process-wide count, because the server's admission and
 * the engines are wired separately; tests with several servers in one process only make their
 * engines use workers a little more often, with the same answers.
 */
let waiting = 0;
let running = 0;

export const queryPressure = {
  /** Queries waiting for admission now. */
  get waiting(): number {
    return waiting;
  },
  /** Admitted queries not finished yet (the asking one included, when it was admitted). */
  get running(): number {
    return running;
  },
  /** Whether a query starting now has company: any waiting, or another admitted one running. */
  get contended(): boolean {
    return waiting > 0 || running > 1;
  },
  /** Adds `n` (negative: removes) waiting queries. */
  add(n: number): void {
    waiting = Math.max(0, waiting + n);
  },
  /** Adds `n` (negative: removes) running queries. */
  addRunning(n: number): void {
    running = Math.max(0, running + n);
  },
};
