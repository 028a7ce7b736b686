// Property tests (fast-check, fixed seeds): any group of sorted series with ties, any range and
// interval gives the reference's numbers; arbitrary bytes fed to addChunk end in a typed error.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AGGREGATIONS } from '../../src/model/api.js';
import { BucketAccumulator } from '../../src/core/aggregate.js';
import { aggregateReference } from '../../src/core/aggregate_reference.js';
import { ChunkDecodeError } from '../../src/core/codec.js';

const T0 = 1_767_225_600_000;

const seriesArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: -1_000, max: 1_000 })), { maxLength: 60 })
  .map((steps) => {
    const timestamps = new Float64Array(steps.length);
    const values = new Float64Array(steps.length);
    let t = T0;
    steps.forEach(([dt, v], i) => {
      t += dt; // dt = 0 makes timestamp ties
      timestamps[i] = t;
      values[i] = v;
    });
    return { timestamps, values };
  });

describe('aggregation properties', () => {
  it('every aggregation of any group equals the reference (integer values: sums are exact)', () => {
    fc.assert(
      fc.property(
        fc.array(seriesArb, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(1, 1_000, 7_000, 60_000),
        fc.integer({ min: -5_000, max: 100_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        (group, intervalMs, startOffset, length) => {
          for (const aggregation of AGGREGATIONS) {
            const options = { aggregation, intervalMs, startMs: T0 + startOffset, endMs: T0 + startOffset + length };
            const acc = new BucketAccumulator(options);
            for (const s of group) {
              acc.beginSeries();
              const cut = s.values.length >> 1;
              acc.addPoints(s.timestamps.subarray(0, cut), s.values.subarray(0, cut));
              acc.addPoints(s.timestamps.subarray(cut), s.values.subarray(cut));
            }
            const got = acc.finish();
            const want = aggregateReference(group, options);
            expect(Array.from(got.timestamps)).toEqual(Array.from(want.timestamps));
            for (let i = 0; i < want.values.length; i++) {
              const e = want.values[i]!;
              const tolerance = aggregation === 'stddev' ? 1e-9 * Math.max(1, e) : 0;
              if (!(Math.abs(got.values[i]! - e) <= tolerance)) {
                expect.fail(`${aggregation} bucket ${i}: got ${got.values[i]}, reference ${e}`);
              }
            }
          }
        },
      ),
      { numRuns: 150, seed: 20260101 },
    );
  });

  it('arbitrary bytes given to addChunk end in ChunkDecodeError, never a crash or garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 3 }), (bytes, version) => {
        // Half the inputs start with a plausible header so decoding gets past the first checks.
        if (bytes.length > 3 && version > 0) bytes[0] = 1;
        const acc = new BucketAccumulator({ aggregation: 'p50', intervalMs: 60_000 });
        try {
          acc.addChunk(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(ChunkDecodeError);
          expect(acc.finish().timestamps.length).toBe(0);
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
