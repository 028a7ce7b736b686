// Mulberry32, bit-identical to src/analytics/seeded_random.ts so a forest fitted here equals the
// TypeScript reference for the same seed. Provenance: https://gist.github.com/tommyettinger/46a874533244883189143505d203312c

let rngState: u32 = 0;

export function rngSeed(seed: u32): void {
  rngState = seed;
}

@inline
export function rngNextU32(): u32 {
  rngState += 0x6d2b79f5;
  let t = rngState;
  t = (t ^ (t >>> 15)) * (t | 1);
  t ^= t + (t ^ (t >>> 7)) * (t | 61);
  return t ^ (t >>> 14);
}

/** Uniform in [0, 1) with 53 bits: high 27 bits from the first draw, low 26 from the second. */
@inline
export function rngUniform(): f64 {
  const hi = <f64>(rngNextU32() >>> 5);
  const lo = <f64>(rngNextU32() >>> 6);
  return (hi * 67108864.0 + lo) / 9007199254740992.0;
}

/** Uniform integer in [0, n). */
@inline
export function rngBelow(n: i32): i32 {
  return <i32>Math.floor(rngUniform() * <f64>n);
}
