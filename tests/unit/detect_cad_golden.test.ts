/**
 * Golden scores of the contextual detector (cad_detector.ts, cad_context_memory.ts): the exact
 * score sequence, bit for bit, of the implementation as it stood before its data structures were
 * rewritten for speed (issue 17), on NAB fixtures and seeded synthetic series. A speed-up must
 * not move a single score: the NAB figures quoted for `--method cad` rest on these sequences.
 *
 * The sequences were recorded from the previous implementation (Map- and string-keyed, one
 * object per context) before the rewrite, and the rewrite reproduces every one of them.
 * Each case pins a SHA-256 of the Float64 scores (little-endian bytes), the context count at the
 * end and the score sum, so a failure says how far a change strayed, not only that it did.
 * A case that passes MAX_CONTEXTS (the random series) also pins the memory's reset.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CadDetector, type CadOptions } from '../../src/analytics/cad_detector.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

function fixtureValues(path: string): Float64Array {
  const file = fileURLToPath(new URL(`../fixtures/nab/${path}`, import.meta.url));
  const rows = readFileSync(file, 'utf8').trim().split('\n').slice(1);
  return Float64Array.from(rows, (row) => Number(row.split(',')[1]));
}

function rangeOf(values: Float64Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { min, max };
}

/** The noisy daily cycle of bench/detect.bench.ts, with a spike every 1,999 points. */
function noisyCycle(n: number): Float64Array {
  const rng = new SeededRandom(3);
  return Float64Array.from({ length: n }, (_, i) => 100 + 20 * Math.sin((2 * Math.PI * i) / 288) + 2 * rng.normal() + (i % 1999 === 0 ? 30 : 0));
}

/** Independent uniform values: no context ever repeats for long, the memory's worst case. */
function uniformNoise(n: number, seed: number): Float64Array {
  const rng = new SeededRandom(seed);
  return Float64Array.from({ length: n }, () => rng.uniform());
}

/** A random walk: new extremes keep rescaling the levels of a stream without a range. */
function randomWalk(n: number, seed: number): Float64Array {
  const rng = new SeededRandom(seed);
  let v = 0;
  return Float64Array.from({ length: n }, () => (v += rng.normal()));
}

function repeated(values: Float64Array, times: number): Float64Array {
  const out = new Float64Array(values.length * times);
  for (let k = 0; k < times; k++) out.set(values, k * values.length);
  return out;
}

interface GoldenCase {
  name: string;
  values: () => Float64Array;
  options: (values: Float64Array) => CadOptions;
  sha256: string;
  contexts: number;
  /** Times the memory passed MAX_CONTEXTS and was dropped. */
  resets: number;
  sum: number;
}

const raw = { restPoints: 0 };
const CASES: GoldenCase[] = [
  { name: 'occupancy_6005, file range', values: () => fixtureValues('realTraffic/occupancy_6005.csv'), options: (v) => ({ range: rangeOf(v), ...raw }), sha256: '31d484320269504a106f9b9d559704b7f81174665d45b04ccfdb714b6d9d0dcd', contexts: 8627, resets: 0, sum: 597.0055775857991 },
  { name: 'occupancy_6005, streamed', values: () => fixtureValues('realTraffic/occupancy_6005.csv'), options: () => raw, sha256: '7fbba27679a7c26915a64877f687758667cfd8b56184c3703d8b406fe65f7fd6', contexts: 10296, resets: 0, sum: 612.1310917226788 },
  { name: 'occupancy_6005 four times over, streamed', values: () => repeated(fixtureValues('realTraffic/occupancy_6005.csv'), 4), options: () => raw, sha256: '35d1e4671171fd0741184e9b7e3f29163cad9d45f40f3c1e45a90b21bceebc0f', contexts: 13260, resets: 0, sum: 2654.606721561093 },
  { name: 'exchange-2_cpm_results, file range', values: () => fixtureValues('realAdExchange/exchange-2_cpm_results.csv'), options: (v) => ({ range: rangeOf(v), ...raw }), sha256: 'a88cd52662d06fcf742f6f36375601eb574a986f0df66b544496c0dabca6c896', contexts: 3935, resets: 0, sum: 389.83475449686466 },
  { name: 'TravelTime_451, streamed', values: () => fixtureValues('realTraffic/TravelTime_451.csv'), options: () => raw, sha256: '7d040f4b348899f19be88ab0d617659ec9c3922303e9daa5116d2b304b54de13', contexts: 1200, resets: 0, sum: 288.9971593976296 },
  { name: 'art_daily_perfect_square_wave, default rest', values: () => fixtureValues('artificialNoAnomaly/art_daily_perfect_square_wave.csv'), options: () => ({}), sha256: 'b514252870c4c7c6a30f1d680ddc9a275ba9230668619ea9fc4dcac2eb3ead8e', contexts: 60, resets: 0, sum: 12.23529411764706 },
  { name: 'noisy cycle, streamed, default rest', values: () => noisyCycle(6000), options: () => ({}), sha256: '98051eba87e01ff560bee57e41b34910048999129adbd60b829e799a47b4deac', contexts: 5982, resets: 0, sum: 1198.9862289945613 },
  { name: 'random walk, streamed', values: () => randomWalk(4000, 11), options: () => raw, sha256: '30ed5fc0f332579a875c74abc3d35f1ce88b845dac288f04313219b04184ca04', contexts: 5734, resets: 0, sum: 762.0297523423719 },
  { name: 'uniform noise past the context cap, streamed', values: () => uniformNoise(8_000, 7), options: () => raw, sha256: '8def6be5bdea3e48ee117695a381866ec35bf45360316204aff7d05705771cff', contexts: 17532, resets: 11, sum: 2409.473851709813 },
];

describe('CadDetector golden scores (unchanged by speed work)', () => {
  for (const golden of CASES) {
    it(golden.name, () => {
      const values = golden.values();
      const detector = new CadDetector(golden.options(values));
      const scores = new Float64Array(values.length);
      let sum = 0;
      let resets = 0;
      for (let i = 0; i < values.length; i++) {
        const before = detector.contextCount;
        scores[i] = detector.update(values[i]!);
        sum += scores[i]!;
        if (detector.contextCount < before) resets++;
      }
      const sha256 = createHash('sha256').update(new Uint8Array(scores.buffer)).digest('hex');
      expect({ contexts: detector.contextCount, resets, sum, sha256 }).toEqual({ contexts: golden.contexts, resets: golden.resets, sum: golden.sum, sha256: golden.sha256 });
    }, 600_000);
  }
});
