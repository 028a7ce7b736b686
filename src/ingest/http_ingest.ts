/**
 * `POST /api/v1/metrics`: one JSON or MessagePack body of points, decoded on a decode worker
 * (round robin; stream 0) with the caller's tenant's series table, charged to the tenant's
 * ingest rate and stored whole or not at all. Transport-free: the server reads the body and
 * writes the answer (src/server/), this file decides what the answer is.
 */
import type { DecodePool } from './decode_pool.js';
import { collectDecoded, type IngestRefusalReason } from './collect_decoded.js';
import type { PayloadFormat } from './frame_decoder.js';
import type { IngestRateLimiter } from './ingest_rate.js';
import { DEFAULT_TIMESTAMP_POLICY, type TimestampPolicy } from './timestamp_precision.js';
import { WireField } from './wire.js';

export interface HttpIngestDeps {
  pool: DecodePool;
  rate: IngestRateLimiter;
}

export type HttpIngestResult =
  | { status: 200; body: Record<string, unknown>; accepted: number }
  | { status: 400 | 409 | 413 | 429; body: Record<string, unknown>; reason: IngestRefusalReason };

/**
 * Decodes and stores `bytes` for `tenant`. Refusals resolve with their status and body
 * (`{error, index, field}`, plus `quota` for 429); failures of the engine itself reject.
 */
export async function ingestHttpBody(deps: HttpIngestDeps, bytes: Uint8Array, format: PayloadFormat, tenant: string, policy: TimestampPolicy = DEFAULT_TIMESTAMP_POLICY): Promise<HttpIngestResult> {
  if (bytes.byteLength === 0) {
    return { status: 400, reason: 'empty', body: { error: `empty body: send {"${WireField.metrics}": [...]}`, index: -1, field: WireField.metrics } };
  }
  // Hand the worker a buffer of its own: `bytes` may be a view into a larger one.
  const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  const outcome = await deps.pool.decode(deps.pool.pickWorker(), owned, format, false, tenant, 0, policy);
  if (outcome.kind === 'custom') {
    return { status: 400, reason: 'shape', body: { error: `${outcome.handler} is only accepted on the WebSocket stream`, index: -1, field: outcome.handler } };
  }
  const result = await collectDecoded(outcome, tenant, deps.rate);
  if (result.ok) return { status: 200, body: { [WireField.accepted]: result.accepted }, accepted: result.accepted };
  const body: Record<string, unknown> = { error: result.error, index: result.index, field: result.field };
  if (result.quota !== undefined) body.quota = result.quota;
  return { status: result.status, reason: result.reason, body };
}
