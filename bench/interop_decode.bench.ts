/**
 * CPU time per point of the interop decode codecs (what a decode worker spends on a request),
 * in process, on the requests of bench/interop_ingest.ts: line protocol (UTF-8 check, parse
 * from bytes in pieces, series cache) and remote write (snappy, protobufjs Reader walk, series
 * cache). Steady state: the tenant's series are numbered by the warm-up, as on a server.
 *
 *   npx tsx bench/interop_decode.bench.ts
 *
 * Every request is decoded once and checked against the values it was built from before
 * anything is timed. Reports the best of 7 rounds of process CPU time (user + system) per point,
 * which other work on a shared machine disturbs less than wall time; say the load average
 * (printed) next to any figure.
 */
import { cpus, loadavg } from 'node:os';
import { codec as lineProtocolCodec } from '../src/interop/line_protocol_codec.js';
import { codec as remoteWriteCodec } from '../src/interop/remote_write_codec.js';
import type { CodecNumbering, CodecOptions, ProtocolCodec } from '../src/ingest/protocol_codec.js';
import { FIELDS, HOSTS, POINTS_PER_REQUEST, SCRAPES_PER_REQUEST, STEP_MS, lineProtocolPayloads, remoteWritePayloads, value } from './interop_payloads.js';

const REQUESTS = 40;
const ROUNDS = 7;
const START_MS = Date.UTC(2026, 0, 1);

function numbering(): CodecNumbering & { identities: string[] } {
  const identities: string[] = [];
  return {
    identities,
    add: (identity) => identities.push(`${identity.metricId}${JSON.stringify(identity.tags ?? {})}`) - 1,
    get size() {
      return identities.length;
    },
  };
}

/** Decodes request 0 and checks every point against value(h, f, s). */
function check(name: string, codec: ProtocolCodec, body: Uint8Array, options: CodecOptions, metricOf: (f: number) => string): void {
  const n = numbering();
  const batch = codec.decode(body, options, n, codec.createState(), 0);
  if (batch.seriesOf.length !== POINTS_PER_REQUEST) throw new Error(`${name}: ${batch.seriesOf.length} points, expected ${POINTS_PER_REQUEST}`);
  for (let i = 0; i < batch.seriesOf.length; i++) {
    const identity = n.identities[batch.seriesOf[i]!]!;
    const s = Math.round((batch.timestamps[i]! - START_MS) / STEP_MS);
    const h = Number(/host_(\d+)/.exec(identity)![1]);
    const f = FIELDS.findIndex((_, k) => identity.startsWith(`${metricOf(k)}{`));
    if (f < 0 || s < 0 || s >= SCRAPES_PER_REQUEST || batch.values[i] !== value(h, f, s)) throw new Error(`${name}: point ${i} (${identity}, t=${batch.timestamps[i]}, v=${batch.values[i]}) is not what was sent`);
  }
}

function cpuMicrosPerPoint(codec: ProtocolCodec, bodies: Uint8Array[], options: CodecOptions): number {
  const state = codec.createState();
  const n = numbering();
  for (let r = 0; r < 3; r++) for (const b of bodies) codec.decode(b, options, n, state, 0);
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    for (const b of bodies) codec.decode(b, options, n, state, 0);
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / (bodies.length * POINTS_PER_REQUEST));
  }
  return best;
}

const lp = lineProtocolPayloads(START_MS, REQUESTS);
const rw = remoteWritePayloads(START_MS, REQUESTS);
const lpOptions: CodecOptions = { precision: 'ns', maxPoints: 1_000_000 };
const rwOptions: CodecOptions = { maxDecompressedBytes: 64 * 1024 * 1024, maxSeries: 100_000, maxSamples: 1_000_000 };
check('line protocol', lineProtocolCodec, lp[0]!, lpOptions, (f) => `cpu.${FIELDS[f]}`);
check('remote write', remoteWriteCodec, rw[0]!, rwOptions, (f) => `cpu_${FIELDS[f]}`);

process.stdout.write(`interop decode, in process, ${HOSTS * FIELDS.length} series, ${POINTS_PER_REQUEST} points/request, ${REQUESTS} requests × ${ROUNDS} rounds; ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
for (const [name, codec, bodies, options] of [['line protocol', lineProtocolCodec, lp, lpOptions], ['remote write', remoteWriteCodec, rw, rwOptions]] as const) {
  process.stdout.write(`${name.padEnd(14)} ${cpuMicrosPerPoint(codec as ProtocolCodec, bodies, options).toFixed(3)} us CPU/point (best round)\n`);
}
