/**
 * Buffers handed to another thread and handed back once it is done with them, kept by byte
 * length for the next hand-over: frames lent to the decode worker (src/ingest/decode_pool.ts),
 * cut points read by the chunk encoder (src/storage/head.ts). Reusing them keeps the thread
 * that acknowledges batches from allocating an ArrayBuffer per frame or cut, each of which
 * counts towards the external memory that makes V8 collect garbage there.
 *
 * Bounded: past `maxBytes` a returned buffer is left to the collector.
 */
export class BufferPool<B extends ArrayBufferLike> {
  readonly #free = new Map<number, B[]>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** A pooled buffer of exactly `byteLength` bytes, or undefined when there is none. */
  take(byteLength: number): B | undefined {
    const buffer = this.#free.get(byteLength)?.pop();
    if (buffer !== undefined) this.#bytes -= byteLength;
    return buffer;
  }

  /** Keeps `buffer` for a later take(), unless the pool is full. Its old contents stay. */
  give(buffer: B): void {
    if (this.#bytes + buffer.byteLength > this.maxBytes) return;
    let list = this.#free.get(buffer.byteLength);
    if (list === undefined) this.#free.set(buffer.byteLength, (list = []));
    list.push(buffer);
    this.#bytes += buffer.byteLength;
  }
}
