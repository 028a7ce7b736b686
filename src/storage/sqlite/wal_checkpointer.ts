/**
 * Copies SQLite's -wal file into the database file from a worker thread with its own
 * connection, so the writer's commits never do it.
 *
 * With wal_autocheckpoint on the writer connection, the commit that crosses the threshold
 * copies the whole -wal file (8 MiB) and fsyncs both files before it returns: measured 30–130 ms
 * on this machine, every ~10 s at half the maximum ingest rate, and the acknowledgements of
 * that group wait for it. A PASSIVE checkpoint in another connection takes no lock a writer
 * needs, so commits go on meanwhile; SQLite restarts the -wal file from its beginning at the
 * first commit after a checkpoint that caught up with every frame, which the short period
 * below makes likely even under constant load. If the file still grows past WAL_CATCH_UP_PAGES
 * (a checkpoint never caught up), the owner runs one PASSIVE checkpoint on the writer
 * connection: it copies only the frames written since the worker's last pass.
 *
 * Durability is unchanged: a checkpoint only copies committed frames; a kill at any point
 * leaves a -wal file that SQLite replays at the next open.
 *
 * Lifecycle: start() (lazily, when the -wal file first grows), then close() before the
 * writer connection closes.
 */
import { Worker } from 'node:worker_threads';
import { WORKER_APPLY_KEY_SOURCE, evaluatedWorkerDriver } from '../../crypto/sqlite_cipher.js';
import { BACKGROUND_NICE } from '../../workers/background_priority.js';

/** Time between two passes of the worker. Short: each pass then has few frames to copy. */
const CHECKPOINT_PERIOD_MS = 50;
/** Longest close() waits for the worker's connection to close (it is between passes almost always). */
const CLOSE_WAIT_MS = 5000;
/** -wal frames (pages) past which the owner checkpoints on its own connection (see file comment). */
export const WAL_CATCH_UP_PAGES = 65_536;

/** Worker body (CommonJS, evaluated): one connection, one PASSIVE checkpoint per period. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// Background work at nice ${BACKGROUND_NICE}, as src/workers/background_priority.ts explains (an evaluated
// worker cannot import that ES module from the TypeScript sources, hence this copy of its two lines).
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (process.platform === 'linux' && tid > 0) require('node:os').setPriority(tid, ${BACKGROUND_NICE});
} catch {}
const closed = new Int32Array(workerData.closed);
function markClosed() {
  Atomics.store(closed, 0, 1);
  Atomics.notify(closed, 0);
}
let db;
${WORKER_APPLY_KEY_SOURCE}
try {
  const Database = require(workerData.driverPath);
  db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
  applyWorkerKey(db);
} catch (error) {
  markClosed();
  throw error;
}
let stopped = false;
function pass() {
  if (stopped) return;
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: row.log, checkpointed: row.checkpointed });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
  setTimeout(pass, workerData.periodMs);
}
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopped = true;
  try { db.close(); } finally { markClosed(); }
  parentPort.close();
});
setTimeout(pass, workerData.periodMs);
`;

export class WalCheckpointer {
  readonly #path: string;
  #worker: Worker | undefined;
  /** Set to 1 by the worker once its connection is closed. */
  readonly #closed = new Int32Array(new SharedArrayBuffer(4));
  /** Frames in the -wal file at the worker's last pass (0 = unknown or empty). */
  #walPages = 0;
  /** Passes the worker reported, successful or not. */
  #passes = 0;
  #lastError: string | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Frames in the -wal file as of the worker's last pass; the owner zeroes it after its own checkpoint. */
  get walPages(): number {
    return this.#walPages;
  }

  set walPages(pages: number) {
    this.#walPages = pages;
  }

  /**
   * Passes reported so far. Usually the pass reported second after a write started after it
   * (one may be under way when the write commits); a report can also arrive late, so this is
   * a hint of progress, not a guarantee that a write's frames were copied.
   */
  get passes(): number {
    return this.#passes;
  }

  /** The last error a pass reported (a busy database is not one), for diagnostics. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  start(): void {
    if (this.#worker !== undefined) return;
    Atomics.store(this.#closed, 0, 0);
    // The driver, and the database key when encryption at rest is on (src/crypto/sqlite_cipher.ts).
    const driver = evaluatedWorkerDriver();
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path: this.#path, ...driver, periodMs: CHECKPOINT_PERIOD_MS, closed: this.#closed.buffer },
    });
    worker.on('message', (m: { log?: number; checkpointed?: number; error?: string }) => {
      this.#passes++;
      if (m.error !== undefined) this.#lastError = m.error;
      else this.#walPages = m.log ?? 0;
    });
    worker.on('error', (error) => {
      this.#lastError = String(error);
      this.#worker = undefined;
    });
    // The writer must not stay alive for the checkpointer's sake.
    worker.unref();
    this.#worker = worker;
  }

  /**
   * Stops the worker and waits (synchronously: the store's close() is) until its connection is
   * closed, so the owner's final checkpoint and VACUUM do not race a pass.
   */
  close(): void {
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#worker = undefined;
    worker.postMessage('stop');
    Atomics.wait(this.#closed, 0, 0, CLOSE_WAIT_MS);
    void worker.terminate();
  }
}
