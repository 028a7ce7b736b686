/**
 * The requests of the interop ingest benchmarks (bench/interop_ingest.ts against servers,
 * bench/interop_decode.bench.ts in process): 100 hosts × 10 `cpu` fields = 1,000 series, each
 * request carrying 10 scrapes of all of them (10,000 points), timestamps moving forward request
 * after request, as line protocol and as remote write.
 */
import { compressSync } from 'snappy';
import { encodeWriteRequest } from '../src/interop/remote_write_proto.js';

export const HOSTS = 100;
export const FIELDS = ['usage_user', 'usage_system', 'usage_idle', 'usage_nice', 'usage_iowait', 'usage_irq', 'usage_softirq', 'usage_steal', 'usage_guest', 'usage_guest_nice'];
export const SCRAPES_PER_REQUEST = 10;
export const POINTS_PER_REQUEST = HOSTS * FIELDS.length * SCRAPES_PER_REQUEST;
/** Requests per round; `count` in the generators below may ask for fewer. */
export const PAYLOADS = 160;
export const STEP_MS = 10_000;

/** The value of host h, field f at scrape s (payload k covers scrapes [k·10, k·10+10)). */
export function value(h: number, f: number, s: number): number {
  return Math.round((50 + 40 * Math.sin(h * 7 + f * 3 + s / 10)) * 100) / 100;
}

export function lineProtocolPayloads(startMs: number, count = PAYLOADS): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    let text = '';
    for (let s = k * SCRAPES_PER_REQUEST; s < (k + 1) * SCRAPES_PER_REQUEST; s++) {
      const ts = BigInt(startMs + s * STEP_MS) * 1_000_000n;
      for (let h = 0; h < HOSTS; h++) {
        text += `cpu,host=host_${h},region=r${h % 4} ${FIELDS.map((f, i) => `${f}=${value(h, i, s)}`).join(',')} ${ts}\n`;
      }
    }
    out.push(new TextEncoder().encode(text));
  }
  return out;
}

export function remoteWritePayloads(startMs: number, count = PAYLOADS): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const timeseries = [];
    for (let h = 0; h < HOSTS; h++) {
      for (let i = 0; i < FIELDS.length; i++) {
        const samples = [];
        for (let s = k * SCRAPES_PER_REQUEST; s < (k + 1) * SCRAPES_PER_REQUEST; s++) samples.push({ timestamp: startMs + s * STEP_MS, value: value(h, i, s) });
        timeseries.push({ labels: [{ name: '__name__', value: `cpu_${FIELDS[i]}` }, { name: 'host', value: `host_${h}` }, { name: 'region', value: `r${h % 4}` }], samples });
      }
    }
    out.push(compressSync(Buffer.from(encodeWriteRequest({ timeseries }))));
  }
  return out;
}
