/**
 * Rollup records built by the chunk encoder (src/storage/rollup/encoded_rollups.ts): for cuts
 * (in order or not) and compaction merges, each chunk's records are bit for bit what
 * buildRollupRecords makes from the chunk's decoded points; a store lands every chunk with its
 * rollups, queried or not; and chunks of series nobody queries do not evict rollups in use.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from './sqlite_store_kit.js';
import { runEncodeTask, type EncodeResult } from '../../src/storage/chunk_encode_task.js';
import { encodeChunks, CODEC_EMMS_CHUNK, STORED_CHUNK_MAX_POINTS, type EncodedChunk } from '../../src/storage/chunk_encoding.js';
import { keepEncodedRollups } from '../../src/storage/rollup/encoded_rollups.js';
import { RollupStore, WARM_EVICTION_MIN_AGE_MS } from '../../src/storage/rollup/rollup_store.js';
import { buildRollupRecords, ROLLUP_RESOLUTIONS_MS } from '../../src/core/rollup_records.js';
import { summarizeChunk } from '../../src/core/chunk_summary.js';
import { decodeChunk } from '../../src/core/codec.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import type { ChunkRow } from '../../src/storage/backend.js';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const T0 = Date.UTC(2026, 3, 1);
/** Points per head cut in the store tests: small, so that there are many cut chunks. */
const CUT_POINTS = 40;

/** Resolves once `condition` holds (checked every 5 ms), or fails after 20 s. */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The bytes of a float64 array: equal bytes mean equal bits (NaN, -0 included). */
const bits = (a: Float64Array): number[] => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

/** Each chunk's encoder-built records equal buildRollupRecords over its decoded points. */
function expectRecordsOfPoints(chunks: readonly EncodedChunk[], label: string): void {
  for (const [k, c] of chunks.entries()) {
    const d = decodeChunk(c.bytes);
    expect(c.rollupRecords, `${label} chunk ${k}`).toHaveLength(ROLLUP_RESOLUTIONS_MS.length);
    ROLLUP_RESOLUTIONS_MS.forEach((r, i) => {
      expect(bits(c.rollupRecords![i]!), `${label} chunk ${k} at ${r} ms`).toEqual(bits(buildRollupRecords(d.timestamps, d.values, r)));
    });
  }
}

/** `n` points of a gauge or counter at 1–40 s steps, with resets; shuffled (and repeated) unless `inOrder`. */
function cutPoints(rnd: () => number, n: number, inOrder: boolean): { timestamps: Float64Array; values: Float64Array; inOrder: boolean } {
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  let t = T0 + Math.floor(rnd() * 600_000);
  let v = 0;
  for (let i = 0; i < n; i++) {
    t += 1_000 + Math.floor(rnd() * 39_000);
    v = rnd() < 0.01 ? 0 : v + Math.round(rnd() * 1e4) / 100;
    ts[i] = t;
    vs[i] = rnd() < 0.5 ? v : Math.round((rnd() - 0.3) * 1e6) / 1e3;
  }
  if (!inOrder) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [ts[i], ts[j]] = [ts[j]!, ts[i]!];
      // Repeated timestamps: the last arrival wins.
      if (rnd() < 0.05) ts[i] = ts[j]!;
    }
  }
  return { timestamps: ts, values: vs, inOrder };
}

describe('encoder-built rollup records', () => {
  it('equal buildRollupRecords over each cut chunk\'s decoded points, in order or sorted, one or several chunks', () => {
    const rnd = mulberry32(41);
    const cuts = [cutPoints(rnd, 1, true), cutPoints(rnd, 500, true), cutPoints(rnd, 700, false), cutPoints(rnd, STORED_CHUNK_MAX_POINTS * 2 + 77, true), cutPoints(rnd, 20_000, false)];
    const result = runEncodeTask({ kind: 'cut', cuts, rollups: true }) as Extract<EncodeResult, { kind: 'cut' }>;
    result.chunks.forEach((chunks, k) => expectRecordsOfPoints(chunks, `cut ${k}`));
    expect(result.chunks[3]!.length).toBeGreaterThan(2);
    // Without the flag (rollups off), none are built…
    const plain = runEncodeTask({ kind: 'cut', cuts }) as Extract<EncodeResult, { kind: 'cut' }>;
    expect(plain.chunks.flat().every((c) => c.rollupRecords === undefined)).toBe(true);
    // …and the chunks are the same bytes either way.
    expect(plain.chunks.flat().map((c) => Array.from(c.bytes))).toEqual(result.chunks.flat().map((c) => Array.from(c.bytes)));
  });

  it('equal buildRollupRecords over each merged chunk\'s decoded points, overlapping clusters included', () => {
    const rnd = mulberry32(42);
    for (let trial = 0; trial < 20; trial++) {
      const members = Array.from({ length: 2 + Math.floor(rnd() * 3) }, (_, k) => {
        const p = cutPoints(rnd, 1 + Math.floor(rnd() * 3000), true);
        const [chunk] = encodeChunks(p.timestamps, p.values);
        return { id: 10 + k, codec: CODEC_EMMS_CHUNK, count: chunk!.count, data: chunk!.bytes, minTs: chunk!.minTs };
      }).sort((a, b) => a.minTs - b.minTs || a.id - b.id);
      const result = runEncodeTask({ kind: 'merge', rollups: true, series: [{ clusters: [{ members, overlapping: true }] }] }) as Extract<EncodeResult, { kind: 'merge' }>;
      const [clusters] = result.series;
      if (!Array.isArray(clusters)) throw new Error(clusters!.detail);
      expectRecordsOfPoints(clusters[0]!, `trial ${trial}`);
    }
  });

  it('chunks of series nobody queried lately are kept only while that evicts no rollup used in the last minute', () => {
    const rnd = mulberry32(43);
    const chunkOf = (): EncodedChunk => {
      const p = cutPoints(rnd, 360, true);
      const [chunk] = encodeChunks(p.timestamps, p.values);
      chunk!.rollupRecords = ROLLUP_RESOLUTIONS_MS.map((r) => buildRollupRecords(p.timestamps, p.values, r));
      return chunk!;
    };
    const chunks = Array.from({ length: 4 }, chunkOf);
    const entryBytes = (c: EncodedChunk): number => c.rollupRecords!.reduce((a, r) => a + r.byteLength, 256);
    const store = new RollupStore(Math.max(...chunks.map(entryBytes)) * 2 + 1);
    const now = Date.now();
    expect(keepEncodedRollups(store, 1, 1, chunks[0]!, now)).toBe(true);
    expect(keepEncodedRollups(store, 1, 2, chunks[1]!, now)).toBe(true);
    expect([store.has(1), store.has(2)]).toEqual([true, true]);
    // Full of rollups used just now: an unqueried series' chunk is not kept…
    keepEncodedRollups(store, 1, 3, chunks[2]!, now);
    expect([store.has(1), store.has(2), store.has(3)]).toEqual([true, true, false]);
    // …a queried series' chunk is, evicting the least recently used…
    store.noteQueried(9, now);
    keepEncodedRollups(store, 9, 3, chunks[2]!, now);
    expect([store.has(1), store.has(2), store.has(3)]).toEqual([false, true, true]);
    // …and a minute on, an unqueried series' chunk may replace what nobody used since.
    keepEncodedRollups(store, 1, 4, chunks[3]!, Date.now() + WARM_EVICTION_MIN_AGE_MS);
    expect(store.has(4)).toBe(true);
    expect(store.stats().bytes).toBeLessThanOrEqual(store.budgetBytes);
    // A chunk without records (encoded by the writer) reports so.
    expect(keepEncodedRollups(store, 1, 5, { ...chunks[0]!, rollupRecords: undefined }, now)).toBe(false);
  });
});

describe('a store keeping encoder-built rollups', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'emms-encoded-rollups-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Checks every chunk in the catalogue; returns how many there are and how many hold more than a cut. */
  async function expectRollupsOfEveryChunk(store: StorageEngine, label: string): Promise<{ chunks: number; merged: number }> {
    let chunks = 0;
    let merged = 0;
    for (const seriesId of store.chunks.seriesWithChunks()) {
      for (const meta of store.chunks.chunksOf(seriesId)) {
        chunks++;
        if (meta.count > CUT_POINTS) merged++;
        const points = await store.chunkPoints(seriesId, meta);
        const s = summarizeChunk(points.timestamps, points.values);
        const row: ChunkRow = {
          id: meta.id, series_id: seriesId, min_ts: s.minTs, max_ts: s.maxTs, count: s.count, codec: CODEC_EMMS_CHUNK, format_version: 1,
          sum: s.sum, min: s.min, max: s.max, first: s.firstValue, last: s.lastValue, mean: s.mean, m2: s.m2,
        };
        for (const r of ROLLUP_RESOLUTIONS_MS) {
          const held = store.rollups.recordsFor(row, r);
          expect(held, `${label} chunk ${meta.id} at ${r} ms`).toBeDefined();
          expect(bits(held!), `${label} chunk ${meta.id} at ${r} ms`).toEqual(bits(buildRollupRecords(points.timestamps, points.values, r)));
        }
      }
    }
    return { chunks, merged };
  }

  it.each(['worker', 'inline'] as const)('%s: every landed chunk, cut or compacted, has rollups equal to its decoded points, with no query', async (mode) => {
    const rnd = mulberry32(mode === 'worker' ? 44 : 45);
    // No checkpoint by size: the cut chunks stay until the checkpoint below compacts them.
    const store = await openSqliteStore({ path: join(dir, `${mode}.db`), headCutPoints: CUT_POINTS, walCheckpointBytes: 1e12, chunkEncoding: mode });
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    try {
      for (let step = 0; step < 80; step++) {
        const batch = Array.from({ length: 1 + Math.floor(rnd() * 60) }, () => ({
          metricId: `enc.s${Math.floor(rnd() * 5)}`, timestamp: T0 + Math.floor(rnd() * 20_000) * 1000, value: Math.round(rnd() * 1e5) / 100,
        }));
        await store.commit([buildRowBatch(batch, resolver, T0)]);
      }
      await waitFor(() => store.stats().maintenance!.pendingCuts === 0);
      const cut = await expectRollupsOfEveryChunk(store, `${mode} cut`);
      expect(cut.chunks).toBeGreaterThan(20);
      await store.settle(60_000, { checkpoint: true });
      const compacted = await expectRollupsOfEveryChunk(store, `${mode} compacted`);
      // Compaction merged cut chunks: their replacements came with records too.
      expect(compacted.merged).toBeGreaterThan(0);
      expect(store.rollups.stats().misses).toBe(0);
    } finally {
      await store.close();
    }
  });
});
