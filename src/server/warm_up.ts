/**
 * Warm-up of the ingest path before a fresh server announces itself, so that its first second
 * of acks looks like the rest (issue 16: acks took 65–300 ms in the first ~0.6 s at half rate).
 *
 * What a fresh server's first second paid for, and what is done here about it (each step says
 * why). Profiled at half rate from the first frame on (bench/fresh_server_acks.bench.ts), the
 * main thread spent ~220 ms of its first second in `decodeCopy`, nearly all of it in fresh
 * 256 KiB frame buffers: on this machine a fresh buffer's first write costs 2.3–2.7 ms of page
 * faults, a reused one ~15 µs (256 of each, measured in one process). The decode pool keeps
 * buffers that come back from its workers, but a fresh pool has none, and the frames that pile
 * up while the first ones are slow each take a new one.
 *
 * 1. Synthetic frames through the decode pool (`decodeCopy`, the WebSocket path), FRAMES_IN_FLIGHT
 *    at once: each takes a buffer, the worker gives it back, and the pool keeps it, so the first
 *    real frames find FRAMES_IN_FLIGHT buffers with their pages already mapped. Profiled over
 *    the first second of a fresh server at half rate, this took `decodeCopy` from 120 ms of
 *    the main thread to 5 ms, and its garbage collection from 183 to 11 ms (fewer fresh
 *    buffers counting as external memory).
 * 2. ROUNDS rounds of them: the decode worker's scanner, the reply path on this thread and the
 *    message paths run often enough for V8 to compile them before real frames do.
 * 3. The frames belong to WARM_UP_TENANT's own decode state and are only decoded: nothing is
 *    collected, so nothing reaches the store (no series, no points, no write-ahead record).
 *    Its stream is forgotten afterwards; the tenant's table is dropped by the pool's idle
 *    eviction. A real tenant of that name would only find those series numbered already.
 *
 * 4. The store's side, in a scratch store of its own (a throw-away SQLite file in the system's
 *    temporary directory, removed afterwards): RESOLVE_SERIES synthetic series, each with its
 *    own tags object as a decode worker sends them, resolved, created and committed, then
 *    COMMITS more commits of one point each. A fresh server creates all its series in its
 *    first frames (the bench: 4,000 in the first four), each step once per series, so that code
 *    ran cold exactly when the first acks were waiting on it: in one process, 1,000 series took
 *    129–147 ms to resolve the first two times and 27–46 ms the next three (a busy machine,
 *    load ~15; compilation and heap growth together). Profiled at half rate, the first second
 *    also paid for the commit itself (series rows, the write-ahead record's encoding and
 *    compression, head appends) while it was cold. The scratch store runs the same code on
 *    the same classes; it is stopped and its file deleted before the port takes frames, so
 *    the server's own store sees nothing (no series, no points, no write-ahead record).
 *    Measured from dist/, one process per run, 4 alternated pairs at load ~17: the first 120
 *    frames of 1,000 points into a fresh store (4,000 new series in the first four) took
 *    286–396 ms of CPU after this step against 343–412 ms after the scratch catalogue it
 *    replaces (16–81 ms less in each pair; the first four frames 207–317 against 246–320 ms).
 *    The step costs 188–226 ms of CPU at start against 91–118 ms for the catalogue. What is
 *    left, ~60 µs per new series, is the creation itself (resolution, the catalogue, series
 *    rows, and the scavenges that promote it all), paid once per series. When the step cannot
 *    run (no writable temporary directory) start-up goes on without it and says why.
 *
 * 5. The request checks (Ajv, src/http/strict_params.ts) of the data routes, WARM_ROUTE_TAGS,
 *    compiled here instead of at each route's first request: the first compile costs Ajv's own
 *    start (~370 ms in one process on a busy machine, FEDERATE_SCHEMA first; the query routes'
 *    own 3–5 ms after it), which a fresh server's first query paid (82–310 ms) on the thread
 *    that acknowledges ingest. It runs while the decode workers decode the warm-up frames.
 *    Only those routes: all 92 routes with a schema took start-up from 5.6 to 10.1–10.6 s on
 *    a machine at load 17 (the rest are operators' routes, called later and seldom, which
 *    still compile at their first request, then only their own few ms).
 *
 * 6. The aggregation query path and its JSON answer, in the same scratch store before it stops
 *    (query_warm_up.ts): a fresh server's first queries ran that code cold, and bench:peers'
 *    "1 s after ingest" row is the median of its first five.
 *
 * Not warmed: the chunk encoder (it warms itself when the store opens, src/storage/chunk_encoder.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { checkerOf } from '../http/strict_params.js';
import { warmUpCodecs, type CodecWarmUpPool, type CodecWarmUpReport } from './codec_warm_up.js';
import type { RouteDefinition } from '../http/route.js';
import type { DecodeOutcome } from '../ingest/decode_pool.js';
import type { PayloadFormat } from '../ingest/frame_decoder.js';
import { EngineMetricsSystem } from '../metrics_system.js';
import type { Tags } from '../model/metric.js';
import { SCRATCH_HEAD_CUT_POINTS, warmUpQueryPath } from './query_warm_up.js';

/** A valid tenant name (src/model/tenant.ts) that no operator is likely to choose. */
export const WARM_UP_TENANT = 'emms.warm-up';
/**
 * Frames decoded at once, so buffers the pool keeps: 64 of 256 KiB are the 16 MiB of small
 * buffers it keeps (src/ingest/decode_pool.ts MAX_POOLED_BYTES), and the frames in flight at
 * half rate (~1,200 frames/s) with acks up to 50 ms late.
 */
export const FRAMES_IN_FLIGHT = 64;
/**
 * Rounds of them. One: 64 frames of 1,000 points already run the decoder's loops hot enough
 * for V8 to compile them, and each further round cost start-up ~100–400 ms on the shared
 * test machine without a measurable gain.
 */
export const ROUNDS = 1;
/** Points per synthetic frame: one tick of 100 hosts × 10 metrics, ~150 KB, as agents send. */
export const POINTS_PER_FRAME = 1_000;
/**
 * Series of step 4: one frame's worth, every per-series step run 1,000 times (a quarter of
 * what the fresh-server bench creates).
 */
export const RESOLVE_SERIES = 1_000;
/** Commits of step 4 after the one that creates the series: the steady path (series known). */
export const COMMITS = 8;
const WARM_UP_STREAM = 1;

/** What warm-up needs of the decode pool (src/ingest/decode_pool.ts). */
export interface WarmUpDecodePool extends CodecWarmUpPool {
  readonly threads: number;
  decodeCopy(workerIndex: number, view: Uint8Array, format: PayloadFormat, requireSeq: boolean, tenant: string, stream?: number): Promise<DecodeOutcome>;
  forgetStream(workerIndex: number, tenant: string, stream: number): void;
}

/**
 * Longest wait for the warm-up before start-up goes on. On a busy machine the decode worker
 * gets little CPU and the warm-up took 0.4–1.2 s; past this budget the frames still in the
 * worker finish in the background (they only decode) and start-up does not wait for them.
 */
export const WARM_UP_BUDGET_MS = 300;
export interface WarmUpReport {
  /** Frames decoded before warmUpIngest returned. */
  frames: number;
  points: number;
  /** Series created and committed in the scratch store (step 4); 0 when it could not run. */
  seriesCommitted: number;
  /** Why step 4 did not run (say, no writable temporary directory): start-up goes on without it. */
  storeWarmUpError?: string;
  /** Routes whose request checks were compiled (step 5). */
  routesChecked: number;
  /** Remote-write and line-protocol bodies decoded (src/server/codec_warm_up.ts); undefined past the budget. */
  codecs?: CodecWarmUpReport;
  elapsedMs: number;
  /** False when the budget ran out first. */
  complete: boolean;
}

export interface WarmUpOptions {
  /** The server's route table: step 5 compiles the checks of its data routes; none when left out. */
  routes?: readonly RouteDefinition[];
  framesInFlight?: number;
  rounds?: number;
  pointsPerFrame?: number;
  budgetMs?: number;
  resolveSeries?: number;
}

/** The eight tags of a TSBS devops host, so frames and series are as large as an agent's. */
function syntheticTags(i: number): Tags {
  return {
    hostname: `warm-up-${Math.floor(i / 10)}`, region: 'warm-up-1', datacenter: 'warm-up-1a', rack: String(i % 100),
    os: 'Ubuntu16.04LTS', arch: 'x64', team: 'warm-up', service: String(i % 19),
  };
}

/** A row frame as agents send it on /api/v1/stream: `seq`, then the points as maps. */
export function syntheticRowFrame(seq: number, points: number, nowMs: number): Uint8Array {
  const metrics = [];
  for (let i = 0; i < points; i++) {
    metrics.push({
      metric_id: `warm_up.metric_${i % 10}`,
      value: (i % 100) + 0.25,
      timestamp: nowMs,
      tags: syntheticTags(i),
    });
  }
  return new Packr({ useRecords: false }).pack({ seq, metrics });
}

/**
 * Step 4: creates `series` synthetic series in a scratch store and commits `commits` more points
 * to each, through the server's own ingest path (ResolvedSeriesTable → SeriesResolver →
 * GroupCommitter → StorageEngine.commit); then runs step 6 (warmUpQueryPath) in the same store,
 * stops it and deletes its directory. Returns how many series step 4 created. The identities go through structuredClone,
 * as a decode worker's reply does, so each series has its own tags object.
 */
export async function warmUpCommitPath(series = RESOLVE_SERIES, nowMs = Date.now(), commits = COMMITS): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-warm-up-'));
  try {
    // Inline chunk encoding: no encoder thread for a store that lives a few hundred ms.
    // Small head cuts and no query workers: step 6's queries read chunks and heads inline.
    const scratch = new EngineMetricsSystem({ storage: 'sqlite', path: join(dir, 'warm-up.db'), queryWorkers: 0 }, {
      chunkEncoding: 'inline', headCutPoints: SCRATCH_HEAD_CUT_POINTS,
    });
    await scratch.start();
    try {
      const table = scratch.createSeriesTable();
      const identities = structuredClone(Array.from({ length: series }, (_, i) => ({ metricId: `warm_up.metric_${i % 10}`, tags: syntheticTags(i) })));
      for (const identity of identities) table.add(identity);
      for (let commit = 0; commit <= commits; commit++) {
        // collect() takes over its arrays (the ids overwrite the series numbers): new ones each time.
        const seriesOf = new Int32Array(series);
        const timestamps = new Float64Array(series).fill(nowMs - (commits - commit) * 10_000);
        const values = new Float64Array(series);
        for (let i = 0; i < series; i++) {
          seriesOf[i] = i;
          values[i] = (i % 100) + commit + 0.25;
        }
        await table.collect(seriesOf, timestamps, values);
      }
      const committed = scratch.stats().series;
      await warmUpQueryPath(scratch, nowMs);
      return committed;
    } finally {
      await scratch.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** OpenAPI tags (RouteSchema.tag) of the routes whose checks step 5 compiles: queries and ingest of every protocol. */
export const WARM_ROUTE_TAGS: ReadonlySet<string> = new Set(['query', 'ingest']);

/**
 * Step 5: compiles the request checks of the `routes` tagged WARM_ROUTE_TAGS (each schema once;
 * checkerOf keeps them) and returns how many it compiled. A schema Ajv cannot compile throws
 * here, at start-up, as it would have at the route's first request.
 */
export function compileRouteChecks(routes: readonly RouteDefinition[]): number {
  let checked = 0;
  for (const route of routes) {
    if (route.schema === undefined || !WARM_ROUTE_TAGS.has(route.schema.tag)) continue;
    checkerOf(route.schema);
    checked++;
  }
  return checked;
}

/**
 * Runs the steps above on `pool`; resolves when every frame is back, or when `budgetMs` has
 * passed (the rest finish in the background). A frame refused within the budget rejects: the
 * synthetic frame is always valid, so that is a bug.
 */
export async function warmUpIngest(pool: WarmUpDecodePool, options: WarmUpOptions = {}): Promise<WarmUpReport> {
  const started = performance.now();
  const inFlight = options.framesInFlight ?? FRAMES_IN_FLIGHT;
  const rounds = options.rounds ?? ROUNDS;
  const budgetMs = options.budgetMs ?? WARM_UP_BUDGET_MS;
  const workers = Math.max(1, pool.threads);
  const frame = syntheticRowFrame(0, options.pointsPerFrame ?? POINTS_PER_FRAME, Date.now());
  let frames = 0;
  let points = 0;
  let seriesCommitted = 0;
  let storeWarmUpError: string | undefined;
  let routesChecked = 0;
  let complete = true;
  let codecs: CodecWarmUpReport | undefined;
  // The other protocols' decoders warm on the workers beside the frames (codec_warm_up.ts); it never rejects.
  const codecWarmUp = warmUpCodecs(pool, WARM_UP_TENANT).then((r) => { codecs = r; });
  try {
    for (let round = 0; round < rounds && complete; round++) {
      const all = Promise.all(Array.from({ length: inFlight }, async (_, k) => {
        // decodeCopy copies the view before it returns, so one frame serves every request.
        const o = await pool.decodeCopy(k % workers, frame, 'msgpack', true, WARM_UP_TENANT, WARM_UP_STREAM);
        if (o.kind !== 'series') throw new Error(`BUG: the warm-up frame was not decoded as points: ${o.kind === 'refused' ? o.error : o.kind}`);
        frames++;
        points += o.points;
      }));
      // A refusal while steps 4 and 5 run must not be an unhandled rejection; the race below still sees it.
      all.catch(() => undefined);
      // Steps 4 and 5 run here while the workers decode the frames just sent.
      if (round === 0) {
        try {
          seriesCommitted = await warmUpCommitPath(options.resolveSeries ?? RESOLVE_SERIES);
        } catch (error) {
          // Only a warm-up: a server without it is slower in its first second, not wrong.
          storeWarmUpError = (error as Error).message;
        }
        routesChecked = compileRouteChecks(options.routes ?? []);
      }
      let timer: NodeJS.Timeout | undefined;
      const overBudget = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, started + budgetMs - performance.now()));
      });
      complete = await Promise.race([Promise.all([all, codecWarmUp]).then(() => true as const), overBudget]).finally(() => clearTimeout(timer));
      // Past the budget nobody waits for these any more: a late failure must not go unhandled.
      if (!complete) all.catch(() => undefined);
    }
  } finally {
    // Sent after the frames, so the worker forgets the stream once it has decoded them.
    for (let w = 0; w < workers; w++) pool.forgetStream(w, WARM_UP_TENANT, WARM_UP_STREAM);
  }
  return { frames, points, seriesCommitted, ...(storeWarmUpError === undefined ? {} : { storeWarmUpError }), routesChecked, ...(codecs === undefined ? {} : { codecs }), elapsedMs: performance.now() - started, complete };
}
