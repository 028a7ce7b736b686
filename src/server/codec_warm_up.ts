/**
 * Warm-up of the other protocols' decoders (Prometheus remote write, InfluxDB line protocol)
 * before a fresh server announces itself; src/server/warm_up.ts runs it beside its own frames.
 *
 * Why: a fresh server's first four remote-write requests took 0.74–1.43 s against a median of
 * 61–282 ms later (bench/interop_ingest.ts shapes, a shared machine). With the decoder warmed
 * first by other series, the first four still took ~0.6 s: about half was the first use of the
 * codec path (snappy, protobufjs's Reader and the label checks in the decode worker, the
 * line-protocol parser, the reply path on this thread), the rest creating 1,000 new series,
 * which warm_up.ts step 4 already warms on the store's side.
 *
 * What: BODIES_PER_WORKER synthetic bodies of each protocol, built with the same libraries
 * clients and the tests use (protobufjs through remote_write_proto.ts, the `snappy` package,
 * node:zlib for gzip), go through the pool's decodeWithCodec on every worker; the gzip ones
 * are inflated first by the routes' own decodedBody. They are only decoded: the outcome is not
 * collected, so nothing reaches the store. Their series are numbered in WARM_UP_TENANT's table
 * (its decode state is dropped by the pool's idle eviction, as for the native frames).
 * A failure here is reported, never thrown: without it the first requests are slower, not wrong.
 */
import { gzipSync } from 'node:zlib';
import { compressSync } from 'snappy';
import type { CodecOutcome } from '../ingest/decode_pool.js';
import type { CodecOptions } from '../ingest/protocol_codec.js';
import { decodedBody } from '../interop/content_encoding.js';
import { encodeWriteRequest } from '../interop/remote_write_proto.js';

/**
 * Bodies of each protocol per worker. Two: the second finds the codec's per-tenant caches
 * filled, the path every later request of a known series takes.
 */
export const BODIES_PER_WORKER = 2;
/** Series per body and samples per series: 100 × 10 = 1,000 points, a tenth of the bench's requests. */
export const CODEC_SERIES = 100;
export const CODEC_SAMPLES = 10;
/** Limits for the synthetic bodies: far above their size, so only a bug refuses them. */
const MAX_BYTES = 16 * 1024 * 1024;

/** What the codec warm-up needs of the decode pool (src/ingest/decode_pool.ts). */
export interface CodecWarmUpPool {
  readonly threads: number;
  decodeWithCodec?(workerIndex: number, bytes: Uint8Array, codec: string, options: CodecOptions, tenant: string): Promise<CodecOutcome>;
}

export interface CodecWarmUpReport {
  /** Bodies decoded to points. */
  bodies: number;
  points: number;
  /** Why it stopped (a codec not loaded, a refusal): start-up goes on without it. */
  error?: string;
}

function labelsOf(i: number): Array<{ name: string; value: string }> {
  return [{ name: '__name__', value: `warm_up_metric_${i % 10}` }, { name: 'host', value: `warm-up-${Math.floor(i / 10)}` }, { name: 'region', value: 'warm-up-1' }];
}

/** A snappy-compressed prometheus.WriteRequest of `series` series × `samples` samples ending at `nowMs`. */
export function syntheticRemoteWriteBody(series: number, samples: number, nowMs: number): Uint8Array {
  const timeseries = Array.from({ length: series }, (_, i) => ({
    labels: labelsOf(i),
    samples: Array.from({ length: samples }, (_, s) => ({ timestamp: nowMs - (samples - s) * 10_000, value: (i % 100) + s + 0.25 })),
  }));
  return compressSync(Buffer.from(encodeWriteRequest({ timeseries })));
}

/** Line protocol of the same series (one field each, `measurement.field` = `warm_up.value`), nanosecond timestamps. */
export function syntheticLineProtocolBody(series: number, samples: number, nowMs: number): Uint8Array {
  let text = '';
  for (let s = 0; s < samples; s++) {
    const ns = BigInt(nowMs - (samples - s) * 10_000) * 1_000_000n;
    for (let i = 0; i < series; i++) text += `warm_up,host=warm-up-${Math.floor(i / 10)},region=warm-up-1,metric=m${i % 10} value=${(i % 100) + s + 0.25} ${ns}\n`;
  }
  return new TextEncoder().encode(text);
}

/**
 * Decodes the synthetic bodies on every worker of `pool` for `tenant` (nothing is stored).
 * Resolves with what was decoded; never rejects.
 */
export async function warmUpCodecs(pool: CodecWarmUpPool, tenant: string, nowMs = Date.now()): Promise<CodecWarmUpReport> {
  const report: CodecWarmUpReport = { bodies: 0, points: 0 };
  if (pool.decodeWithCodec === undefined) return { ...report, error: 'the decode pool has no codecs' };
  const decode = pool.decodeWithCodec.bind(pool);
  const workers = Math.max(1, pool.threads);
  const remoteWrite = syntheticRemoteWriteBody(CODEC_SERIES, CODEC_SAMPLES, nowMs);
  const lineProtocol = syntheticLineProtocolBody(CODEC_SERIES, CODEC_SAMPLES, nowMs);
  const gzipped = gzipSync(lineProtocol);
  const one = async (worker: number, codec: string, bytes: Uint8Array, options: CodecOptions): Promise<void> => {
    // decodeWithCodec transfers the buffer: each request gets a copy of its own.
    const outcome = await decode(worker, bytes.slice(), codec, options, tenant);
    if (outcome.kind !== 'series') throw new Error(`the ${codec} warm-up body was refused: ${outcome.error}`);
    report.bodies++;
    report.points += outcome.points;
  };
  try {
    for (let round = 0; round < BODIES_PER_WORKER; round++) {
      await Promise.all(Array.from({ length: workers }, async (_, w) => {
        await one(w, 'remote_write', remoteWrite, { maxDecompressedBytes: MAX_BYTES, maxSeries: CODEC_SERIES, maxSamples: CODEC_SERIES * CODEC_SAMPLES });
        // Alternately plain and gzip, as Telegraf sends it: the gzip one through the routes' inflation.
        const body = round % 2 === 0 ? lineProtocol : await decodedBody(gzipped, 'gzip', MAX_BYTES);
        await one(w, 'line_protocol', body, { precision: 'ns', maxPoints: CODEC_SERIES * CODEC_SAMPLES });
      }));
    }
  } catch (error) {
    report.error = (error as Error).message;
  }
  return report;
}
