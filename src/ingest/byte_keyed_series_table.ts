/**
 * The row fast path's series table (row_frame_scanner.ts): series identities keyed by their raw
 * MessagePack bytes, and per stream (connection) the last committed frame, from which the next
 * frame's points are predicted. Split from the scanner so each file holds one concern; the
 * measurements that justify the design are in the scanner's header.
 */

/** A series identity as raw frame bytes → index in the decoder's series table. */
export interface ByteKeyEntry {
  /** `id 0xc1 type 0xc1 tags`, each part the exact bytes it had in the frame. */
  key: Buffer;
  /** A view of `key`, for rangeEqual. */
  keyView: DataView;
  index: number;
  hash: number;
  /** Where the tags part of `key` starts (id and type lengths + 2 separators). */
  tagsAt: number;
  next: ByteKeyEntry | undefined;
}

export class ByteKeyedSeriesTable {
  #buckets: Array<ByteKeyEntry | undefined> = new Array(1024);
  #mask = 1023;
  #size = 0;
  /** Entries inserted while scanning the current frame, removed again if it is abandoned. */
  readonly #pending: ByteKeyEntry[] = [];
  /**
   * The entry each point position resolved to in the last committed frame. Clients usually
   * send their series in the same order every frame, so point i is predicted to be the series
   * point i was last time: one compare of its bytes instead of scanning its tags and hashing.
   * Only committed entries are kept here, so a prediction never names a rolled-back series.
   */
  #predicted: ReadonlyArray<ByteKeyEntry | undefined> = NO_PREDICTION;
  #current: Array<ByteKeyEntry | undefined> = [];
  /** Layout of the current frame's points (LAYOUT_SLOTS each), see StreamPrediction. */
  #currentLayout = new Int32Array(0);
  /**
   * The last committed frame, per stream (WebSocket connection): a worker decodes frames of
   * many connections interleaved, each with its own series, so one shared prediction would
   * miss on every point (measured: 8 connections of distinct hosts turned every point into a
   * hash and table lookup).
   */
  readonly #predictions = new Map<number, StreamPrediction>();
  #stream = 0;
  /** The current stream's last committed frame, if any. */
  prediction: StreamPrediction | undefined;
  /** Points decoded by whole-point prediction (counted per frame, for tests and tuning). */
  wholePointHits = 0;
  /**
   * The current frame repeated the stream's prediction whole (row_frame_scanner.ts, the
   * repeated-frame path), whose frame already holds its bytes: commit keeps the prediction as it
   * is instead of copying the frame and recording each point again.
   */
  #repeatsPrediction = false;

  /** Starts a frame of `stream`: predictions come from that stream's last committed frame. */
  beginFrame(stream: number): void {
    this.#stream = stream;
    this.prediction = this.#predictions.get(stream);
    this.#predicted = this.prediction?.entries ?? NO_PREDICTION;
    this.#current.length = 0;
    this.#repeatsPrediction = false;
  }

  /**
   * The current frame's points are the prediction's, byte for byte once the prediction's number
   * payloads were overwritten with this frame's (row_frame_scanner.ts checked that).
   */
  markRepeat(): void {
    this.#repeatsPrediction = true;
  }

  /** Records point `position` of the current frame: its entry and its layout (relative offsets). */
  recordPoint(position: number, entry: ByteKeyEntry, start: number, end: number, s1: number, e1: number, s2: number, e2: number, valueAt: number, timeAt: number): void {
    this.#current[position] = entry;
    const o = position * LAYOUT_SLOTS;
    if (o + LAYOUT_SLOTS > this.#currentLayout.length) {
      const grown = new Int32Array(Math.max(LAYOUT_SLOTS * 1024, this.#currentLayout.length * 2));
      grown.set(this.#currentLayout);
      this.#currentLayout = grown;
    }
    const l = this.#currentLayout;
    l[o] = start;
    l[o + 1] = end;
    l[o + 2] = s1;
    l[o + 3] = e1;
    l[o + 4] = s2;
    l[o + 5] = e2;
    l[o + 6] = valueAt;
    l[o + 7] = timeAt;
  }

  /** Drops a stream's prediction (its connection closed). */
  forgetStream(stream: number): void {
    this.#predictions.delete(stream);
  }

  /** Streams holding a prediction (for tests: closed connections must not accumulate). */
  get streamsPredicted(): number {
    return this.#predictions.size;
  }

  predictionAt(position: number): ByteKeyEntry | undefined {
    return this.#predicted[position];
  }

  /** The entry whose key is `id 0xc1 type 0xc1 tags` (three ranges of `b`), or undefined. */
  lookupParts(b: Uint8Array, view: DataView, idStart: number, idEnd: number, typeStart: number, typeEnd: number, tagsStart: number, tagsEnd: number, hash: number): ByteKeyEntry | undefined {
    const len = (idEnd - idStart) + (typeEnd - typeStart) + (tagsEnd - tagsStart) + 2;
    for (let e = this.#buckets[hash & this.#mask]; e !== undefined; e = e.next) {
      if (e.hash === hash && e.key.length === len && sameIdentity(e, b, view, idStart, idEnd, typeStart, typeEnd, tagsStart, tagsEnd, false)) return e;
    }
    return undefined;
  }

  insert(b: Uint8Array, idStart: number, idEnd: number, typeStart: number, typeEnd: number, tagsStart: number, tagsEnd: number, hash: number, index: number): ByteKeyEntry {
    if (this.#size >= this.#buckets.length) this.#grow();
    const idLen = idEnd - idStart;
    const typeLen = typeEnd - typeStart;
    const key = Buffer.allocUnsafe(idLen + typeLen + (tagsEnd - tagsStart) + 2);
    // Absent type or tags come as the empty range (-1, -1).
    key.set(b.subarray(idStart, idEnd), 0);
    key[idLen] = 0xc1;
    if (typeLen > 0) key.set(b.subarray(typeStart, typeEnd), idLen + 1);
    key[idLen + typeLen + 1] = 0xc1;
    if (tagsEnd > tagsStart) key.set(b.subarray(tagsStart, tagsEnd), idLen + typeLen + 2);
    const slot = hash & this.#mask;
    const keyView = new DataView(key.buffer, key.byteOffset, key.byteLength);
    const entry: ByteKeyEntry = { key, keyView, index, hash, tagsAt: idLen + typeLen + 2, next: this.#buckets[slot] };
    this.#buckets[slot] = entry;
    this.#size++;
    this.#pending.push(entry);
    return entry;
  }

  /**
   * Keeps what the current frame (`b`) added, and the frame itself as the next prediction of
   * its stream. The bytes are copied: the caller's buffer is not ours to keep.
   */
  commit(points: number, b: Uint8Array): void {
    this.#pending.length = 0;
    if (this.#repeatsPrediction) {
      // The stream's prediction already holds this frame's points (its header, seq included,
      // is never compared): nothing to copy.
      this.#repeatsPrediction = false;
      this.#current.length = 0;
      this.#predicted = NO_PREDICTION;
      this.prediction = undefined;
      return;
    }
    this.#current.length = points;
    let p = this.#predictions.get(this.#stream);
    if (p === undefined) {
      p = new StreamPrediction();
      this.#predictions.set(this.#stream, p);
    }
    if (p.frame.length < b.length) {
      p.frame = new Uint8Array(Math.max(b.length, p.frame.length * 2));
      p.frameView = new DataView(p.frame.buffer);
    }
    p.frame.set(b);
    // Swap the current arrays in; the stream's previous ones are reused for the next frame.
    const entries = p.entries;
    p.entries = this.#current;
    this.#current = entries;
    const layout = p.layout;
    p.layout = this.#currentLayout;
    this.#currentLayout = layout;
    p.points = points;
    this.#predicted = NO_PREDICTION;
    this.prediction = undefined;
  }

  /** Removes what the current frame added. */
  rollback(): void {
    for (let p = this.#pending.length - 1; p >= 0; p--) {
      const entry = this.#pending[p]!;
      const slot = entry.hash & this.#mask;
      let e = this.#buckets[slot];
      let prev: ByteKeyEntry | undefined;
      while (e !== undefined && e !== entry) {
        prev = e;
        e = e.next;
      }
      if (e === undefined) continue;
      if (prev === undefined) this.#buckets[slot] = e.next;
      else prev.next = e.next;
      this.#size--;
    }
    this.#pending.length = 0;
    this.#current.length = 0;
    this.#repeatsPrediction = false;
  }

  #grow(): void {
    const old = this.#buckets;
    this.#buckets = new Array(old.length * 2);
    this.#mask = this.#buckets.length - 1;
    for (let e of old) {
      while (e !== undefined) {
        const next = e.next;
        const slot = e.hash & this.#mask;
        e.next = this.#buckets[slot];
        this.#buckets[slot] = e;
        e = next;
      }
    }
  }
}

const NO_PREDICTION: ReadonlyArray<ByteKeyEntry | undefined> = Object.freeze([]);

/** Int32 slots per point in StreamPrediction#layout. */
export const LAYOUT_SLOTS = 8;

/**
 * A stream's last committed frame, to predict its next one. Clients re-encode the same points
 * each frame with only values and times changed, so point i of the next frame is predicted to
 * be byte for byte point i of this one except the payloads of its two numbers: one compare of
 * ~180 bytes replaces reading four keys, the tags and the series lookup.
 *
 * `layout`, LAYOUT_SLOTS per point: start and end in `frame`; then, relative to start, the two
 * number payloads to skip [s1, e1) and [s2, e2) (ordered; an absent one is empty at the end),
 * the value's type byte, and the timestamp's type byte (-1: no timestamp, or nil: now).
 * Type bytes are compared, so equal bytes mean equal payload lengths and the same structure.
 */
export class StreamPrediction {
  entries: Array<ByteKeyEntry | undefined> = [];
  frame = new Uint8Array(0);
  frameView = new DataView(this.frame.buffer);
  layout = new Int32Array(0);
  points = 0;
}

/**
 * Whether a[aAt, aAt+len) equals b[bAt, bAt+len), four bytes at a time. For the ~130 bytes of
 * TSBS tags this beats Buffer#compare, whose argument checks and native call cost more than the
 * compare itself (compareOffset + validators were ~20% of the decode worker in a row-form
 * profile).
 */
export function rangeEqual(a: DataView, aAt: number, b: DataView, bAt: number, len: number): boolean {
  let j = 0;
  for (; j + 4 <= len; j += 4) if (a.getInt32(aAt + j) !== b.getInt32(bAt + j)) return false;
  for (; j < len; j++) if (a.getUint8(aAt + j) !== b.getUint8(bAt + j)) return false;
  return true;
}

/**
 * Whether `e`'s key equals the identity given as three ranges of `b` (`view` is over `b`).
 * `tagsEqual`: the caller already found the tag bytes equal to the key's (the prediction check
 * while scanning), so only the lengths are checked again.
 */
export function sameIdentity(e: ByteKeyEntry, b: Uint8Array, view: DataView, idStart: number, idEnd: number, typeStart: number, typeEnd: number, tagsStart: number, tagsEnd: number, tagsEqual: boolean): boolean {
  const k = e.key;
  const idLen = idEnd - idStart;
  const typeLen = typeEnd - typeStart;
  if (e.tagsAt !== idLen + typeLen + 2 || k.length - e.tagsAt !== tagsEnd - tagsStart) return false;
  let j = 0;
  while (j < idLen && k[j] === b[idStart + j]) j++;
  if (j < idLen) return false;
  const at = idLen + 1;
  j = 0;
  while (j < typeLen && k[at + j] === b[typeStart + j]) j++;
  if (j < typeLen) return false;
  return tagsEqual || tagsEnd === tagsStart || rangeEqual(e.keyView, e.tagsAt, view, tagsStart, tagsEnd - tagsStart);
}

