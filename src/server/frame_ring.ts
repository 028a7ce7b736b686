/**
 * A ring of shared memory through which the main thread hands WebSocket frames to one decode
 * worker. uWebSockets.js lends a frame's bytes only for the duration of its callback, so they
 * must be copied; copied into a fresh ArrayBuffer per frame (100–200 KB for a 1,000-point row
 * frame), the copies alone were 140–280 MB/s of external memory, and V8 answered that with a
 * full garbage collection every ~200 ms on the thread that acknowledges batches.
 *
 * Allocations are released oldest first, which is the order the worker answers in. A frame
 * that does not fit (the ring is full of frames still being decoded, or the frame is larger
 * than the ring) is not an error: the caller copies it into its own buffer instead.
 */
export class FrameRing {
  readonly shared: SharedArrayBuffer;
  readonly #bytes: Uint8Array;
  /** Offset where the next allocation starts, and where the oldest live one starts. */
  #head = 0;
  #tail = 0;
  /** Start and end of each live allocation, oldest first, flat. */
  #live: number[] = [];
  #liveStart = 0;

  constructor(capacity: number) {
    this.shared = new SharedArrayBuffer(capacity);
    this.#bytes = new Uint8Array(this.shared);
  }

  get capacity(): number {
    return this.#bytes.length;
  }

  /** Frames put and not yet released. */
  get liveFrames(): number {
    return (this.#live.length - this.#liveStart) / 2;
  }

  /** Copies `frame` into the ring; returns its offset, or -1 when it does not fit now. */
  put(frame: Uint8Array): number {
    const n = frame.length;
    const cap = this.#bytes.length;
    if (n === 0 || n > cap) return -1;
    let start: number;
    if (this.liveFrames === 0) {
      this.#head = 0;
      this.#tail = 0;
      start = 0;
    } else if (this.#head > this.#tail) {
      // Free space is [head, cap) and [0, tail).
      if (this.#head + n <= cap) start = this.#head;
      else if (n < this.#tail) start = 0;
      else return -1;
    } else {
      // Wrapped: free space is [head, tail).
      if (this.#head + n < this.#tail) start = this.#head;
      else return -1;
    }
    this.#bytes.set(frame, start);
    this.#head = start + n;
    this.#live.push(start, start + n);
    return start;
  }

  /** Releases the oldest live allocation. */
  releaseOldest(): void {
    if (this.liveFrames === 0) throw new Error('BUG: FrameRing.releaseOldest with nothing allocated');
    this.#liveStart += 2;
    if (this.liveFrames === 0) {
      this.#live = [];
      this.#liveStart = 0;
      this.#head = 0;
      this.#tail = 0;
      return;
    }
    this.#tail = this.#live[this.#liveStart]!;
    if (this.#liveStart >= 1024) {
      this.#live = this.#live.slice(this.#liveStart);
      this.#liveStart = 0;
    }
  }

  /** Forgets every allocation (the worker reading them is gone). */
  reset(): void {
    this.#live = [];
    this.#liveStart = 0;
    this.#head = 0;
    this.#tail = 0;
  }
}
