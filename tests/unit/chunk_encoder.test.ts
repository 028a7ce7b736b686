/**
 * Cuts and compaction encoded off the writer thread (src/storage/chunk_encoder.ts): points
 * stay readable while their chunk is being encoded, the encoder thread and the inline encoder
 * store the same thing, and stopping or crashing with cuts in flight loses nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { openSqliteStore, readStoredPoints, type SqliteStoreOptions } from './sqlite_store_kit.js';
import type { ChunkEncoder } from '../../src/storage/chunk_encoder.js';
import { runEncodeTask, type EncodeResult, type EncodeTask } from '../../src/storage/chunk_encode_task.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import { TABLE } from '../../src/storage/sqlite/schema.js';
import { encodeChunks, mergeCluster, CODEC_EMMS_CHUNK } from '../../src/storage/chunk_encoding.js';
import { decodeChunk } from '../../src/core/codec.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const T0 = Date.UTC(2026, 3, 1);
const SERIES = 6;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-encoder-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Model = Array<Map<number, number>>;

/** Commits random points (late, repeated and out-of-order timestamps included) and records them in the model. */
async function commitRandom(store: StorageEngine, resolver: SeriesResolver, model: Model, rnd: () => number, points: number): Promise<void> {
  const batch = Array.from({ length: points }, () => ({ s: Math.floor(rnd() * SERIES), t: Math.floor(rnd() * 3000), v: Math.round(rnd() * 1e5) / 100 }));
  await store.commit([buildRowBatch(batch.map((p) => ({ metricId: `enc.s${p.s}`, timestamp: T0 + p.t * 1000, value: p.v })), resolver, T0)]);
  for (const p of batch) model[p.s]!.set(T0 + p.t * 1000, p.v);
}

/** Every series read through chunks and the store's pending points equals the model. */
async function expectModel(store: StorageEngine, model: Model, label: string): Promise<void> {
  for (let s = 0; s < SERIES; s++) {
    const want = [...model[s]!.entries()].sort((a, b) => a[0] - b[0]);
    const id = store.catalog.tenant('default').find(`enc.s${s}`, '');
    if (id === undefined) {
      expect(want, `${label} series ${s}`).toEqual([]);
      continue;
    }
    const got = await readStoredPoints(store, id, 0, T0 + 1e7);
    expect([...got.timestamps], `${label} series ${s}`).toEqual(want.map((e) => e[0]));
    expect([...got.values], `${label} series ${s}`).toEqual(want.map((e) => e[1]));
  }
}

function options(path: string, chunkEncoding: 'worker' | 'inline'): SqliteStoreOptions {
  return { path, headCutPoints: 40, walCheckpointBytes: 20_000, chunkEncoding };
}

describe('chunk encoding pieces', () => {
  it('merging a cluster equals sorting its points by age, newest write winning', () => {
    const rnd = mulberry32(3);
    for (let trial = 0; trial < 50; trial++) {
      const members = Array.from({ length: 2 + Math.floor(rnd() * 4) }, (_, k) => {
        const n = 1 + Math.floor(rnd() * 200);
        const ts = Array.from(new Set(Array.from({ length: n }, () => T0 + Math.floor(rnd() * 500) * 1000))).sort((a, b) => a - b);
        const vs = ts.map(() => Math.round(rnd() * 1e4) / 100);
        const [chunk] = encodeChunks(Float64Array.from(ts), Float64Array.from(vs));
        return { id: 10 + k, codec: CODEC_EMMS_CHUNK, count: chunk!.count, data: chunk!.bytes, ts, vs };
      });
      const expected = new Map<number, number>();
      for (const m of members) m.ts.forEach((t, i) => expected.set(t, m.vs[i]!));
      const byMinTs = [...members].sort((a, b) => a.ts[0]! - b.ts[0]! || a.id - b.id);
      const merged = mergeCluster(byMinTs, true);
      if (!Array.isArray(merged)) throw new Error(merged.detail);
      const got: Array<[number, number]> = [];
      for (const c of merged) {
        const d = decodeChunk(c.bytes);
        d.timestamps.forEach((t, i) => got.push([t, d.values[i]!]));
        expect(c.count).toBe(d.timestamps.length);
        expect(c.minTs).toBe(d.timestamps[0]);
        expect(c.maxTs).toBe(d.timestamps[d.timestamps.length - 1]);
      }
      expect(got).toEqual([...expected.entries()].sort((a, b) => a[0] - b[0]));
    }
  });

  it('names the member that does not decode instead of throwing', () => {
    const [good] = encodeChunks(Float64Array.of(T0, T0 + 1000), Float64Array.of(1, 2));
    const broken = { id: 8, codec: CODEC_EMMS_CHUNK, count: 5, data: Uint8Array.of(1, 2, 3) };
    expect(mergeCluster([{ id: 7, codec: CODEC_EMMS_CHUNK, count: 2, data: good!.bytes }, broken], false)).toMatchObject({ chunkId: 8 });
    expect(mergeCluster([{ id: 7, codec: 99, count: 2, data: good!.bytes }], false)).toMatchObject({ chunkId: 7, detail: expect.stringMatching(/codec=99/) });
  });
});

describe('cuts and compaction off the writer thread', () => {
  it.each(['worker', 'inline'] as const)('%s: every committed point is readable at every moment, and after settling', async (mode) => {
    const rnd = mulberry32(mode === 'worker' ? 11 : 12);
    const store = await openSqliteStore(options(join(dir, `${mode}.db`), mode));
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    const model: Model = Array.from({ length: SERIES }, () => new Map());
    try {
      for (let step = 0; step < 120; step++) {
        await commitRandom(store, resolver, model, rnd, 1 + Math.floor(rnd() * 60));
        // Right after a commit cuts are usually still at the encoder: their points must read.
        await expectModel(store, model, `${mode} step ${step}`);
        if (rnd() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.floor(rnd() * 3)));
      }
      await store.settle();
      const maintenance = store.stats().maintenance!;
      expect(maintenance).toMatchObject({ pendingCuts: 0, checkpointRunning: false, compactionRunning: false, encoderFailures: 0, failures: 0 });
      await expectModel(store, model, `${mode} settled`);
      expect(store.stats().chunks).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it('the encoder thread and the inline encoder store identical chunks for the same commits', async () => {
    const run = async (mode: 'worker' | 'inline'): Promise<unknown[]> => {
      const rnd = mulberry32(21);
      const path = join(dir, `same-${mode}.db`);
      // No checkpoint by size: its timing depends on the encoder; only cuts, then stop().
      const store = await openSqliteStore({ ...options(path, mode), walCheckpointBytes: 1e12 });
      const resolver = new SeriesResolver(store.catalog.tenant('default'));
      const model: Model = Array.from({ length: SERIES }, () => new Map());
      for (let step = 0; step < 60; step++) await commitRandom(store, resolver, model, rnd, 30);
      await store.settle();
      await store.close();
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare(`SELECT series_id, min_ts, max_ts, count, sum, min, max, first, last, data FROM ${TABLE.chunks} ORDER BY series_id, min_ts`).raw().all();
      } finally {
        db.close();
      }
    };
    expect(await run('worker')).toEqual(await run('inline'));
  });

  it.each(['worker', 'inline'] as const)('%s: background compaction after a checkpoint packs the small cut chunks', async (mode) => {
    const store = await openSqliteStore({ ...options(join(dir, `pack-${mode}.db`), mode), walCheckpointBytes: 1e12 });
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    const model: Model = Array.from({ length: SERIES }, () => new Map());
    try {
      // In time order, 40-point cuts: ~50 small chunks per series.
      for (let tick = 0; tick < 2000; tick += 50) {
        const batch = [];
        for (let s = 0; s < SERIES; s++) for (let t = tick; t < tick + 50; t++) batch.push({ s, t, v: s * 10_000 + t });
        await store.commit([buildRowBatch(batch.map((p) => ({ metricId: `enc.s${p.s}`, timestamp: T0 + p.t * 1000, value: p.v })), resolver, T0)]);
        for (const p of batch) model[p.s]!.set(T0 + p.t * 1000, p.v);
      }
      await store.settle();
      const cutChunks = store.stats().chunks;
      expect(cutChunks).toBeGreaterThanOrEqual(SERIES * 40);
      // A background checkpoint, as the size or age limit would start, then its compaction.
      await store.settle(60_000, { checkpoint: true });
      await expectModel(store, model, `${mode} packed`);
      // Each series' 2,000 points fit one chunk: a run of 4+ small chunks is merged whole.
      expect(store.stats().chunks).toBeLessThanOrEqual(SERIES * 2);
    } finally {
      await store.close();
    }
  });

  it('the writer encodes cuts itself when the encoder thread falls behind, so pending points stay bounded', async () => {
    const rnd = mulberry32(41);
    const limit = 200;
    const store = await openSqliteStore({ ...options(join(dir, 'behind.db'), 'worker'), walCheckpointBytes: 1e12, maxPendingCutPoints: limit });
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    const model: Model = Array.from({ length: SERIES }, () => new Map());
    try {
      // Only microtasks between commits (SQLite's commit has settled its promise when it returns):
      // the encoder thread's results, messages of a later turn, cannot arrive, as if it starved.
      let peak = 0;
      for (let step = 0; step < 200; step++) {
        await commitRandom(store, resolver, model, rnd, 30);
        peak = Math.max(peak, store.stats().maintenance!.pendingCutPoints);
      }
      const m = store.stats().maintenance!;
      expect(m.cutsEncodedByWriter).toBeGreaterThan(0);
      // Bounded by the limit plus what a few commits add (30 points each, cut in 40s), not by
      // the 6,000 points committed.
      expect(peak).toBeLessThan(limit + 400);
      await expectModel(store, model, 'behind');
      await store.settle();
      await expectModel(store, model, 'behind settled');
    } finally {
      await store.close();
    }
  });

  it('a cut the writer encoded and landed keeps its shared buffers until the encoder thread returns them', async () => {
    // An encoder whose tasks finish when the test says so; at send time it copies what each
    // cut's buffers hold, and at finish time it checks they still hold it (shared memory: a
    // buffer recycled into a new cut while the thread reads it would show other points).
    const held: Array<{ task: EncodeTask; copies: Float64Array[]; finish: () => void }> = [];
    let holding = true;
    const encoder: ChunkEncoder = {
      run(task: EncodeTask): Promise<EncodeResult> {
        if (!holding) return Promise.resolve(runEncodeTask(task));
        return new Promise((resolve) => {
          const copies = task.kind === 'cut' ? task.cuts.flatMap((c) => [c.timestamps.slice(), c.values.slice()]) : [];
          held.push({ task, copies, finish: () => resolve(runEncodeTask(task)) });
        });
      },
      warm: () => undefined,
      lastError: undefined,
      close: () => undefined,
    };
    const rnd = mulberry32(43);
    const store = await openSqliteStore({ ...options(join(dir, 'shared.db'), 'worker'), chunkEncoder: encoder, walCheckpointBytes: 1e12, maxPendingCutPoints: 100 });
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    const model: Model = Array.from({ length: SERIES }, () => new Map());
    try {
      // Cuts go to the held encoder; past 100 pending points the writer encodes them itself and
      // lands them, with their encoder tasks still out; later commits cut again and want buffers.
      for (let step = 0; step < 60; step++) {
        await commitRandom(store, resolver, model, rnd, 30);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      expect(store.stats().maintenance!.cutsEncodedByWriter).toBeGreaterThan(0);
      expect(held.length).toBeGreaterThan(1);
      for (const h of held) {
        if (h.task.kind !== 'cut') continue;
        const now = h.task.cuts.flatMap((c) => [c.timestamps, c.values]);
        now.forEach((column, k) => expect([...column], `task ${held.indexOf(h)} column ${k}`).toEqual([...h.copies[k]!]));
      }
      holding = false;
      for (const h of held) h.finish();
      await store.settle();
      await expectModel(store, model, 'after the held tasks returned');
    } finally {
      holding = false;
      for (const h of held) h.finish();
      await store.close();
    }
  });

  it('a checkpoint while a background compaction waits for its merge task drops the plan: settle() returns, nothing is lost', async () => {
    // The checkpoint's generation bump makes the merge result be ignored when it comes back; a
    // plan still waiting for it kept compactionRunning true and settle() waiting forever.
    const heldMerges: Array<() => void> = [];
    const encoder: ChunkEncoder = {
      run(task: EncodeTask): Promise<EncodeResult> {
        if (task.kind === 'cut') return Promise.resolve(runEncodeTask(task));
        return new Promise((resolve) => heldMerges.push(() => resolve(runEncodeTask(task))));
      },
      warm: () => undefined,
      lastError: undefined,
      close: () => undefined,
    };
    const rnd = mulberry32(44);
    const store = await openSqliteStore({ ...options(join(dir, 'held-merge.db'), 'worker'), chunkEncoder: encoder, walCheckpointBytes: 1e12 });
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    const model: Model = Array.from({ length: SERIES }, () => new Map());
    try {
      for (let step = 0; step < 40; step++) await commitRandom(store, resolver, model, rnd, 50);
      const settling = store.settle(10_000, { checkpoint: true }).catch((error: unknown) => error);
      const started = Date.now();
      while (heldMerges.length === 0 && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(heldMerges.length, 'a background merge task reached the encoder').toBeGreaterThan(0);
      await store.checkpoint();
      for (const release of heldMerges.splice(0)) release();
      expect(await settling).toBeUndefined();
      expect(store.stats().maintenance).toMatchObject({ compactionRunning: false });
      await expectModel(store, model, 'after the checkpoint dropped the compaction');
    } finally {
      for (const release of heldMerges) release();
      await store.close();
    }
  });

  it.each(['close', 'abandon'] as const)('%s with cuts still at the encoder loses nothing', async (how) => {
    const rnd = mulberry32(how === 'close' ? 31 : 32);
    const path = join(dir, `${how}.db`);
    const model: Model = Array.from({ length: SERIES }, () => new Map());
    for (let round = 0; round < 5; round++) {
      const store = await openSqliteStore(options(path, 'worker'));
      const resolver = new SeriesResolver(store.catalog.tenant('default'));
      for (let step = 0; step < 20; step++) await commitRandom(store, resolver, model, rnd, 50);
      expect(store.stats().maintenance!.pendingCuts).toBeGreaterThan(0);
      if (how === 'close') await store.close();
      else await store.abandon();
      const reopened = await openSqliteStore(options(path, 'worker'));
      try {
        await expectModel(reopened, model, `${how} round ${round}`);
        if (how === 'close') expect(reopened.stats()).toMatchObject({ headPoints: 0, walBytes: 0 });
      } finally {
        await reopened.abandon();
      }
    }
  });
});
