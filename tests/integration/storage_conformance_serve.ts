/**
 * The server half of the conformance suite's SIGKILL case: a real `emms serve` on the store
 * (the target's environment picks the back-end, as an operator's would), clients streaming row
 * frames over WebSocket with some frames refused, the process SIGKILLed mid-stream; then the
 * store, reopened in-process, must hold every acknowledged point with its value, nothing of a
 * refused frame, and no point the clients never sent.
 */
import { dirname } from 'node:path';
import type { MetricsSystem } from '../../src/model/api.js';
import { StreamingClient, startServer } from './server_harness.js';
import { waitFor } from './storage_conformance_model.js';

export const SERVE_METRIC = 'conformance.serve';
const SERVE_T0 = Date.UTC(2026, 6, 1);
const CLIENTS = 2;

/** The value StreamingClient sends at `ts` (server_harness.ts). */
function streamedValue(ts: number): number {
  return Math.round(Math.sin(ts) * 1e4) / 100;
}

export interface ServeKill {
  /** Per client: the timestamps of every acknowledged point. */
  acked: number[][];
  nacked: number;
}

/** Starts `emms serve` on the store, streams until every client had `acks` frames acknowledged and one refused, SIGKILLs it. */
export async function killServeMidStream(path: string, env: Record<string, string>, acks: number): Promise<ServeKill> {
  const server = await startServer(['--data', dirname(path)], env);
  try {
    const clients = Array.from({ length: CLIENTS }, (_, c) => new StreamingClient(server.wsUrl, SERVE_METRIC, `c${c}`, {
      pointsPerFrame: 250, window: 8, startTs: SERVE_T0 + c * 1e9, refuseEvery: 9, headers: server.auth,
    }));
    const running = clients.map((c) => c.start().catch(() => undefined));
    await waitFor(`${acks} acknowledged frames per client`, () => clients.every((c) => c.acked.length >= acks && c.nacked.length >= 1), 45_000, 5);
    server.proc.kill('SIGKILL');
    const exit = await server.exited;
    if (exit !== 'SIGKILL') throw new Error(`emms serve exited with ${exit} before the kill: ${server.stderr()}`);
    await Promise.all(running);
    return { acked: clients.map((c) => c.acked.flatMap((b) => b.timestamps)), nacked: clients.reduce((n, c) => n + c.nacked.length, 0) };
  } finally {
    if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
  }
}

/** Throws unless the store holds exactly what the kill's acknowledgements require (see the file comment). */
export async function checkServeKill(ms: MetricsSystem, run: ServeKill): Promise<void> {
  const refused = await ms.queryMetrics({ metricPattern: 'refused.*', startTime: 0, endTime: SERVE_T0 + 1e10 });
  if (refused.length > 0) throw new Error(`a refused frame left points behind: ${refused.map((s) => `${s.metricId} (${s.timestamps.length})`).join(', ')}`);
  for (let c = 0; c < CLIENTS; c++) {
    const answer = await ms.queryMetrics({ metricPattern: SERVE_METRIC, tags: { client: `c${c}` }, startTime: 0, endTime: SERVE_T0 + 1e10 });
    const stored = new Map<number, number>();
    for (const s of answer) s.timestamps.forEach((t, i) => stored.set(t, s.values[i]!));
    for (const [t, v] of stored) {
      if (t < SERVE_T0 + c * 1e9 || v !== streamedValue(t)) throw new Error(`client c${c}: ${SERVE_METRIC} at ${t} = ${v} was never sent`);
    }
    const missing = run.acked[c]!.filter((t) => stored.get(t) !== streamedValue(t));
    if (missing.length > 0) throw new Error(`client c${c}: ${missing.length} of ${run.acked[c]!.length} acknowledged points are missing or changed, the first at ${missing[0]}`);
  }
}
