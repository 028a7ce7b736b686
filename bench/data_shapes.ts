/**
 * Seeded, named data shapes for codec, storage and aggregation benchmarks and tests.
 *
 * Every generator is a pure function of `(n, seed)`: the same arguments give the same bits on
 * every machine (own PRNG, no Math.random), so benchmarks and round-trip tests are reproducible.
 * Timestamps are epoch milliseconds starting at {@link SHAPE_START_MS}.
 *
 * The shapes follow the cases the chunk codec must handle (docs/format/chunk.md):
 *   constant         one value, regular 10 s timestamps (constant modes: ~0 bits/point)
 *   counter          integer counter with random increments and occasional resets
 *   walk2dp          TSBS devops "cpu" shape: bounded random walk in [0, 100], step N(0, 1),
 *                    reported rounded to 2 decimals, one point per 10 s
 *   floatWalk        full-precision float random walk (no short decimal form: XOR fallback)
 *   jitter15s        15 s scrape with ±100 ms jitter on the timestamps, 2-decimal walk values
 *   integerGauge     small integer gauge (e.g. open connections), regular 10 s timestamps
 *   specialFloats    NaN (several payloads), ±Infinity, −0, subnormals, MAX_VALUE, MIN_VALUE, 0.1+0.2
 */

export interface SeriesColumns {
  timestamps: Float64Array;
  values: Float64Array;
}

export type ShapeGenerator = (n: number, seed: number) => SeriesColumns;

/** 2026-01-01T00:00:00Z: first timestamp of every shape, in epoch milliseconds. */
export const SHAPE_START_MS = 1_767_225_600_000;
/** Scrape interval of the regular shapes (TSBS devops uses 10 s). */
export const SHAPE_INTERVAL_MS = 10_000;

/** mulberry32: a tiny 32-bit PRNG with good enough statistics for synthetic data. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal variates via Box-Muller (one of the pair is kept; simplicity over speed). */
export function gaussian(uniform: () => number): () => number {
  return () => {
    // 1 - u keeps the argument of log in (0, 1], so log never sees 0.
    const u1 = 1 - uniform();
    const u2 = uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };
}

function regularTimestamps(n: number, intervalMs: number): Float64Array {
  const ts = new Float64Array(n);
  for (let i = 0; i < n; i++) ts[i] = SHAPE_START_MS + i * intervalMs;
  return ts;
}

function assertCount(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`data shape: n=${n} must be a non-negative integer`);
}

/** One value repeated, regular 10 s timestamps. */
export function constantShape(n: number, seed: number): SeriesColumns {
  assertCount(n);
  const value = Math.round(mulberry32(seed)() * 1000) / 10;
  return { timestamps: regularTimestamps(n, SHAPE_INTERVAL_MS), values: new Float64Array(n).fill(value) };
}

/** Monotonic integer counter, increments 0..100 per scrape, reset to 0 about once per 2,000 points. */
export function counterShape(n: number, seed: number): SeriesColumns {
  assertCount(n);
  const rnd = mulberry32(seed);
  const values = new Float64Array(n);
  let counter = Math.floor(rnd() * 1e6);
  for (let i = 0; i < n; i++) {
    if (rnd() < 1 / 2000) counter = 0;
    else counter += Math.floor(rnd() * 101);
    values[i] = counter;
  }
  return { timestamps: regularTimestamps(n, SHAPE_INTERVAL_MS), values };
}

/**
 * Bounded random walk of `decimals` decimals: the TSBS cpu shape. The walk state keeps full
 * precision and is clamped to [0, 100] (TSBS ClampedRandomWalkDistribution); each reported
 * value is the state rounded to `decimals` decimals, the double a client sending "12.34" produces.
 */
export function boundedWalk(n: number, seed: number, decimals: number, intervalMs = SHAPE_INTERVAL_MS): SeriesColumns {
  assertCount(n);
  const rnd = mulberry32(seed);
  const normal = gaussian(rnd);
  const values = new Float64Array(n);
  const scale = 10 ** decimals;
  let state = rnd() * 100;
  for (let i = 0; i < n; i++) {
    state = Math.min(100, Math.max(0, state + normal()));
    // One correctly rounded division gives the double nearest to k/10^d, i.e. what parsing "12.34" gives.
    values[i] = Math.round(state * scale) / scale;
  }
  return { timestamps: regularTimestamps(n, intervalMs), values };
}

/** TSBS devops cpu shape: [0, 100], step N(0, 1), rounded to 2 decimals, one point per 10 s. */
export function walk2dpShape(n: number, seed: number): SeriesColumns {
  return boundedWalk(n, seed, 2);
}

/** Unrounded random walk: values with no short decimal form. */
export function floatWalkShape(n: number, seed: number): SeriesColumns {
  assertCount(n);
  const rnd = mulberry32(seed);
  const normal = gaussian(rnd);
  const values = new Float64Array(n);
  let state = rnd() * 100;
  for (let i = 0; i < n; i++) {
    state += normal();
    values[i] = state;
  }
  return { timestamps: regularTimestamps(n, SHAPE_INTERVAL_MS), values };
}

/** 15 s scrape whose timestamps carry ±100 ms integer jitter (strictly increasing), 2-decimal walk values. */
export function jitter15sShape(n: number, seed: number): SeriesColumns {
  assertCount(n);
  const rnd = mulberry32(seed ^ 0x5bd1e995);
  const { values } = boundedWalk(n, seed, 2);
  const timestamps = new Float64Array(n);
  for (let i = 0; i < n; i++) timestamps[i] = SHAPE_START_MS + i * 15_000 + Math.round(rnd() * 200 - 100);
  return { timestamps, values };
}

/** Integer gauge in [0, 1000] stepping by -2..2 (e.g. open connections). */
export function integerGaugeShape(n: number, seed: number): SeriesColumns {
  assertCount(n);
  const rnd = mulberry32(seed);
  const values = new Float64Array(n);
  let state = Math.floor(rnd() * 1000);
  for (let i = 0; i < n; i++) {
    state = Math.min(1000, Math.max(0, state + Math.floor(rnd() * 5) - 2));
    values[i] = state;
  }
  return { timestamps: regularTimestamps(n, SHAPE_INTERVAL_MS), values };
}

/** Float64 bit patterns a lossless codec must keep exactly, including NaN payloads. */
export function specialFloatValues(): Float64Array {
  const nanPayloads = new Float64Array(3);
  const bits = new BigUint64Array(nanPayloads.buffer);
  bits[0] = 0x7ff8000000000001n; // quiet NaN with payload
  bits[1] = 0xfff0000000000001n; // negative signalling NaN
  bits[2] = 0x7fffffffffffffffn; // all-ones payload
  return Float64Array.from([
    NaN, Infinity, -Infinity, -0, 0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
    Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 0.1 + 0.2, 1 / 3, Math.PI, 1e300, -1e-300,
    ...nanPayloads,
  ]);
}

/** Random draws from {@link specialFloatValues} mixed with 2-decimal numbers, regular 10 s timestamps. */
export function specialFloatsShape(n: number, seed: number): SeriesColumns {
  assertCount(n);
  const rnd = mulberry32(seed);
  const specials = specialFloatValues();
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = rnd() < 0.5 ? specials[Math.floor(rnd() * specials.length)]! : Math.round(rnd() * 10000) / 100;
  }
  return { timestamps: regularTimestamps(n, SHAPE_INTERVAL_MS), values };
}

/** Every named shape, for benchmarks and tests that loop over all of them. */
export const SHAPES: Record<string, ShapeGenerator> = {
  constant: constantShape,
  counter: counterShape,
  walk2dp: walk2dpShape,
  floatWalk: floatWalkShape,
  jitter15s: jitter15sShape,
  integerGauge: integerGaugeShape,
  specialFloats: specialFloatsShape,
};
