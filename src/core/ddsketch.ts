/**
 * DDSketch (Masson, Rim, Lee, VLDB 2019): a mergeable quantile sketch with a relative-error
 * guarantee, for percentiles a client asked to approximate (docs/format/aggregation.md,
 * "Approximate percentiles"). The exact path (assembly/percentile.ts) stays the default.
 *
 * A value x > 0 is counted in bin k = ⌈ln x / ln γ⌉, γ = (1 + α) / (1 − α), which covers
 * (γ^(k−1), γ^k]; the bin stands for 2γ^k / (γ + 1), within relative error α of every value in
 * it. Negative values are counted by magnitude in a store of their own, zeros (and −0) apart.
 * Bins are absolute (they depend on α only), so two sketches of one α merge by adding counts,
 * associatively and exactly, and a merged sketch answers as one built from all the values.
 *
 * Guarantee (without collapse, below): `valueAtRank(r)` is within α·|x_(r)| of x_(r), the r-th
 * smallest value (0-based). `quantile(q)` interpolates like the exact path: pos = q·(n − 1),
 * x_⌊pos⌋ + f·(x_⌈pos⌉ − x_⌊pos⌋) with f = pos − ⌊pos⌋, but between the two estimated order
 * statistics; its error is then at most α·((1 − f)·|x_⌊pos⌋| + f·|x_⌈pos⌉|), which is α times
 * the exact value's magnitude whenever the two order statistics do not straddle zero (and an
 * absolute bound of α times the larger magnitude when they do).
 *
 * Collapse: each store holds at most SKETCH_MAX_BINS bins. A value that would widen a store
 * past it folds the lowest-magnitude bins into the lowest bin kept, so the bound still holds
 * for every value within a factor γ^SKETCH_MAX_BINS (≈ 4·10^35 at α = 0.01) of the largest
 * magnitude of its sign, and values nearer zero are overestimated in magnitude. `collapsed`
 * says whether that ever happened to this sketch or one merged into it.
 *
 * NaN and ±Infinity are refused (RangeError), like the exact path: stored values are finite.
 */

/** Most bins per sign: bounds a sketch's memory (32 KiB per store) whatever the values. */
export const SKETCH_MAX_BINS = 4096;

/** Shared by empty stores: the first add replaces it (typed array allocations showed in profiles). */
const NO_COUNTS = new Float64Array(0);

/** Counts by bin key for one sign, in a dense window grown on demand. */
class BinStore {
  counts = NO_COUNTS;
  /** Key of counts[0]. */
  offset = 0;
  minKey = 0;
  maxKey = -1;
  total = 0;
  collapsed = false;

  add(key: number, n: number): void {
    if (n === 0) return;
    // Inside the window (never wider than SKETCH_MAX_BINS): no collapse, no growth.
    if (this.total > 0 && key >= this.offset && key < this.offset + this.counts.length) {
      this.counts[key - this.offset]! += n;
      this.total += n;
      if (key < this.minKey) this.minKey = key;
      else if (key > this.maxKey) this.maxKey = key;
      return;
    }
    if (this.total > 0) {
      const lo = Math.min(this.minKey, key);
      const hi = Math.max(this.maxKey, key);
      if (hi - lo + 1 > SKETCH_MAX_BINS) {
        const floor = hi - SKETCH_MAX_BINS + 1;
        this.collapsed = true;
        let folded = 0;
        for (let k = this.minKey; k < floor && k <= this.maxKey; k++) {
          folded += this.counts[k - this.offset]!;
          this.counts[k - this.offset] = 0;
        }
        this.total -= folded;
        if (this.total > 0) this.minKey = Math.max(this.minKey, floor);
        this.#addWithin(floor, folded);
        this.#addWithin(Math.max(key, floor), n);
        return;
      }
    }
    this.#addWithin(key, n);
  }

  /** Adds where the window after the add spans at most SKETCH_MAX_BINS keys. */
  #addWithin(key: number, n: number): void {
    if (n === 0) return;
    if (this.total === 0) {
      if (key < this.offset || key >= this.offset + this.counts.length) {
        // Small first: a query may hold a sketch per bucket, most of few bins.
        this.counts = new Float64Array(16);
        this.offset = key - 8;
      } else {
        this.counts.fill(0);
      }
      this.minKey = key;
      this.maxKey = key;
    } else if (key < this.offset || key >= this.offset + this.counts.length) {
      this.#grow(Math.min(this.minKey, key), Math.max(this.maxKey, key));
    }
    this.counts[key - this.offset]! += n;
    this.total += n;
    if (key < this.minKey) this.minKey = key;
    if (key > this.maxKey) this.maxKey = key;
  }

  /** Makes room for keys lo … hi in one allocation when that keeps the window within SKETCH_MAX_BINS (merges know the span ahead). */
  reserve(lo: number, hi: number): void {
    if (this.total === 0) {
      if (hi - lo + 1 <= SKETCH_MAX_BINS && (lo < this.offset || hi >= this.offset + this.counts.length)) {
        this.counts = new Float64Array(Math.max(16, hi - lo + 1));
        this.offset = lo;
      }
      return;
    }
    const from = Math.min(lo, this.minKey);
    const to = Math.max(hi, this.maxKey);
    if (to - from + 1 <= SKETCH_MAX_BINS && (from < this.offset || to >= this.offset + this.counts.length)) this.#grow(from, to);
  }

  #grow(lo: number, hi: number): void {
    const span = hi - lo + 1;
    const size = Math.max(span, Math.min(SKETCH_MAX_BINS, 2 * this.counts.length));
    // Room on the side that grew: downwards when a lower key came.
    const offset = lo < this.offset ? hi - size + 1 : lo;
    const grown = new Float64Array(size);
    grown.set(this.counts.subarray(this.minKey - this.offset, this.maxKey - this.offset + 1), this.minKey - offset);
    this.counts = grown;
    this.offset = offset;
  }

  merge(other: BinStore): void {
    if (other.total === 0) return;
    this.collapsed ||= other.collapsed;
    for (let k = other.minKey; k <= other.maxKey; k++) {
      const c = other.counts[k - other.offset]!;
      if (c !== 0) this.add(k, c);
    }
  }

  /** The key holding the rank-th count (0-based), counting from the lowest key, or the highest when `fromTop`. */
  keyAtRank(rank: number, fromTop: boolean): number {
    let seen = 0;
    if (fromTop) {
      for (let k = this.maxKey; k >= this.minKey; k--) {
        seen += this.counts[k - this.offset]!;
        if (seen > rank) return k;
      }
      return this.minKey;
    }
    for (let k = this.minKey; k <= this.maxKey; k++) {
      seen += this.counts[k - this.offset]!;
      if (seen > rank) return k;
    }
    return this.maxKey;
  }

  /** Non-empty bins. */
  binCount(): number {
    let n = 0;
    for (let k = this.minKey; k <= this.maxKey && this.total > 0; k++) if (this.counts[k - this.offset]! !== 0) n++;
    return n;
  }
}

export class DDSketch {
  readonly relativeAccuracy: number;
  readonly gamma: number;
  readonly #lnGamma: number;
  readonly #positive = new BinStore();
  readonly #negative = new BinStore();
  #zeros = 0;
  #min = Infinity;
  #max = -Infinity;

  constructor(relativeAccuracy: number) {
    if (!(relativeAccuracy > 0 && relativeAccuracy < 1)) {
      throw new RangeError(`DDSketch: relativeAccuracy=${relativeAccuracy} must be in (0, 1)`);
    }
    this.relativeAccuracy = relativeAccuracy;
    this.gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.#lnGamma = Math.log(this.gamma);
  }

  get count(): number {
    return this.#zeros + this.#positive.total + this.#negative.total;
  }

  get min(): number {
    return this.#min;
  }

  get max(): number {
    return this.#max;
  }

  /** Whether bins were folded (see the file comment): the bound then holds only above the fold. */
  get collapsed(): boolean {
    return this.#positive.collapsed || this.#negative.collapsed;
  }

  /** Non-empty bins (what the encoding's size follows). */
  get binCount(): number {
    return this.#positive.binCount() + this.#negative.binCount() + (this.#zeros > 0 ? 1 : 0);
  }

  /** The bin key of a magnitude m > 0. */
  keyOf(m: number): number {
    return Math.ceil(Math.log(m) / this.#lnGamma);
  }

  /** The value bin `key` stands for (a magnitude). */
  valueOf(key: number): number {
    return (2 * Math.exp(key * this.#lnGamma)) / (this.gamma + 1);
  }

  add(value: number): void {
    if (!Number.isFinite(value)) throw new RangeError(`DDSketch.add: value=${value} must be a finite number`);
    if (value > 0) this.#positive.add(this.keyOf(value), 1);
    else if (value < 0) this.#negative.add(this.keyOf(-value), 1);
    else this.#zeros++;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Adds every value of `values[from … to)`. */
  addAll(values: Float64Array, from = 0, to = values.length): void {
    for (let i = from; i < to; i++) this.add(values[i]!);
  }

  /** Adds `other`'s values (same relative accuracy): the result is the sketch of both sets. */
  merge(other: DDSketch): void {
    this.#checkSameAccuracy(other.relativeAccuracy);
    this.#positive.merge(other.#positive);
    this.#negative.merge(other.#negative);
    this.#zeros += other.#zeros;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /** Estimate of the rank-th smallest value (0 ≤ rank < count), within α of it (see the file comment). */
  valueAtRank(rank: number): number {
    const n = this.count;
    if (!(rank >= 0 && rank < n) || !Number.isInteger(rank)) {
      throw new RangeError(`DDSketch.valueAtRank: rank=${rank} must be an integer in [0, ${n})`);
    }
    const negatives = this.#negative.total;
    let v: number;
    if (rank < negatives) v = -this.valueOf(this.#negative.keyAtRank(rank, true));
    else if (rank < negatives + this.#zeros) v = 0;
    else v = this.valueOf(this.#positive.keyAtRank(rank - negatives - this.#zeros, false));
    // Every value lies in [min, max]: clamping never moves the estimate away from it.
    return Math.min(this.#max, Math.max(this.#min, v));
  }

  /**
   * The q-quantile interpolated between estimated order statistics as the exact path does
   * (pos = q·(n − 1)); NaN for an empty sketch.
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`DDSketch.quantile: q=${q} must be in [0, 1]`);
    const n = this.count;
    if (n === 0) return NaN;
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const f = pos - lo;
    const a = this.valueAtRank(lo);
    if (f === 0) return a;
    return a + f * (this.valueAtRank(lo + 1) - a);
  }

  /** Appends the compact encoding (docs/format/aggregation.md, "Sketch encoding"); α is not in it. */
  encodeInto(out: ByteWriter): void {
    const n = this.count;
    out.varint(n);
    if (n === 0) return;
    out.byte(this.collapsed ? 1 : 0);
    out.varint(this.#zeros);
    out.f64(this.#min);
    out.f64(this.#max);
    encodeStore(this.#negative, out);
    encodeStore(this.#positive, out);
  }

  encode(): Uint8Array {
    const w = new ByteWriter();
    this.encodeInto(w);
    return w.finish();
  }

  /**
   * Adds the sketch encoded at bytes[offset …] (same α) and returns the offset after it.
   * Decoding straight into this sketch spares an object per merged bucket.
   */
  mergeEncoded(bytes: Uint8Array, offset: number): number {
    const r = reader;
    r.bytes = bytes;
    r.at = offset;
    const n = r.varint();
    if (n === 0) return r.at;
    const collapsed = r.byte() === 1;
    const zeros = r.varint();
    const min = r.f64();
    const max = r.f64();
    const neg = decodeStoreInto(r, this.#negative);
    const pos = decodeStoreInto(r, this.#positive);
    if (zeros + neg + pos !== n) throw new RangeError(`DDSketch.mergeEncoded: counts ${zeros} + ${neg} + ${pos} do not add up to ${n} at byte ${offset}`);
    if (collapsed) this.#positive.collapsed = true;
    this.#zeros += zeros;
    if (min < this.#min) this.#min = min;
    if (max > this.#max) this.#max = max;
    return r.at;
  }

  static decode(bytes: Uint8Array, relativeAccuracy: number): DDSketch {
    const s = new DDSketch(relativeAccuracy);
    const end = s.mergeEncoded(bytes, 0);
    if (end !== bytes.length) throw new RangeError(`DDSketch.decode: ${bytes.length - end} bytes left after the sketch`);
    return s;
  }

  #checkSameAccuracy(alpha: number): void {
    if (alpha !== this.relativeAccuracy) {
      throw new RangeError(`DDSketch.merge: relativeAccuracy=${alpha} differs from this sketch's ${this.relativeAccuracy}`);
    }
  }
}

/** Scratch keys of encodeSketchOf, grown on demand. */
let positiveKeys = new Float64Array(256);
let negativeKeys = new Float64Array(256);

/**
 * Appends the encoding of the sketch of values[from … to) at `relativeAccuracy`, byte for byte
 * what a DDSketch fed those values would encode, without building one: rollup building runs
 * this per bucket of every cut of an approximately queried series, and a sketch object per
 * bucket (stores grown bin by bin) cost ~0.9 µs a point there. The keys are sorted instead.
 */
export function encodeSketchOf(values: Float64Array, from: number, to: number, relativeAccuracy: number, out: ByteWriter): void {
  const n = to - from;
  if (positiveKeys.length < n) {
    positiveKeys = new Float64Array(Math.max(n, 2 * positiveKeys.length));
    negativeKeys = new Float64Array(positiveKeys.length);
  }
  const lnGamma = Math.log((1 + relativeAccuracy) / (1 - relativeAccuracy));
  let nPos = 0;
  let nNeg = 0;
  let zeros = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`DDSketch.add: value=${v} must be a finite number`);
    if (v > 0) positiveKeys[nPos++] = Math.ceil(Math.log(v) / lnGamma);
    else if (v < 0) negativeKeys[nNeg++] = Math.ceil(Math.log(-v) / lnGamma);
    else zeros++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const pos = positiveKeys.subarray(0, nPos).sort();
  const neg = negativeKeys.subarray(0, nNeg).sort();
  if ((nPos > 0 && pos[nPos - 1]! - pos[0]! >= SKETCH_MAX_BINS) || (nNeg > 0 && neg[nNeg - 1]! - neg[0]! >= SKETCH_MAX_BINS)) {
    // Would collapse: the sketch's own rule decides how.
    const sketch = new DDSketch(relativeAccuracy);
    sketch.addAll(values, from, to);
    sketch.encodeInto(out);
    return;
  }
  out.varint(n);
  if (n === 0) return;
  out.byte(0);
  out.varint(zeros);
  out.f64(min);
  out.f64(max);
  encodeSortedKeys(neg, out);
  encodeSortedKeys(pos, out);
}

/** encodeStore's layout from ascending keys (one per value). */
function encodeSortedKeys(keys: Float64Array, out: ByteWriter): void {
  let bins = 0;
  for (let i = 0; i < keys.length; i++) if (i === 0 || keys[i] !== keys[i - 1]) bins++;
  out.varint(bins);
  if (bins === 0) return;
  out.varint(zigzag(keys[0]!));
  out.varint(keys[keys.length - 1]! - keys[0]!);
  let prev = keys[0]!;
  for (let i = 0; i < keys.length;) {
    const k = keys[i]!;
    let j = i + 1;
    while (j < keys.length && keys[j] === k) j++;
    if (i > 0) out.varint(k - prev);
    out.varint(j - i);
    prev = k;
    i = j;
  }
}

/** Zigzag: small negative and positive keys both in few varint bytes. */
function zigzag(k: number): number {
  return k >= 0 ? 2 * k : -2 * k - 1;
}

/**
 * Non-empty bins b; if b > 0 the lowest key (zigzag) and the span to the highest, then per bin
 * its count and, after the first, the gap from the previous key (the span lets a merge size
 * its window once).
 */
function encodeStore(s: BinStore, out: ByteWriter): void {
  out.varint(s.total === 0 ? 0 : s.binCount());
  if (s.total === 0) return;
  out.varint(zigzag(s.minKey));
  out.varint(s.maxKey - s.minKey);
  let prev = s.minKey;
  for (let k = s.minKey; k <= s.maxKey; k++) {
    const c = s.counts[k - s.offset]!;
    if (c === 0) continue;
    if (k !== s.minKey) out.varint(k - prev);
    out.varint(c);
    prev = k;
  }
}

/** Adds an encoded store's bins to `into`; returns the count added. */
function decodeStoreInto(r: ByteReader, into: BinStore): number {
  const bins = r.varint();
  if (bins === 0) return 0;
  const z = r.varint();
  let key = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  const span = r.varint();
  into.reserve(key, key + span);
  let total = 0;
  for (let b = 0; b < bins; b++) {
    if (b > 0) key += r.varint();
    const c = r.varint();
    into.add(key, c);
    total += c;
  }
  return total;
}

/** Growable byte output: LEB128 varints (integers up to 2^53) and little-endian float64s. */
export class ByteWriter {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(2 * this.#bytes.length, this.length + n));
    grown.set(this.#bytes.subarray(0, this.length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }

  byte(b: number): void {
    this.#room(1);
    this.#bytes[this.length++] = b;
  }

  varint(v: number): void {
    if (!(v >= 0) || !Number.isSafeInteger(v)) throw new RangeError(`ByteWriter.varint: ${v} must be a safe non-negative integer`);
    this.#room(8);
    while (v >= 0x80) {
      this.#bytes[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#bytes[this.length++] = v;
  }

  f64(v: number): void {
    this.#room(8);
    this.#view.setFloat64(this.length, v, true);
    this.length += 8;
  }

  finish(): Uint8Array {
    return this.#bytes.slice(0, this.length);
  }
}

/** Reads varints and float64s; one per thread, reset per call (a reader per merged sketch showed in profiles). */
class ByteReader {
  bytes: Uint8Array = new Uint8Array(0);
  at = 0;
  readonly #f64 = new Float64Array(1);
  readonly #f64Bytes = new Uint8Array(this.#f64.buffer);

  #need(n: number): void {
    if (this.at + n > this.bytes.length) throw new RangeError(`DDSketch: encoding ends at byte ${this.bytes.length}, needed ${n} more at ${this.at}`);
  }

  byte(): number {
    this.#need(1);
    return this.bytes[this.at++]!;
  }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
    }
    throw new RangeError(`DDSketch: varint longer than 8 bytes at byte ${this.at}`);
  }

  f64(): number {
    this.#need(8);
    // The encoding is little-endian, like every platform Node runs on (checked at load).
    for (let i = 0; i < 8; i++) this.#f64Bytes[i] = this.bytes[this.at + i]!;
    this.at += 8;
    return this.#f64[0]!;
  }
}

if (new Uint8Array(Float64Array.of(1).buffer)[7] !== 0x3f) throw new Error('DDSketch: the sketch encoding assumes a little-endian platform');
const reader = new ByteReader();
