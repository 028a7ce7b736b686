/**
 * Loads hours of the TSBS devops workload into a server through its WebSocket stream as
 * columnar frames (100 series of one hour per frame, `window` frames in flight), the way the
 * query, settle, encryption and concurrency benches preload the data they then query.
 * Resolves with the acknowledged points and the seconds it took; throws on the first nack.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { Tags } from '../../src/model/metric.js';
import { TICKS_PER_DAY, TsbsDevopsGenerator } from '../workload/tsbs_devops.js';
import { WsClient } from './ws_client.js';

export const TICKS_PER_HOUR = TICKS_PER_DAY / 24;
const SERIES_PER_FRAME = 100;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export interface TsbsColumnStreamOptions {
  hours: number;
  hosts?: number;
  /** Frames sent before their acknowledgement, default 8. */
  window?: number;
  /** The tags a host's series are sent with (for example a load generator's per-connection hostnames). */
  tagsOf?: (tags: Tags) => Record<string, string>;
}

export async function streamTsbsColumns(wsUrl: string, headers: Record<string, string>, options: TsbsColumnStreamOptions): Promise<{ points: number; seconds: number }> {
  const gen = new TsbsDevopsGenerator({ hosts: options.hosts ?? 100, seed: 1 });
  const window = options.window ?? 8;
  const tagsOf = options.tagsOf ?? ((tags) => tags);
  const ws = await WsClient.open(wsUrl, { zeroMask: true, headers });
  let inflight = 0;
  let points = 0;
  let failure: string | undefined;
  let wake: (() => void) | undefined;
  ws.onMessage = (m) => {
    const reply = unpackr.unpack(m.data) as { ack?: number; accepted?: number; error?: string };
    if (reply.ack !== undefined) points += reply.accepted ?? 0;
    else failure ??= reply.error ?? 'nack';
    inflight--;
    wake?.();
  };
  const started = performance.now();
  let seq = 0;
  for (let h = 0; h < options.hours; h++) {
    const block = gen.nextColumns(TICKS_PER_HOUR);
    for (let from = 0; from < block.length; from += SERIES_PER_FRAME) {
      while (inflight >= window) await new Promise<void>((r) => (wake = r));
      const frame = packr.pack({
        seq: seq++,
        series: block.slice(from, from + SERIES_PER_FRAME).map((s) => ({
          metric_id: s.metricId, tags: tagsOf(s.tags), timestamps: Buffer.from(s.timestamps.buffer), values: Buffer.from(s.values.buffer),
        })),
      });
      inflight++;
      if (!ws.send(frame)) await ws.waitDrain();
    }
  }
  while (inflight > 0) await new Promise<void>((r) => (wake = r));
  ws.close();
  if (failure !== undefined) throw new Error(`ingest refused: ${failure}`);
  return { points, seconds: (performance.now() - started) / 1000 };
}
