/**
 * Creates piscina pools whose worker file sits next to the calling module.
 *
 * From dist/ the worker is the compiled `.js`; from src/ (vitest, tsx) it is the `.ts` file,
 * which a plain worker thread cannot load, so the worker gets tsx's loader through execArgv.
 */
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { workerDataForDatabases } from '../crypto/sqlite_cipher.js';

export interface PoolOptions {
  /** Default: number of CPUs. */
  maxThreads?: number;
  /** Default 0: threads start on the first task, so an idle engine costs nothing. */
  minThreads?: number;
  /** ms a worker stays alive with no work. */
  idleTimeout?: number;
  /**
   * Run tasks strictly in submission order. Piscina's default re-queues a task it could not
   * hand to a busy worker at the tail, so with one thread an early task can wait behind many
   * later ones (seen: seconds, for the chunk encoder).
   */
  strictOrder?: boolean;
}

/**
 * @param callerUrl `import.meta.url` of the calling module.
 * @param workerStem worker file name without extension, relative to the caller's folder,
 *   e.g. `../workers/aggregate_task`.
 */
export function createWorkerPool(callerUrl: string, workerStem: string, options: PoolOptions = {}): Piscina {
  const fromSource = callerUrl.endsWith('.ts');
  const filename = fileURLToPath(new URL(`${workerStem}${fromSource ? '.ts' : '.js'}`, callerUrl));
  const maxThreads = options.maxThreads ?? availableParallelism();
  if (!Number.isInteger(maxThreads) || maxThreads < 1) {
    throw new RangeError(`options.maxThreads must be a positive integer; got ${String(maxThreads)}`);
  }
  return new Piscina({
    filename,
    maxThreads,
    minThreads: Math.min(options.minThreads ?? 0, maxThreads),
    idleTimeout: options.idleTimeout ?? 30_000,
    // Resolved here, not by the worker: a bare 'tsx' resolves from the working directory,
    // which need not be this repository's.
    execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [],
    stricterFIFO: options.strictOrder ?? false,
    // The database key when encryption at rest is on: workers that open the database by path
    // (query workers) need it; workerData, never argv or the environment (src/crypto/sqlite_cipher.ts).
    workerData: workerDataForDatabases(),
  });
}
