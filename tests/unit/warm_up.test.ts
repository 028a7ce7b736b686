/**
 * The fresh server's warm-up (src/server/warm_up.ts): synthetic frames go through a real decode
 * pool and decode to points for the warm-up tenant only; nothing is collected into the server's
 * store (series are created in a scratch store that is deleted afterwards), the
 * warm-up stream is forgotten on every worker, and a refused frame is a bug, not a silent pass.
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Unpackr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import type { SeriesIdentity, SeriesTable } from '../../src/model/api.js';
import { DecodePool, type DecodeOutcome } from '../../src/ingest/decode_pool.js';
import { TENANT_NAME_PATTERN } from '../../src/model/tenant.js';
import {
  POINTS_PER_FRAME, WARM_UP_TENANT, compileRouteChecks, syntheticRowFrame, warmUpIngest, warmUpCommitPath, type WarmUpDecodePool,
} from '../../src/server/warm_up.js';
import type { RouteDefinition } from '../../src/http/route.js';
import { checkerOf } from '../../src/http/strict_params.js';
import { INTEROP_CODECS } from '../../src/interop/interop_sink.js';
import { CODEC_SAMPLES, CODEC_SERIES, BODIES_PER_WORKER, warmUpCodecs } from '../../src/server/codec_warm_up.js';
import { HEALTH_SCHEMA, QUERY_GET_SCHEMA } from '../../src/server/builtin_schemas.js';

/** Records identities; fails the test if anything tries to store (collect). */
class DecodeOnlyTable implements SeriesTable {
  readonly identities: SeriesIdentity[] = [];
  collected = 0;
  get size(): number {
    return this.identities.length;
  }
  add(series: SeriesIdentity): number {
    return this.identities.push(series) - 1;
  }
  collect(): Promise<{ accepted: number }> {
    this.collected++;
    return Promise.reject(new Error('warm-up must not store anything'));
  }
}

let pool: DecodePool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('warm-up of the ingest path', () => {
  it('decodes synthetic frames on every worker for the warm-up tenant only, storing nothing', async () => {
    const tables = new Map<string, DecodeOnlyTable[]>();
    pool = new DecodePool({
      threads: 2, maxPointsPerBatch: 5000, customFrameNames: [], codecs: INTEROP_CODECS,
      createSeriesTable: (tenant) => {
        const t = new DecodeOnlyTable();
        tables.set(tenant, [...(tables.get(tenant) ?? []), t]);
        return t;
      },
    });
    await pool.start();
    // A budget no test machine reaches: every frame must come back here.
    const report = await warmUpIngest(pool, { framesInFlight: 6, rounds: 2, pointsPerFrame: 200, budgetMs: 120_000, resolveSeries: 120 });
    expect(report).toMatchObject({ frames: 12, points: 12 * 200, seriesCommitted: 120, complete: true });
    // Remote write and line protocol (plain and gzip) decoded on both workers, into the same tables.
    expect(report.codecs).toEqual({ bodies: 2 * 2 * BODIES_PER_WORKER, points: 2 * 2 * BODIES_PER_WORKER * CODEC_SERIES * CODEC_SAMPLES });
    expect(report.elapsedMs).toBeGreaterThan(0);
    expect([...tables.keys()]).toEqual([WARM_UP_TENANT]);
    // One mirror per worker, each holding the frame's 200 series and the codecs' (remote write's
    // and line protocol's, 100 each) once, none collected.
    const mirrors = tables.get(WARM_UP_TENANT)!;
    expect(mirrors).toHaveLength(2);
    for (const m of mirrors) {
      expect(m.identities).toHaveLength(200 + 2 * CODEC_SERIES);
      expect(m.collected).toBe(0);
    }
    // The codecs' series may be numbered before or after the frame's: find one of the frame's by its tags.
    expect(mirrors[0]!.identities.find((i) => i.tags?.rack === '13')).toMatchObject({ metricId: 'warm_up.metric_3', tags: { hostname: 'warm-up-1', region: 'warm-up-1', rack: '13' } });
  });

  it('sends every frame, spreads them over the workers and forgets the warm-up stream on each', async () => {
    const calls: Array<{ worker: number; tenant: string; stream: number | undefined; bytes: number }> = [];
    const forgotten: Array<[number, string, number]> = [];
    const fake: WarmUpDecodePool = {
      threads: 3,
      decodeCopy: async (worker, view, _format, requireSeq, tenant, stream) => {
        expect(requireSeq).toBe(true);
        calls.push({ worker, tenant, stream, bytes: view.byteLength });
        return { kind: 'series', seq: 0, points: 7, table: new DecodeOnlyTable(), seriesOf: new Int32Array(0), timestamps: new Float64Array(0), values: new Float64Array(0) } satisfies DecodeOutcome;
      },
      forgetStream: (worker, tenant, stream) => forgotten.push([worker, tenant, stream]),
    };
    const report = await warmUpIngest(fake, { framesInFlight: 5, rounds: 3, resolveSeries: 10 });
    expect(report.complete).toBe(true);
    expect(report.frames).toBe(15);
    expect(report.seriesCommitted).toBe(10);
    expect(report.points).toBe(15 * 7);
    expect(new Set(calls.map((c) => c.worker))).toEqual(new Set([0, 1, 2]));
    expect(calls.every((c) => c.tenant === WARM_UP_TENANT && c.stream === 1)).toBe(true);
    expect(forgotten).toEqual([[0, WARM_UP_TENANT, 1], [1, WARM_UP_TENANT, 1], [2, WARM_UP_TENANT, 1]]);
  });

  it('past its budget start-up stops waiting; frames still out finish (or fail) in the background', async () => {
    const late: Array<(o: DecodeOutcome) => void> = [];
    const failLate: Array<(e: Error) => void> = [];
    const forgotten: number[] = [];
    const fake: WarmUpDecodePool = {
      threads: 1,
      decodeCopy: (_w, _v, _f, _r, _t, _s) => new Promise<DecodeOutcome>((resolve, reject) => {
        late.push(resolve);
        failLate.push(reject);
      }),
      forgetStream: (w) => forgotten.push(w),
    };
    const report = await warmUpIngest(fake, { framesInFlight: 3, rounds: 2, budgetMs: 40, resolveSeries: 10 });
    expect(report).toMatchObject({ frames: 0, points: 0, complete: false });
    expect(report.elapsedMs).toBeGreaterThanOrEqual(35);
    // One round only: the second is not started past the budget.
    expect(late).toHaveLength(3);
    expect(forgotten).toEqual([0]);
    // A late failure is not an unhandled rejection (vitest would fail the run).
    failLate[0]!(new Error('worker gone'));
    late[1]!({ kind: 'series', seq: 0, points: 1, table: new DecodeOnlyTable(), seriesOf: new Int32Array(0), timestamps: new Float64Array(0), values: new Float64Array(0) });
    await new Promise((r) => setTimeout(r, 10));
  });

  it('creates and commits series in a scratch store of its own, each once, and leaves no file behind', async () => {
    const scratchDirs = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith('emms-warm-up-'));
    const before = scratchDirs();
    // 10 series per synthetic host share equal tags in separate objects, as a worker's reply has them.
    expect(await warmUpCommitPath(250, Date.now(), 3)).toBe(250);
    expect(await warmUpCommitPath(1, Date.now(), 0)).toBe(1);
    expect(scratchDirs()).toEqual(before);
  });

  it('compiles the request checks of the query and ingest routes, so a first query finds them compiled', async () => {
    const handler = async () => ({ body: '' });
    const routes: RouteDefinition[] = [
      { method: 'GET', pattern: '/api/v1/query', access: 'reader', schema: QUERY_GET_SCHEMA, handler },
      { method: 'GET', pattern: '/no-schema', access: 'public', handler },
      // An operator's route: compiled at its first request, not at start-up.
      { method: 'GET', pattern: '/health', access: 'public', schema: HEALTH_SCHEMA, handler },
    ];
    const fake: WarmUpDecodePool = {
      threads: 1,
      decodeCopy: async () => ({ kind: 'series', seq: 0, points: 1, table: new DecodeOnlyTable(), seriesOf: new Int32Array(0), timestamps: new Float64Array(0), values: new Float64Array(0) }),
      forgetStream: () => undefined,
    };
    const report = await warmUpIngest(fake, { framesInFlight: 1, rounds: 1, resolveSeries: 1, routes, budgetMs: 120_000 });
    expect(report.routesChecked).toBe(1);
    // The compiled checker is the one requests use: it names a bad parameter and its value.
    const problems = checkerOf(QUERY_GET_SCHEMA).check(new URLSearchParams({ metric_pattern: 'cpu.*', interval: 'soon' }), undefined, false);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ name: 'interval', value: 'soon' });
    // A schema Ajv cannot compile stops start-up instead of failing the route's first request.
    const broken: RouteDefinition = { method: 'GET', pattern: '/broken', access: 'public', schema: { tag: 'query', responses: {}, query: { n: { schema: { type: 'nonsense' } } } } as never, handler };
    expect(() => compileRouteChecks([broken])).toThrow(/schema/);
  });

  it('goes on without the scratch store when it cannot make one, saying why', async () => {
    const fake: WarmUpDecodePool = {
      threads: 1,
      decodeCopy: async () => ({ kind: 'series', seq: 0, points: 1, table: new DecodeOnlyTable(), seriesOf: new Int32Array(0), timestamps: new Float64Array(0), values: new Float64Array(0) }),
      forgetStream: () => undefined,
    };
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = '/nonexistent/emms-warm-up-test';
    try {
      const report = await warmUpIngest(fake, { framesInFlight: 2, rounds: 1, budgetMs: 120_000 });
      expect(report).toMatchObject({ frames: 2, seriesCommitted: 0, complete: true });
      expect(report.storeWarmUpError).toMatch(/nonexistent/);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it('the codec warm-up decodes remote write and line protocol for its tenant only; a failure is reported, not thrown', async () => {
    const tables = new Map<string, DecodeOnlyTable>();
    pool = new DecodePool({
      threads: 0, maxPointsPerBatch: 5000, customFrameNames: [], codecs: INTEROP_CODECS,
      createSeriesTable: (tenant) => {
        const t = new DecodeOnlyTable();
        tables.set(tenant, t);
        return t;
      },
    });
    await pool.start();
    const report = await warmUpCodecs(pool, WARM_UP_TENANT, 1_700_000_000_000);
    expect(report).toEqual({ bodies: 2 * BODIES_PER_WORKER, points: 2 * BODIES_PER_WORKER * CODEC_SERIES * CODEC_SAMPLES });
    expect([...tables.keys()]).toEqual([WARM_UP_TENANT]);
    const table = tables.get(WARM_UP_TENANT)!;
    expect(table.collected).toBe(0);
    expect(table.identities).toHaveLength(2 * CODEC_SERIES);
    expect(table.identities[0]).toMatchObject({ metricId: 'warm_up_metric_0', tags: { host: 'warm-up-0', region: 'warm-up-1' } });
    expect(table.identities[CODEC_SERIES]).toMatchObject({ metricId: 'warm_up.value', tags: { host: 'warm-up-0', metric: 'm0' } });
    // A pool without the interop codecs (or one refusing the body) leaves start-up going, saying why.
    const bare = new DecodePool({ threads: 0, maxPointsPerBatch: 5000, customFrameNames: [], createSeriesTable: () => new DecodeOnlyTable() });
    await bare.start();
    try {
      const failed = await warmUpCodecs(bare, WARM_UP_TENANT);
      expect(failed.bodies).toBe(0);
      expect(failed.error).toMatch(/no decode codec named "remote_write"/);
    } finally {
      await bare.close();
    }
    expect((await warmUpCodecs({ threads: 1 }, WARM_UP_TENANT)).error).toMatch(/no codecs/);
  });

  it('a refused warm-up frame is reported, not passed over', async () => {
    const fake: WarmUpDecodePool = {
      threads: 0,
      decodeCopy: async () => ({ kind: 'refused', seq: 0, error: 'bad frame', reason: 'decode', index: -1, field: '' }),
      forgetStream: () => undefined,
    };
    await expect(warmUpIngest(fake, { framesInFlight: 1, rounds: 1 })).rejects.toThrow(/not decoded as points: bad frame/);
  });

  it('the synthetic frame is a row frame the size agents send, for a valid tenant name', () => {
    expect(TENANT_NAME_PATTERN.test(WARM_UP_TENANT)).toBe(true);
    const bytes = syntheticRowFrame(9, POINTS_PER_FRAME, 1_700_000_000_000);
    // Lent buffers come in power-of-two classes: the frame must use the 256 KiB one, as agents' 1,000-point frames do.
    expect(bytes.byteLength).toBeGreaterThan(128 * 1024);
    expect(bytes.byteLength).toBeLessThanOrEqual(256 * 1024);
    const decoded = new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(bytes) as { seq: number; metrics: unknown[] };
    expect(decoded.seq).toBe(9);
    expect(decoded.metrics).toHaveLength(POINTS_PER_FRAME);
  });
});
