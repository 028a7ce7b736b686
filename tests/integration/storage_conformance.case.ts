/**
 * The storage conformance suite: what every storage back-end (SQLite, PostgreSQL, Redis) must
 * do behind the engine, checked through what an embedder reaches (createMetricsSystem, its
 * tenant views and its maintenance API) and, where a real process must die, through a child
 * process SIGKILLed mid-stream. Each back-end's test file builds a ConformanceTarget and calls
 * describeStorageConformance(target); every case takes a fresh store of its own.
 *
 * Every expectation is computed by the test from what it wrote (storage_conformance_model.ts),
 * never read back from the engine; data comes from a seeded PRNG, so a failure reproduces.
 * Waits are for conditions (stats, query answers), never fixed sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsSystem, MetricsSystemOptions } from '../../src/model/api.js';
import { checkKilledStore, runAndKill } from './storage_conformance_child.js';
import { checkServeKill, killServeMidStream } from './storage_conformance_serve.js';
import { openEngine, restart } from './storage_conformance_engine.js';
import { corruptChunkNamed, erasure, lastWriteWins, overlappingChunks, retention, tenantIsolation } from './storage_conformance_cases.js';
import { compactionDuringWrites, snapshotReadsDuringCompaction } from './storage_conformance_compaction.js';

/** One empty store of a back-end, usable by in-process engines and by `emms serve` processes. */
export interface ConformanceStore {
  /**
   * For createMetricsSystem (src/index.ts); `path` in a temp dir (the node's own files live
   * there, and `emms serve --data` is its folder). Plain data: it is passed to a child process
   * as JSON. The cases add their own queryWorkers, retention and tenant options.
   */
  options: MetricsSystemOptions;
  /** Environment of `emms serve` processes on this same store (METRICS_STORAGE_TYPE, the database URL …). */
  env: Record<string, string>;
  /**
   * The store is stopped: overwrite the bytes of one chunk (the store holds one series with
   * chunks when this is called) so that they no longer decode, e.g. flip a byte in the middle;
   * return the chunk's id.
   */
  corruptChunk(): Promise<number>;
  /** Drop schema / keys / temp dir. */
  dispose(): Promise<void>;
}

/**
 * The names of the suite's cases (the first is two tests: an embedded writer and `emms serve`,
 * both killed). Every back-end runs every case: none may be skipped.
 */
export const CONFORMANCE_CASES = [
  'durable-at-ack-and-replay-after-sigkill',
  'last-write-wins',
  'overlapping-chunks',
  'compaction-during-writes',
  'snapshot-reads-during-compaction',
  'retention',
  'tenant-isolation',
  'erasure',
  'corrupt-chunk-named',
] as const;
export type ConformanceCaseName = (typeof CONFORMANCE_CASES)[number];

export interface ConformanceTarget {
  /** 'sqlite' | 'postgresql' | 'redis'. */
  name: string;
  /** Start the database server (beforeAll). */
  setUp(): Promise<void>;
  /** Stop it (afterAll). */
  tearDown(): Promise<void>;
  /** A new, empty store each call. */
  freshStore(): Promise<ConformanceStore>;
}

/** Runs `body` on a fresh store, always disposing it (and stopping engines `body` registered). */
function withStore(target: ConformanceTarget, body: (store: ConformanceStore, engines: MetricsSystem[]) => Promise<void>): () => Promise<void> {
  return async () => {
    const store = await target.freshStore();
    const engines: MetricsSystem[] = [];
    try {
      await body(store, engines);
    } finally {
      for (const ms of engines) if (ms.running) await ms.stop().catch(() => undefined);
      await store.dispose();
    }
  };
}

export function describeStorageConformance(target: ConformanceTarget): void {
  describe(`storage conformance: ${target.name}`, () => {
    beforeAll(() => target.setUp(), 120_000);
    afterAll(() => target.tearDown(), 120_000);

    /** One test of a case (`part` names it when a case has several). */
    const conformance = (name: ConformanceCaseName, body: (store: ConformanceStore, engines: MetricsSystem[]) => Promise<void>, timeoutMs = 60_000, part?: string): void => {
      it(part === undefined ? name : `${name}: ${part}`, withStore(target, body), timeoutMs);
    };

    conformance('durable-at-ack-and-replay-after-sigkill', async (store, engines) => {
      if (store.options.path === undefined) throw new Error(`the ${target.name} target's options have no path: emms serve needs a data directory`);
      const run = await killServeMidStream(store.options.path, store.env, 12);
      expect(run.nacked, 'frames refused while streaming').toBeGreaterThan(0);
      const reopened = await openEngine(store);
      engines.push(reopened);
      await checkServeKill(reopened, run);
    }, 120_000, 'emms serve, WebSocket clients');

    conformance('durable-at-ack-and-replay-after-sigkill', async (store, engines) => {
      // Two kills: the second child starts on what the first left (replay, more writes, a kill again).
      const first = await runAndKill(store.options, 0, 24);
      const reopened = await openEngine(store);
      engines.push(reopened);
      await checkKilledStore(reopened, [{ firstRound: 0, run: first }]);
      await reopened.stop();
      const second = await runAndKill(store.options, 1000, 16);
      await reopened.start();
      const runs = [{ firstRound: 0, run: first }, { firstRound: 1000, run: second }];
      await checkKilledStore(reopened, runs);
      // Replay wrote nothing twice and created no series: a clean stop and start changes nothing.
      await restart(reopened);
      await checkKilledStore(reopened, runs);
      expect((await reopened.listSeries('conformance.kill.*')).length).toBe(9);
    }, 120_000, 'embedded writer, two kills');

    conformance('last-write-wins', lastWriteWins);
    conformance('overlapping-chunks', overlappingChunks);
    conformance('compaction-during-writes', compactionDuringWrites);
    conformance('snapshot-reads-during-compaction', snapshotReadsDuringCompaction);
    conformance('retention', retention);
    conformance('tenant-isolation', tenantIsolation);
    conformance('erasure', (store, engines) => erasure(store, engines, target));
    conformance('corrupt-chunk-named', corruptChunkNamed);
  });
}
