/**
 * Key-event ingest: 10,000 registered keys, batches of key events through KeyService into the
 * real embedded engine (durable acks), target 100,000 events/s. Each event becomes a point of
 * a cumulative counter series; within a batch, same-millisecond events of one series share a point.
 *
 *   npx tsx bench/key_events.bench.ts            full run
 *   npx tsx bench/key_events.bench.ts --quick    (or EMMS_BENCH_QUICK=1) a few seconds
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { createMetricsSystem } from '../src/index.js';
import { parseKeyPolicy } from '../src/keys/key_policy.js';
import { KeyService } from '../src/keys/key_service.js';

const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1' || process.env.EMMS_BENCH_QUICK === '1';
const KEYS = 10_000;
const TARGET_EVENTS_PER_S = 100_000;
const BATCH_SIZES = quick ? [1000, 10_000] : [1000, 5000, 10_000, 50_000];
const TIME_MS = quick ? 1500 : 8000;

const ALGORITHMS = ['AES-256-GCM', 'RSA-3072', 'ECDSA-P256', 'Ed25519', 'HMAC-SHA256'];
const TYPES = ['encrypt', 'decrypt', 'sign', 'verify', 'accessed'] as const;

/** Deterministic LCG so every run sends the same events. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), 'emms-bench-keys-'));
  const system = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
  await system.start();
  const keys = await KeyService.open(system, { policy: parseKeyPolicy({ allowed_networks: ['10.0.0.0/8'] }) });
  const t0 = performance.now();
  keys.registerKeys(Array.from({ length: KEYS }, (_, i) => ({
    key_id: `key-${i}`, key_type: 'encryption', algorithm: ALGORITHMS[i % ALGORITHMS.length], owner: `team-${i % 50}`,
    backend: (['kms', 'hsm', 'vault', 'software'] as const)[i % 4],
  })));
  const registerMs = performance.now() - t0;

  const rand = lcg(42);
  // Events are stamped at send time, as a live client does: a batch's events share a few ms.
  const makeBatch = (n: number): Array<Record<string, unknown>> => {
    const out = new Array<Record<string, unknown>>(n);
    const at = Date.now();
    for (let i = 0; i < n; i++) {
      out[i] = {
        key_id: `key-${Math.floor(rand() * KEYS)}`, event_type: TYPES[Math.floor(rand() * TYPES.length)],
        timestamp: at, actor: 'svc', source_ip: '10.1.2.3',
      };
    }
    return out;
  };

  // Cold: the first event of every (key, type) series, which makes the engine create the series.
  const coldStart = performance.now();
  const COLD_BATCH = 5000;
  const all = KEYS * TYPES.length;
  for (let first = 0; first < all; first += COLD_BATCH) {
    const batch: Array<Record<string, unknown>> = [];
    const at = Date.now();
    for (let j = first; j < Math.min(all, first + COLD_BATCH); j++) {
      batch.push({ key_id: `key-${j % KEYS}`, event_type: TYPES[Math.floor(j / KEYS)], timestamp: at, source_ip: '10.1.2.3' });
    }
    await keys.ingestEvents(batch);
  }
  const coldMs = performance.now() - coldStart;

  // Check before timing: counts read back from the engine equal the events sent.
  const check = makeBatch(2000);
  const expected = check.filter((e) => e.key_id === 'key-7' && e.event_type === 'encrypt').length;
  const before = keys.total('crypto.key.encryption_ops', 'key-7');
  await keys.ingestEvents(check);
  const stored = await system.latest('crypto.key.encryption_ops', { key_id: 'key-7' });
  if ((stored[0]?.value ?? 0) - before !== expected) throw new Error(`BUG: key-7 encryption_ops ${stored[0]?.value} != ${before + expected}`);

  const rows: Array<Record<string, string | number>> = [];
  for (const size of BATCH_SIZES) {
    const bench = new Bench({ time: TIME_MS, warmupIterations: 2 });
    let pending = makeBatch(size);
    let sent = 0;
    bench.add(`batch ${size}`, async () => {
      const batch = pending;
      await keys.ingestEvents(batch);
      sent += batch.length;
      pending = makeBatch(size);
    });
    const pointsBefore = system.stats().pointsIngested;
    await bench.run();
    const task = bench.tasks[0]!;
    const r = task.result as unknown as { latency: { mean: number; p50?: number; p99?: number; samplesCount?: number; samples?: number[] } };
    const iterations = r.latency.samplesCount ?? r.latency.samples?.length ?? 0;
    const meanMs = r.latency.mean;
    const points = system.stats().pointsIngested - pointsBefore;
    rows.push({
      'batch (events)': size,
      'events/s': Math.round((size * 1000) / meanMs),
      'points/event': sent > 0 ? Number((points / sent).toFixed(3)) : 0,
      'batch p50 ms': Number((r.latency.p50 ?? meanMs).toFixed(2)),
      'batch p99 ms': Number((r.latency.p99 ?? meanMs).toFixed(2)),
      batches: iterations,
    });
  }

  await keys.close();
  await system.stop();
  rmSync(dir, { recursive: true, force: true });

  const cpu = os.cpus();
  console.log(`key_events.bench: ${KEYS} registered keys (registered in one call: ${registerMs.toFixed(0)} ms), target ${TARGET_EVENTS_PER_S.toLocaleString('en-US')} events/s${quick ? ' (quick run)' : ''}`);
  console.log(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, node ${process.version}; in-process (no client/server split), other work on the machine shares the cores`);
  console.log(`cold (first event of each of ${all.toLocaleString('en-US')} series, batches of ${COLD_BATCH}): ${Math.round((all * 1000) / coldMs).toLocaleString('en-US')} events/s`);
  console.log('warm (every series exists; events/s from the mean batch time, batch preparation excluded):');
  console.table(rows);
  const best = Math.max(...rows.map((r) => Number(r['events/s'])));
  console.log(`best: ${best.toLocaleString('en-US')} key events/s (${best >= TARGET_EVENTS_PER_S ? 'meets' : 'below'} the ${TARGET_EVENTS_PER_S.toLocaleString('en-US')}/s target)`);
}

await main();
