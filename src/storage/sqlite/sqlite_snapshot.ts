/**
 * A consistent copy of one SQLite database file, taken while other connections keep writing
 * it: SQLite's online backup API, run on a connection of its own in a worker thread.
 *
 * Why this shape:
 * - Its own connection, opened when the copy is asked for: its read transaction sees every
 *   transaction committed before (so every acknowledged write), and none that commits during
 *   the copy. In WAL mode the writer is never blocked by it.
 * - One backup step for every page: a backup copied in several steps restarts from the first
 *   page whenever another connection writes between two steps, which under steady ingest may
 *   never finish. One step holds one read transaction, so the copy is one snapshot.
 * - A worker thread: the step is synchronous; on the engine's thread it would hold back every
 *   acknowledgement for the length of the copy (about a second per 100 MB here).
 */
import { Worker } from 'node:worker_threads';
import { WORKER_APPLY_KEY_SOURCE, evaluatedWorkerDriver } from '../../crypto/sqlite_cipher.js';

/** Worker body (CommonJS, evaluated, like wal_checkpointer.ts): one backup in one step. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
${WORKER_APPLY_KEY_SOURCE}
let db;
try {
  db = new Database(workerData.source, { readonly: true, fileMustExist: true, timeout: 10000 });
  applyWorkerKey(db);
  if (workerData.keyHex) {
    // Encrypted: the backup API refuses a destination without the key, and VACUUM INTO
    // writes the copy under the source's key and cipher, in one read transaction (a snapshot).
    db.prepare('VACUUM INTO ?').run(workerData.destination);
    const pages = db.pragma('page_count', { simple: true });
    db.close();
    parentPort.postMessage({ pages });
  } else db.backup(workerData.destination, { progress: () => 0x7fffffff }).then(
    (p) => { db.close(); parentPort.postMessage({ pages: p.totalPages }); },
    (e) => { db.close(); parentPort.postMessage({ error: String(e && e.message || e) }); },
  );
} catch (e) {
  if (db) db.close();
  parentPort.postMessage({ error: String(e && e.message || e) });
}
`;

export interface SnapshotResult {
  /** Pages copied. */
  pages: number;
}

/** Copies the database `sourcePath` into a new file `destinationPath` (which must not exist). */
export function snapshotSqliteFile(sourcePath: string, destinationPath: string): Promise<SnapshotResult> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { source: sourcePath, destination: destinationPath, ...evaluatedWorkerDriver() } });
  return new Promise<SnapshotResult>((resolve, reject) => {
    worker.once('message', (m: { pages?: number; error?: string }) => {
      if (m.error !== undefined) reject(new Error(`snapshot of ${sourcePath}: ${m.error}`));
      else resolve({ pages: m.pages ?? 0 });
    });
    worker.once('error', (error) => reject(new Error(`snapshot of ${sourcePath}: ${error.message}`)));
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`snapshot of ${sourcePath}: worker exited with code ${code}`));
    });
  });
}
