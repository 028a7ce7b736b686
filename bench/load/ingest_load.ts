/**
 * Load generator for bench/server_ingest.bench.ts, run as its own process so its CPU shows up
 * as a separate competitor for the machine's cores (as a real client would).
 *
 *   npx tsx bench/load/ingest_load.ts --url ws://127.0.0.1:PORT/api/v1/stream \
 *     --form rows|columns --connections 4 --seconds 10 [--rate POINTS_PER_S] [--window 8] \
 *     [--never-read] [--hosts 100] [--seed N] [--start-ms EPOCH_MS] [--latency-log FILE] [--token-file FILE] \
 *     [--connection-offset K]
 *
 * Prints one JSON line: points acknowledged, elapsed seconds, points/s, ack latency percentiles
 * (all frames, and frames sent after the first second). `--latency-log` also writes one CSV line
 * per acknowledged frame (connection, send time in epoch ms, ack latency in ms), to line slow
 * acks up with what the server was doing at the time.
 *
 * Each connection is one agent reporting its own `--hosts` hosts (hostname suffixed `-c<i>`),
 * in time order, as collectors do; `--connection-offset K` numbers the connections from K, so
 * generators run side by side (one per node of a cluster) write disjoint series. (Earlier
 * every connection sent the same series with its time range shifted by 400 days, which made
 * every series' head an interleaving of distant ranges: the server then spent a third of its
 * ingest thread sorting heads and re-compacting overlapping chunks, a backfill pattern rather
 * than the 100-host workload being measured.)
 *
 * Frames are plain MessagePack maps any msgpack library would produce. Row frames carry one
 * TSBS tick (hosts × 10 points); to keep the client's CPU on the wire rather than on encoding,
 * each connection encodes its row frame once as a template and then only overwrites the
 * float64 timestamp and value bytes of each point (their offsets are found once). Columnar
 * frames carry `--ticks` points per series (default 100) as little-endian float64 `bin`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Packr } from 'msgpackr';
import { TSBS_CPU_METRICS, TsbsDevopsGenerator, type TsbsColumnarSeries } from '../workload/tsbs_devops.js';
import type { Tags } from '../../src/model/metric.js';
import { WsClient } from './ws_client.js';

interface Args {
  url: string;
  form: 'rows' | 'columns';
  connections: number;
  seconds: number;
  rate: number;
  window: number;
  neverRead: boolean;
  hosts: number;
  ticks: number;
  seed: number;
  startMs: number;
  latencyLog: string | undefined;
  /** File holding a bearer token for the upgrade (a file, so the token is not in `ps`). */
  tokenFile: string | undefined;
  /** Number of the first connection (its hosts are suffixed `-c<number>`). */
  connectionOffset: number;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const url = get('url');
  if (url === undefined) throw new Error('--url ws://host:port/api/v1/stream is required');
  const form = get('form') ?? 'rows';
  if (form !== 'rows' && form !== 'columns') throw new Error(`--form must be rows or columns; got ${form}`);
  return {
    url,
    form,
    connections: Number(get('connections') ?? 4),
    seconds: Number(get('seconds') ?? 10),
    rate: Number(get('rate') ?? 0),
    window: Number(get('window') ?? 8),
    neverRead: argv.includes('--never-read'),
    hosts: Number(get('hosts') ?? 100),
    ticks: Number(get('ticks') ?? 100),
    seed: Number(get('seed') ?? 1),
    startMs: Number(get('start-ms') ?? Date.UTC(2026, 0, 1)),
    latencyLog: get('latency-log'),
    tokenFile: get('token-file'),
    connectionOffset: Number(get('connection-offset') ?? 0),
  };
}

const packr = new Packr({ useRecords: false });
/** Acks of frames sent in the first second are left out of the steady-state percentiles. */
const WARMUP_MS = 1000;
const MARK_TS = 1.2345678901234567e12;

/** Row frame template for one tick: offsets of each point's float64 timestamp and value. */
class RowFrameTemplate {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly tsAt: Int32Array;
  readonly valueAt: Int32Array;
  readonly seqAt: number;

  constructor(gen: TsbsDevopsGenerator, hostTags: readonly Tags[]) {
    const metrics = [];
    for (let i = 0; i < gen.seriesCount; i++) {
      // Distinct marker doubles so their encodings can be found; never equal to real data.
      metrics.push({ metric_id: gen.metricIdOf(i), value: 0.5 + i * 1e-9 + 1e6, timestamp: MARK_TS, tags: hostTags[Math.floor(i / TSBS_CPU_METRICS.length)]! });
    }
    // seq as uint32 (0xce) so it can be overwritten in place.
    const encoded = packr.pack({ seq: 0xfffffff0, metrics });
    this.bytes = new Uint8Array(encoded);
    this.view = new DataView(this.bytes.buffer);
    this.tsAt = new Int32Array(gen.seriesCount);
    this.valueAt = new Int32Array(gen.seriesCount);
    this.seqAt = this.#find(0xce, (at) => this.view.getUint32(at) === 0xfffffff0, 4);
    let from = 0;
    for (let i = 0; i < gen.seriesCount; i++) {
      const v = 0.5 + i * 1e-9 + 1e6;
      this.valueAt[i] = this.#find(0xcb, (at) => this.view.getFloat64(at) === v, 8, from);
      this.tsAt[i] = this.#find(0xcb, (at) => this.view.getFloat64(at) === MARK_TS, 8, this.valueAt[i]!);
      from = this.tsAt[i]! + 8;
    }
  }

  #find(type: number, match: (at: number) => boolean, size: number, from = 0): number {
    for (let at = from; at + 1 + size <= this.bytes.length; at++) {
      if (this.bytes[at] === type && match(at + 1)) return at + 1;
    }
    throw new Error('template marker not found (msgpackr changed its encoding?)');
  }
}

interface ConnectionResult {
  points: number;
  latenciesMs: number[];
  /** Send time of each latency, ms since the run started (for the warm-up cut). */
  sentAtMs: number[];
  /** performance.now() when the connection's run started (sentAtMs counts from it). */
  runStartedAt: number;
  closedEarly: string | undefined;
}

async function runConnection(args: Args, index: number, deadline: number, ratePerConnection: number): Promise<ConnectionResult> {
  const gen = new TsbsDevopsGenerator({ hosts: args.hosts, seed: args.seed + index, startMs: args.startMs });
  // This connection's own hosts: the generator's tags with the hostname made unique.
  const hostTags = gen.hostTags.map((t) => Object.freeze({ ...t, hostname: `${t.hostname}-c${index}` }));
  const ownTags = new Map<Tags, Tags>(gen.hostTags.map((t, h) => [t, hostTags[h]!]));
  const headers: Record<string, string> = args.tokenFile === undefined ? {} : { authorization: `Bearer ${readFileSync(args.tokenFile, 'utf8').trim()}` };
  const ws = await WsClient.open(args.url, { zeroMask: true, headers });
  if (args.neverRead) ws.pauseReading();
  const template = args.form === 'rows' ? new RowFrameTemplate(gen, hostTags) : undefined;
  const sentAt = new Map<number, { t: number; points: number }>();
  const runStarted = performance.now();
  const result: ConnectionResult = { points: 0, latenciesMs: [], sentAtMs: [], runStartedAt: runStarted, closedEarly: undefined };
  let inflight = 0;
  let wake: (() => void) | undefined;
  ws.onMessage = (m) => {
    // Replies are tiny maps; reading `ack`/`nack` by decoding is cheap enough here.
    const reply = packr.unpack(m.data) as { ack?: number; nack?: number | null; error?: string };
    const seq = reply.ack ?? reply.nack;
    const sent = typeof seq === 'number' ? sentAt.get(seq) : undefined;
    if (reply.ack !== undefined && sent !== undefined) {
      result.points += sent.points;
      result.latenciesMs.push(performance.now() - sent.t);
      result.sentAtMs.push(sent.t - runStarted);
    } else if (reply.nack !== undefined) {
      result.closedEarly ??= `nack: ${reply.error}`;
    }
    if (typeof seq === 'number') sentAt.delete(seq);
    inflight--;
    wake?.();
  };
  ws.onClose = (code, reason) => {
    result.closedEarly ??= `closed ${code} ${reason}`;
    wake?.();
  };
  const started = performance.now();
  let sentPoints = 0;
  let seq = 0;
  // Rows: one tick per frame, written into one of window + 1 copies of the template. The copy
  // a frame was sent from is reused only after that frame's ack (replies come in order, so
  // with fewer than `window` frames in flight the frame window + 1 back has been answered):
  // the socket sends it without copying, and the client makes no garbage per frame. A client
  // that never reads acks cannot know when a copy is free, so it sends copies.
  const rowSlots = template === undefined ? [] : Array.from({ length: args.neverRead ? 1 : args.window + 1 }, () => {
    const bytes = template.bytes.slice();
    return { bytes, view: new DataView(bytes.buffer) };
  });
  const tickValues = new Float64Array(gen.seriesCount);
  let block: TsbsColumnarSeries[] = args.form === 'columns' ? gen.nextColumns(args.ticks) : [];
  let columnCursor = 0;
  const seriesPerColumnFrame = Math.max(1, Math.floor(10_000 / args.ticks));
  while (Date.now() < deadline && !ws.closed) {
    if (!args.neverRead && inflight >= args.window) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
      continue;
    }
    if (ratePerConnection > 0) {
      const due = started + (sentPoints / ratePerConnection) * 1000;
      const wait = due - performance.now();
      if (wait > 1) {
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
    }
    let frame: Uint8Array;
    let points: number;
    if (template !== undefined) {
      const slot = rowSlots[seq % rowSlots.length]!;
      const view = slot.view;
      view.setUint32(template.seqAt, seq);
      const ts = gen.nextTickInto(tickValues);
      for (let i = 0; i < gen.seriesCount; i++) {
        view.setFloat64(template.tsAt[i]!, ts);
        view.setFloat64(template.valueAt[i]!, tickValues[i]!);
      }
      frame = slot.bytes;
      points = gen.seriesCount;
    } else {
      if (columnCursor >= block.length) {
        block = gen.nextColumns(args.ticks);
        columnCursor = 0;
      }
      const part = block.slice(columnCursor, columnCursor + seriesPerColumnFrame);
      columnCursor += part.length;
      frame = packr.pack({
        seq,
        series: part.map((s) => ({
          metric_id: s.metricId,
          tags: ownTags.get(s.tags) ?? s.tags,
          timestamps: Buffer.from(s.timestamps.buffer, s.timestamps.byteOffset, s.timestamps.byteLength),
          values: Buffer.from(s.values.buffer, s.values.byteOffset, s.values.byteLength),
        })),
      });
      points = part.length * args.ticks;
    }
    sentAt.set(seq, { t: performance.now(), points });
    const flushed = template !== undefined && !args.neverRead ? ws.sendUncopied(frame) : ws.send(frame);
    seq++;
    inflight++;
    sentPoints += points;
    if (!flushed) await ws.waitDrain();
    else if (seq % 2 === 0) await new Promise((r) => setImmediate(r));
  }
  // Let outstanding acks arrive (not counted past the deadline for throughput runs).
  const drainUntil = Date.now() + (args.neverRead ? 0 : 3000);
  while (inflight > 0 && !ws.closed && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 5));
  if (!ws.closed) ws.close();
  return result;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const deadline = Date.now() + args.seconds * 1000;
  const perConnection = args.rate > 0 ? args.rate / args.connections : 0;
  const cpuBefore = process.cpuUsage();
  const results = await Promise.all(Array.from({ length: args.connections }, (_, i) => runConnection(args, args.connectionOffset + i, deadline, perConnection)));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const latencies = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  // Latency after the first second (JIT warm-up, every series created, heads growing), which is
  // what a long-running server shows; both are printed.
  const steady = results.flatMap((r) => r.latenciesMs.filter((_, k) => r.sentAtMs[k]! >= WARMUP_MS)).sort((a, b) => a - b);
  if (args.latencyLog !== undefined) {
    const origin = performance.timeOrigin;
    const lines = ['connection,sent_epoch_ms,latency_ms'];
    results.forEach((r, c) => r.latenciesMs.forEach((ms, k) => lines.push(`${c},${(origin + r.runStartedAt + r.sentAtMs[k]!).toFixed(3)},${ms.toFixed(3)}`)));
    writeFileSync(args.latencyLog, lines.join('\n') + '\n');
  }
  const points = results.reduce((n, r) => n + r.points, 0);
  process.stdout.write(JSON.stringify({
    form: args.form,
    connections: args.connections,
    points,
    seconds: elapsed,
    pointsPerSecond: points / Math.min(elapsed, args.seconds),
    ackP50Ms: percentile(latencies, 50),
    ackP99Ms: percentile(latencies, 99),
    steadyAckP50Ms: percentile(steady, 50),
    steadyAckP99Ms: percentile(steady, 99),
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    closedEarly: results.map((r) => r.closedEarly).filter((x) => x !== undefined),
  }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`ingest_load: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
