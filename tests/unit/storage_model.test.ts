/**
 * Model-based property test of the storage engine: random sequences of batches (out of order,
 * re-sent timestamps), clean restarts and crashes (database closed without checkpoint), with
 * tiny heads and write-ahead limits so that cuts, checkpoints, replays and compactions all
 * happen, must always read back exactly what a Map per series (last write wins) holds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, readStoredPoints } from './sqlite_store_kit.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';

const T0 = Date.UTC(2026, 5, 1);

type Step =
  | { kind: 'batch'; points: Array<{ s: number; t: number; v: number }> }
  | { kind: 'restart' }
  | { kind: 'crash' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('batch' as const), points: fc.array(fc.record({ s: fc.integer({ min: 0, max: 2 }), t: fc.integer({ min: 0, max: 120 }), v: fc.integer({ min: -1000, max: 1000 }) }), { minLength: 1, maxLength: 40 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
);

describe('storage engine against a model', () => {
  it('reads back every acknowledged point, newest write winning, through cuts, checkpoints, restarts and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.integer({ min: 3, max: 30 }), async (steps, headCutPoints) => {
        const dir = mkdtempSync(join(tmpdir(), 'emms-model-'));
        const path = join(dir, 'm.db');
        const options = { path, headCutPoints, walCheckpointBytes: 600 };
        const model = [new Map<number, number>(), new Map<number, number>(), new Map<number, number>()];
        let store = await openSqliteStore(options);
        let resolver = new SeriesResolver(store.catalog.tenant('default'));
        try {
          for (const step of steps) {
            if (step.kind === 'batch') {
              const rows = step.points.map((p) => ({ metricId: `model.s${p.s}`, timestamp: T0 + p.t * 1000, value: p.v }));
              await store.commit([buildRowBatch(rows, resolver, T0)]);
              for (const p of step.points) model[p.s]!.set(T0 + p.t * 1000, p.v);
              // What the engine's maintenance would do between batches when records pile up.
              if (store.stats().walBytes > 600) {
                await store.checkpoint();
                await store.compactAll(4);
              }
            } else {
              if (step.kind === 'restart') await store.close();
              else await store.abandon();
              store = await openSqliteStore(options);
              resolver = new SeriesResolver(store.catalog.tenant('default'));
            }
          }
          for (let s = 0; s < 3; s++) {
            const id = store.catalog.tenant('default').find(`model.s${s}`, '');
            const expected = [...model[s]!.entries()].sort((a, b) => a[0] - b[0]);
            if (id === undefined) {
              expect(expected).toEqual([]);
              continue;
            }
            const got = await readStoredPoints(store, id, 0, T0 + 1e6);
            expect([...got.timestamps]).toEqual(expected.map((e) => e[0]));
            expect([...got.values]).toEqual(expected.map((e) => e[1]));
          }
        } finally {
          try {
            await store.close();
          } catch {
            // Already closed by a crash step at the very end.
          }
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 40, seed: 20260601 },
    );
  });
});
