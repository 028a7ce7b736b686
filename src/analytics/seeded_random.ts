/**
 * Mulberry32: the seeded generator shared bit for bit by the TypeScript reference and the
 * WASM kernels (assembly/iforest_random.ts), so a forest fitted in either is identical for a
 * given seed. 32-bit state is plenty for drawing sub-samples and split points; it is not for
 * cryptography. Provenance: Tommy Ettinger's mulberry32, https://gist.github.com/tommyettinger/46a874533244883189143505d203312c
 */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Next uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits (two draws: high 27 bits, then low 26 bits). */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), n ≤ 2^31. */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal draw (Box–Muller); used by tests and synthetic data only. */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
