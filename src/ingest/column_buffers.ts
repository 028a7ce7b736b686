/**
 * Buffers for the columns a decode worker hands the main thread (a frame's series numbers,
 * timestamps and values, transferred with the reply), taken from those the main thread gave
 * back once their batch was stored (DecodePool#giveBackColumns), so that neither thread
 * allocates them per frame: each new one counts towards the external memory that makes V8
 * collect garbage, on the worker where it is made and on the main thread where it is dropped.
 * A bulk loader's 10,000-point frame needs 200 KB of them.
 *
 * Module state of the thread that decodes: in a decode worker the main thread feeds it; when
 * decoding runs on the main thread itself (`threads: 0`) nothing is given back and every
 * column is new, as before.
 *
 * Buffers are kept by exact byte length (BufferPool), so a column only reuses a buffer of its
 * own size: bulk loaders send frames of one size, and a view on a larger buffer would carry
 * its size into the transfer and to every consumer of `.buffer`.
 */
import { BufferPool } from '../workers/buffer_pool.js';

/**
 * Bytes of given-back buffers kept, at most: the columns of the frames two bulk connections
 * keep in flight (8 × 200 KB), with room for a second frame size.
 */
const MAX_KEPT_COLUMN_BYTES = 4 * 1024 * 1024;

const kept = new BufferPool<ArrayBuffer>(MAX_KEPT_COLUMN_BYTES);

/** A column of `n` int32, in a given-back buffer when one of that size is kept. Its contents are stale. */
export function int32Column(n: number): Int32Array {
  const buffer = kept.take(n * 4);
  return buffer === undefined ? new Int32Array(n) : new Int32Array(buffer, 0, n);
}

/** A column of `n` float64, in a given-back buffer when one of that size is kept. Its contents are stale. */
export function float64Column(n: number): Float64Array {
  const buffer = kept.take(n * 8);
  return buffer === undefined ? new Float64Array(n) : new Float64Array(buffer, 0, n);
}

/** Keeps buffers the main thread gave back (DecodeRequest.columnBuffers) for the next columns. */
export function keepColumnBuffers(buffers: readonly ArrayBuffer[]): void {
  for (const buffer of buffers) if (buffer.byteLength > 0) kept.give(buffer);
}
