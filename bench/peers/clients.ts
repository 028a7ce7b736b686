/**
 * The client side of `npm run bench:peers`: one process feeding either system over 2
 * connections, timing queries, waiting for each system to settle, and reading both answers
 * into one shape so they can be checked against each other.
 *
 * VictoriaMetrics gets HTTP/1.1 keep-alive requests, one in flight per connection (HTTP/1.1
 * has no multiplexing); EMMS gets WebSocket frames, 4 in flight per connection (its stream
 * answers each frame after the group commit). Both count points when the server answers.
 */
import { Agent, request } from 'node:http';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import { WsClient } from '../load/ws_client.js';
import { CONNECTIONS, RowFrames, type PeersWorkload } from './workload.js';

export interface IngestResult {
  points: number;
  seconds: number;
  pointsPerSecond: number;
  /** performance.now() when the last answer arrived. */
  endedAt: number;
}

const EMMS_WINDOW = 4;

function post(agent: Agent, url: URL, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'text/plain', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Line protocol to VictoriaMetrics' `/write`, `bodies[c]` over connection c. */
export async function ingestVm(base: string, bodies: readonly (readonly Buffer[])[], pointsPerBody: number): Promise<IngestResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const url = new URL(`${base}/write`);
  let points = 0;
  const started = performance.now();
  try {
    await Promise.all(bodies.map(async (own) => {
      for (const body of own) {
        const status = await post(agent, url, body);
        if (status < 200 || status >= 300) throw new Error(`VictoriaMetrics /write answered ${status}`);
        points += pointsPerBody;
      }
    }));
  } finally {
    agent.destroy();
  }
  const endedAt = performance.now();
  const seconds = (endedAt - started) / 1000;
  return { points, seconds, pointsPerSecond: points / seconds, endedAt };
}

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Row frames to EMMS's `/api/v1/stream`, 4 in flight on each of the 2 connections. */
export async function ingestEmms(wsUrl: string, headers: Record<string, string>, work: PeersWorkload): Promise<IngestResult> {
  const frames = Array.from({ length: CONNECTIONS }, (_, c) => new RowFrames(work, c, EMMS_WINDOW + 1));
  const sockets = await Promise.all(frames.map(() => WsClient.open(wsUrl, { zeroMask: true, headers })));
  let points = 0;
  const started = performance.now();
  await Promise.all(sockets.map(async (ws, c) => {
    let inflight = 0;
    let failure: string | undefined;
    let wake: (() => void) | undefined;
    ws.onMessage = (m) => {
      const reply = unpackr.unpack(m.data) as { ack?: number; accepted?: number; error?: string };
      if (reply.ack !== undefined) points += reply.accepted ?? 0;
      else failure ??= reply.error ?? 'nack';
      inflight--;
      wake?.();
    };
    ws.onClose = (code, reason) => {
      failure ??= `closed ${code} ${reason}`;
      wake?.();
    };
    const wait = (): Promise<void> => new Promise<void>((r) => (wake = r));
    for (let f = 0; f < work.requestsPerConnection; f++) {
      while (inflight >= EMMS_WINDOW && failure === undefined) await wait();
      if (failure !== undefined) break;
      inflight++;
      // Replies come in order, so the copy this frame overwrites (window + 1 back) was answered.
      if (!ws.sendUncopied(frames[c]!.frame(f))) await ws.waitDrain();
    }
    while (inflight > 0 && failure === undefined) await wait();
    ws.close();
    if (failure !== undefined) throw new Error(`EMMS stream connection ${c}: ${failure}`);
  }));
  const endedAt = performance.now();
  const seconds = (endedAt - started) / 1000;
  return { points, seconds, pointsPerSecond: points / seconds, endedAt };
}

export interface Timed {
  ms: number;
  body: string;
}

/** One query, timed until its whole answer has arrived (not parsed: parsing is the client's cost). */
export async function timedGet(url: string, headers: Record<string, string>): Promise<Timed> {
  const t = performance.now();
  const r = await fetch(url, { headers });
  const body = await r.text();
  const ms = performance.now() - t;
  if (!r.ok) throw new Error(`${url}: ${r.status} ${body.slice(0, 300)}`);
  return { ms, body };
}

/** Series key `<emms metric id>|<hostname>` → bucket start (epoch ms) → value. */
export type Answer = Map<string, Map<number, number>>;

export function emmsAnswer(body: string): Answer {
  const parsed = JSON.parse(body) as { series: Array<{ metric_id: string; tags: Record<string, string>; points: Array<[number, number | null]> }> };
  const out: Answer = new Map();
  for (const s of parsed.series) out.set(`${s.metric_id}|${s.tags.hostname}`, new Map(s.points.map(([t, v]) => [t, v ?? NaN])));
  return out;
}

/**
 * VictoriaMetrics labels a window (t − 1h, t] with its end t; EMMS labels [s, s + 1h) with its
 * start s. With t = s + 1h − 1 s both hold the same points: `endToStartMs` = 1h − 1 s.
 */
export function vmAnswer(body: string, endToStartMs: number): Answer {
  const parsed = JSON.parse(body) as { data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
  const out: Answer = new Map();
  for (const s of parsed.data.result) {
    const name = s.metric.__name__ ?? '';
    const id = name.replace('_', '.');
    out.set(`${id}|${s.metric.hostname}`, new Map(s.values.map(([t, v]) => [Math.round(t * 1000) - endToStartMs, Number(v)])));
  }
  return out;
}

export interface AnswerCheck {
  series: number;
  values: number;
  /** Largest |a − b| / max(|a|, |b|) over values both hold; NaN when nothing is shared. */
  maxRelativeDifference: number;
  missing: number;
}

/** How far `a` is from `expected`: series and buckets missing, largest relative difference. */
export function compareAnswers(a: Answer, expected: Answer): AnswerCheck {
  let values = 0;
  let missing = 0;
  let worst = NaN;
  for (const [key, buckets] of expected) {
    const other = a.get(key);
    for (const [t, v] of buckets) {
      const w = other?.get(t);
      if (w === undefined) {
        missing++;
        continue;
      }
      values++;
      const scale = Math.max(Math.abs(v), Math.abs(w));
      // A value on one side and none (NaN) on the other is as different as it gets.
      const d = Number.isNaN(v) || Number.isNaN(w) ? (Number.isNaN(v) && Number.isNaN(w) ? 0 : Infinity) : scale === 0 ? 0 : Math.abs(v - w) / scale;
      worst = Number.isNaN(worst) ? d : Math.max(worst, d);
    }
  }
  return { series: a.size, values, maxRelativeDifference: worst, missing };
}

/** Bytes of every file under `dir`, leaving out its top-level directories named in `skip`. */
export function directoryBytes(dir: string, skip: readonly string[] = []): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += skip.includes(entry.name) ? 0 : directoryBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function promValue(metricsText: string, name: string): number {
  let sum = 0;
  let seen = false;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    seen = true;
  }
  return seen ? sum : NaN;
}

/**
 * Flushes VictoriaMetrics' buffers, starts its force merge (the handler returns at once and
 * merges in the background) and waits until no force merge, merge or pending row is left.
 * Returns the seconds it took, or NaN when it did not settle in `timeoutMs`.
 */
export async function settleVm(base: string, timeoutMs = 300_000): Promise<number> {
  const t = performance.now();
  await (await fetch(`${base}/internal/force_flush`)).text();
  await (await fetch(`${base}/internal/force_merge`)).text();
  const done = await poll(async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const busy = promValue(text, 'vm_active_force_merges') + promValue(text, 'vm_active_merges') + promValue(text, 'vm_pending_rows');
    return busy === 0 ? true : undefined;
  }, timeoutMs, 200);
  return done === true ? (performance.now() - t) / 1000 : NaN;
}

export interface EmmsStorageState {
  head_points: number;
  wal_bytes: number;
  chunks: number;
  disk_bytes: number;
  pending_cuts?: number;
  checkpoint_running?: boolean;
  compaction_running?: boolean;
  /** Present once the server settles heads when ingest goes quiet (issue 16). */
  settled?: boolean;
}

export async function emmsStorage(base: string, headers: Record<string, string>): Promise<EmmsStorageState> {
  const health = await (await fetch(`${base}/health`, { headers })).json() as { components?: { storage?: EmmsStorageState } };
  const storage = health.components?.storage;
  if (storage === undefined) throw new Error('EMMS /health has no storage component (is the token an operator token?)');
  return storage;
}

/**
 * Waits until EMMS's /health shows no pending work: no cut pending, no checkpoint or
 * compaction running, and `settled` where the server reports it (its settle-when-quiet
 * policy), for 3 polls in a row. Head points may still move: the server's own collectors
 * write a few points every interval. Returns the seconds it took (NaN: not settled within
 * `timeoutMs`) and the last state seen.
 */
export async function settleEmms(base: string, headers: Record<string, string>, timeoutMs = 300_000): Promise<{ seconds: number; state: EmmsStorageState }> {
  const t = performance.now();
  let idlePolls = 0;
  let state = await emmsStorage(base, headers);
  const done = await poll(async () => {
    state = await emmsStorage(base, headers);
    const idle = (state.pending_cuts ?? 0) === 0 && state.checkpoint_running !== true && state.compaction_running !== true && state.settled !== false;
    idlePolls = idle ? idlePolls + 1 : 0;
    return idlePolls >= 3 ? true : undefined;
  }, timeoutMs, 500);
  return { seconds: done === true ? (performance.now() - t) / 1000 : NaN, state };
}
