/**
 * Where the CPU side of chunk writing runs (src/storage/chunk_encode_task.ts): a dedicated
 * thread by default, or the calling thread (`inline`, for embedders that want no threads and
 * for deterministic tests). Either way results arrive asynchronously, so the store has one
 * landing path.
 *
 * One thread, not a pool: results must land in submission order (a series' marks only move
 * forward), the writer thread itself is the other busy thread, and encoding runs at ~50 M
 * points/s, well above what one writer can commit.
 */
import type { Piscina } from 'piscina';
import { createWorkerPool } from '../workers/pool_factory.js';
import { runEncodeTask, type EncodeResult, type EncodeTask } from './chunk_encode_task.js';

export type ChunkEncoding = 'worker' | 'inline';

export interface ChunkEncoder {
  run(task: EncodeTask): Promise<EncodeResult>;
  /**
   * Starts the encoder now rather than at the first cut (the store does it at open). A thread
   * starting (module loading, WASM compilation) at a fresh server's first wave of cuts, ~9 s
   * into a steady load, competed for the cores with the thread that acknowledges batches.
   */
  warm(): void;
  /** Why the encoder thread last failed outside any task (e.g. it could not start), if it did. */
  readonly lastError: string | undefined;
  close(): void;
}

/** ms the encoder thread stays up with nothing to do; an idle store then holds no thread. */
const IDLE_TIMEOUT_MS = 60_000;

export function createChunkEncoder(mode: ChunkEncoding): ChunkEncoder {
  return mode === 'inline' ? new InlineChunkEncoder() : new WorkerChunkEncoder();
}

class WorkerChunkEncoder implements ChunkEncoder {
  #pool: Piscina | undefined;
  lastError: string | undefined;

  run(task: EncodeTask): Promise<EncodeResult> {
    if (this.#pool === undefined) {
      this.#pool = createWorkerPool(import.meta.url, './chunk_encode_task', { maxThreads: 1, idleTimeout: IDLE_TIMEOUT_MS, strictOrder: true });
      // A thread that dies with no task (e.g. failing to start) is reported here; unheard, the
      // pool's 'error' event would end the process. Tasks sent to it reject on their own.
      this.#pool.on('error', (error: unknown) => {
        this.lastError = `chunk encoder thread: ${(error as Error)?.message ?? String(error)}`;
      });
    }
    return this.#pool.run(task) as Promise<EncodeResult>;
  }

  warm(): void {
    if (this.#pool !== undefined) return;
    // A one-point cut: the new thread loads the module and compiles the codec's WASM.
    this.run({ kind: 'cut', cuts: [{ timestamps: Float64Array.of(0), values: Float64Array.of(0), inOrder: true }] }).catch(() => undefined);
  }

  close(): void {
    const pool = this.#pool;
    this.#pool = undefined;
    // Tasks still running reject; the store ignores results of a closed or reloaded state.
    if (pool !== undefined) void pool.destroy().catch(() => undefined);
  }
}

class InlineChunkEncoder implements ChunkEncoder {
  readonly lastError = undefined;

  run(task: EncodeTask): Promise<EncodeResult> {
    try {
      return Promise.resolve(runEncodeTask(task));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  warm(): void {}

  close(): void {}
}
