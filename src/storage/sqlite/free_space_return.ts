/**
 * Gives a running SQLite store's free space back to the file system in steps short enough to
 * run between commits (settling asks for it once the engine settled; settle_policy.ts decides
 * when, maintenance_scheduler.ts runs the steps).
 *
 * Where the space is once a store settled: pages freed by deleted write-ahead records and by
 * chunks that compaction rewrote, which SQLite keeps in the file's free list for reuse, and the
 * -wal file, which keeps the largest size it reached. stop() returns both (VACUUM, then
 * wal_checkpoint(TRUNCATE)); VACUUM cannot run on a live server, it rewrites the whole file in
 * one transaction (1.3 s for the 24 h TSBS store). Before this, a settled server's data
 * directory was 10x its stopped size (bench:peers: 13.0 bytes/point running, 1.18 stopped).
 *
 * A step:
 *   1. while pages are free, `PRAGMA incremental_vacuum(VACUUM_PAGES_PER_CALL)`
 *      (auto_vacuum=INCREMENTAL, database.ts) until the deadline: each call is a transaction
 *      of its own that moves the file's last pages into free slots and drops its tail. The
 *      moved pages go through the -wal file; the checkpoint worker (wal_checkpointer.ts, started
 *      here if it was not running) copies them into the database file from its thread, and
 *      the file shrinks with that copy;
 *   2. once no page is free, waits for two passes of the worker, so that it, not this thread,
 *      copies the last moved pages (and, when the worker was not running, the -wal's frames);
 *   3. `wal_checkpoint(TRUNCATE)` empties the -wal file. With busy_timeout 0: a query holding a
 *      snapshot from before the worker's copy makes it return busy at once instead of blocking
 *      the event loop for the connection's busy timeout; it is tried again at the next steps,
 *      up to TRUNCATE_ATTEMPTS, then at the next settle check.
 * A kill at any point leaves a valid file: every step is a committed SQLite transaction.
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import type { FreeSpace, FreeSpaceStep } from '../backend.js';
import type { WalCheckpointer } from './wal_checkpointer.js';

/**
 * Pages one incremental_vacuum call moves (a call is a transaction). Measured on a 1 KiB-page
 * file of chunks and deleted records (55,000 free pages, load average 11): 4 pages cost
 * 118 µs/page in per-call overhead, 16 pages 41 µs/page, 64 pages 31 µs/page; a call of 16
 * took 0.18 ms at the median. The slice overshoots its deadline by at most one call.
 */
const VACUUM_PAGES_PER_CALL = 16;
/** wal_checkpoint(TRUNCATE) attempts one return makes before leaving the -wal file to the next one. */
const TRUNCATE_ATTEMPTS = 20;
/** Worker passes to wait for after the last page move (see wal_checkpointer.ts, `passes`). */
const PASSES_BEFORE_TRUNCATE = 2;

export class FreeSpaceReturn {
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #walWorker: WalCheckpointer;
  readonly #pageSize: number;
  /** The worker's pass count after the last page move or its start (undefined: none since the last truncation). */
  #passesAtLastMove: number | undefined;
  #truncateAttempts = 0;

  constructor(db: Database.Database, path: string, walWorker: WalCheckpointer) {
    this.#db = db;
    this.#path = path;
    this.#walWorker = walWorker;
    this.#pageSize = db.pragma('page_size', { simple: true }) as number;
  }

  /**
   * The store is the database file and its -wal file; what the pages in use do not need of it
   * is free: free pages, the file's tail past its last page (dropped at the next checkpoint)
   * and -wal frames. (Not the whole -wal file: until a checkpoint copies them, its frames are
   * the only copy of pages in use.)
   */
  figures(): FreeSpace {
    const freePages = this.#db.pragma('freelist_count', { simple: true }) as number;
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    const storeBytes = fileSize(this.#path) + fileSize(this.#path + '-wal');
    return { freeBytes: Math.max(0, storeBytes - (pages - freePages) * this.#pageSize), storeBytes };
  }

  /** One step (see the file comment), ending near `deadline` (performance.now()). */
  step(deadline: number): FreeSpaceStep {
    const db = this.#db;
    const worker = this.#walWorker;
    if (!worker.running) {
      // The -wal file never reached the worker's start size (sqlite_backend.ts): the worker
      // copies its frames all the same, not the truncation on this thread.
      worker.start();
      this.#passesAtLastMove = worker.passes;
    }
    if ((db.pragma('freelist_count', { simple: true }) as number) > 0) {
      let free: number;
      do {
        db.pragma(`incremental_vacuum(${VACUUM_PAGES_PER_CALL})`);
        free = db.pragma('freelist_count', { simple: true }) as number;
      } while (free > 0 && performance.now() < deadline);
      this.#passesAtLastMove = worker.passes;
      this.#truncateAttempts = 0;
      return 'more';
    }
    if (this.#passesAtLastMove !== undefined && worker.running && worker.passes < this.#passesAtLastMove + PASSES_BEFORE_TRUNCATE) return 'wait';
    if (fileSize(this.#path + '-wal') === 0) return this.#finished();
    if (truncateWalWithoutWaiting(db)) {
      worker.walPages = 0;
      return this.#finished();
    }
    if (++this.#truncateAttempts >= TRUNCATE_ATTEMPTS) return this.#finished();
    return 'wait';
  }

  #finished(): FreeSpaceStep {
    this.#passesAtLastMove = undefined;
    this.#truncateAttempts = 0;
    return 'done';
  }
}

/** `wal_checkpoint(TRUNCATE)` with busy_timeout 0 (see the file comment); whether it emptied the -wal file. */
function truncateWalWithoutWaiting(db: Database.Database): boolean {
  const previous = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 0');
  try {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
    return result !== undefined && result.busy === 0;
  } finally {
    db.pragma(`busy_timeout = ${previous}`);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    // No -wal file (never written, or removed at close) holds nothing.
    return 0;
  }
}
