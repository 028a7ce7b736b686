/**
 * Builds rollups in the background for chunks a query could have answered from them but found
 * without: chunks written on the writer thread (a full checkpoint, an erasure, compactSeries,
 * cuts encoded there when the encoder fell behind), chunks whose encoder-built records were not
 * kept for lack of room (encoded_rollups.ts), and every chunk after a restart. The query
 * itself decodes them (so it is never slower than without rollups); the next query over them
 * finds their rollups.
 *
 * Work is done in slices of at most SLICE_MS on the main thread (read the chunks' bytes from
 * the back-end, decode, build), with the event loop free in between, so ingest
 * acknowledgements are not held up. The queue is bounded; ids beyond it are dropped and asked
 * for again by the next query that misses them.
 */
import { decodeChunk } from '../../core/codec.js';
import type { ChunkSource } from '../backend.js';
import type { RollupStore } from './rollup_store.js';

/** Most chunk ids waiting; a query over more misses asks again next time. */
export const WARM_QUEUE_MAX = 100_000;
/** Chunks read from the back-end per call. */
const CHUNKS_PER_READ = 32;
/** Longest stretch of decoding and building between two turns of the event loop. */
const SLICE_MS = 4;

export class RollupWarmer {
  readonly #store: RollupStore;
  readonly #source: ChunkSource;
  readonly #queue = new Set<number>();
  #running: Promise<void> | undefined;
  #stopped = false;
  #failures = 0;
  #skipped = 0;
  #lastError: string | undefined;

  constructor(store: RollupStore, source: ChunkSource) {
    this.#store = store;
    this.#source = source;
  }

  /** Chunks waiting to be built. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Reads that failed (the chunks stay without rollups; queries decode them). */
  get failures(): number {
    return this.#failures;
  }

  /** Chunks not built because the budget was full of rollups in use (RollupStore#acceptsWarming). */
  get skipped(): number {
    return this.#skipped;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Asks for the chunk's rollups to be built soon. */
  want(chunkId: number): void {
    if (this.#stopped || !this.#store.enabled || this.#queue.size >= WARM_QUEUE_MAX) return;
    this.#queue.add(chunkId);
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves once the queue is empty (tests) or the warmer stopped. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Stops taking work and waits for the read in progress (before the back-end closes). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#queue.clear();
    await this.#running;
  }

  async #run(): Promise<void> {
    // Start after the query that asked has answered.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (!this.#stopped && this.#queue.size > 0) {
      if (!this.#store.acceptsWarming(Date.now())) {
        // Full of rollups queries still use: building more would only evict them.
        this.#skipped += this.#queue.size;
        this.#queue.clear();
        return;
      }
      const ids: number[] = [];
      for (const id of this.#queue) {
        this.#queue.delete(id);
        if (!this.#store.has(id)) ids.push(id);
        if (ids.length === CHUNKS_PER_READ) break;
      }
      if (ids.length === 0) continue;
      let data: Map<number, Uint8Array>;
      try {
        data = await this.#source.chunkData(ids);
      } catch (error) {
        this.#failures++;
        this.#lastError = (error as Error).message;
        continue;
      }
      let sliceStart = performance.now();
      for (const [id, bytes] of data) {
        if (this.#stopped) return;
        try {
          const { timestamps, values } = decodeChunk(bytes);
          this.#store.build(id, timestamps, values);
        } catch (error) {
          // A chunk that does not decode: the query that reads it reports it, naming it.
          this.#failures++;
          this.#lastError = `chunk ${id}: ${(error as Error).message}`;
        }
        if (performance.now() - sliceStart >= SLICE_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
    }
  }
}
