/**
 * The dashboard's Web Worker, for queries whose raw points are re-aggregated in the browser:
 * fetches them in the columnar binary form, decodes them (columnar.ts) and re-aggregates them
 * into coarser buckets with the engine's own
 * WASM kernels (src/core/bucket_accumulator.ts, the `emms/core` code, bundled for the browser by
 * web/build.mjs). Off the main thread so a large answer never stalls the page, and because
 * Chromium only compiles WASM modules over 4 KiB synchronously (as src/core/ does) in workers.
 *
 * Messages: in `WorkerRequest`, out `WorkerResponse`; the float columns are transferred, not
 * copied. The request's own cookie authenticates the fetch (same origin); the tenant header is
 * passed along for operators who switched tenant.
 */
import { aggregate } from '../../src/core/bucket_accumulator.js';
import type { Aggregation } from '../../src/model/api.js';
import { decodeColumnar, type DecodedSeries } from './columnar.js';

declare const __EMMS_WASM__: string;

export interface WorkerRequest {
  id: number;
  url: string;
  tenant: string | undefined;
  /** Re-aggregate each series into these buckets in WASM after decoding. */
  reaggregate?: { aggregation: Aggregation; intervalMs: number } | undefined;
}

export type WorkerResponse =
  | { id: number; ok: true; series: DecodedSeries[]; bytes: number; fetchMs: number; decodeMs: number; aggregateMs: number }
  | { id: number; ok: false; status: number; error: string };

let wasmReady: Promise<void> | undefined;
function loadWasm(): Promise<void> {
  // The stub of node:fs in the bundle hands these bytes to src/core/wasm_instance.ts.
  wasmReady ??= fetch(__EMMS_WASM__).then(async (r) => {
    if (!r.ok) throw new Error(`fetching the WASM kernels: HTTP ${r.status}`);
    (globalThis as { __emmsWasmBytes?: Uint8Array }).__emmsWasmBytes = new Uint8Array(await r.arrayBuffer());
  });
  return wasmReady;
}

async function handle(req: WorkerRequest): Promise<WorkerResponse> {
  const started = performance.now();
  const headers: Record<string, string> = { accept: 'application/x-msgpack' };
  if (req.tenant !== undefined) headers['x-emms-tenant'] = req.tenant;
  const res = await fetch(req.url, { headers, credentials: 'same-origin' });
  if (!res.ok) {
    let error = `HTTP ${res.status}`;
    try {
      error = ((await res.json()) as { error?: string }).error ?? error;
    } catch {
      // not JSON: keep the status line
    }
    return { id: req.id, ok: false, status: res.status, error };
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const fetched = performance.now();
  let series = decodeColumnar(bytes);
  const decoded = performance.now();
  if (req.reaggregate !== undefined) {
    await loadWasm();
    const { aggregation, intervalMs } = req.reaggregate;
    series = series.map((s) => {
      if (s.timestamps.length === 0) return s;
      const r = aggregate(s.timestamps, s.values, { aggregation, intervalMs });
      return { ...s, timestamps: r.timestamps, values: r.values };
    });
  }
  return { id: req.id, ok: true, series, bytes: bytes.byteLength, fetchMs: fetched - started, decodeMs: decoded - fetched, aggregateMs: performance.now() - decoded };
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  handle(event.data).then(
    (r) => {
      const transfer: ArrayBuffer[] = [];
      if (r.ok) for (const s of r.series) transfer.push(s.timestamps.buffer as ArrayBuffer, s.values.buffer as ArrayBuffer);
      // Several series share one buffer: transfer each once.
      (self as unknown as Worker).postMessage(r, [...new Set(transfer)]);
    },
    (err: unknown) => (self as unknown as Worker).postMessage({ id: event.data.id, ok: false, status: 0, error: (err as Error).message } satisfies WorkerResponse),
  );
};
