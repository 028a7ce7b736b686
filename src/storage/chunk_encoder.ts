/**
 * Where the CPU side of chunk writing runs (src/workers/chunk_encode_task.ts): a dedicated
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
import { runEncodeTask, type EncodeResult, type EncodeTask } from '../workers/chunk_encode_task.js';

export type ChunkEncoding = 'worker' | 'inline';

export interface ChunkEncoder {
  run(task: EncodeTask): Promise<EncodeResult>;
  close(): void;
}

/** ms the encoder thread stays up with nothing to do; an idle store then holds no thread. */
const IDLE_TIMEOUT_MS = 60_000;

export function createChunkEncoder(mode: ChunkEncoding): ChunkEncoder {
  return mode === 'inline' ? new InlineChunkEncoder() : new WorkerChunkEncoder();
}

class WorkerChunkEncoder implements ChunkEncoder {
  #pool: Piscina | undefined;

  run(task: EncodeTask): Promise<EncodeResult> {
    this.#pool ??= createWorkerPool(import.meta.url, '../workers/chunk_encode_task', { maxThreads: 1, idleTimeout: IDLE_TIMEOUT_MS, strictOrder: true });
    return this.#pool.run(task) as Promise<EncodeResult>;
  }

  close(): void {
    const pool = this.#pool;
    this.#pool = undefined;
    // Tasks still running reject; the store ignores results of a closed or reloaded state.
    if (pool !== undefined) void pool.destroy().catch(() => undefined);
  }
}

class InlineChunkEncoder implements ChunkEncoder {
  run(task: EncodeTask): Promise<EncodeResult> {
    try {
      return Promise.resolve(runEncodeTask(task));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): void {}
}
