/**
 * Runs one codec request (protocol_codec.ts) against a tenant's FrameDecoder, on whichever
 * thread holds it (a decode worker, or the caller's thread for `threads: 0`), and turns the
 * outcome into what crosses back: columns plus the identities of series numbered by this
 * request (the main thread adds them to its mirror in that order), or a refusal.
 *
 * All or nothing on the numbering too: when the request is refused, the numbers it took are
 * handed out again and the codec's cached state for the tenant is dropped (it may name those
 * numbers), exactly as a refused native payload leaves no series behind (frame_decoder.ts).
 */
import type { SeriesIdentity } from '../model/api.js';
import type { FrameDecoder } from './frame_decoder.js';
import { CodecRefusedError, type CodecOptions, type ProtocolCodec } from './protocol_codec.js';

export interface CodecDecodeRequest {
  id: number;
  /** Key of the codec in the pool's `codecs`. */
  codec: string;
  tenant: string;
  bytes: Uint8Array;
  options: CodecOptions;
}

export interface CodecDecoded {
  points: number;
  newSeries: SeriesIdentity[];
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
  counts: Record<string, number>;
}

export interface CodecRefusal {
  status: number;
  error: string;
  details: Record<string, string | number>;
}

export type CodecReply =
  | { id: number; ok: true; codec: CodecDecoded }
  | { id: number; ok: false; codecRefusal: CodecRefusal }
  /** The codec failed unexpectedly (a bug, not the client's fault): the main thread rejects. */
  | { id: number; ok: false; codecFailure: string };

/** Each codec's per-tenant state, kept with the tenant's decoder so it goes when that goes. */
const states = new WeakMap<FrameDecoder, Map<string, unknown>>();

/** Decodes `req` with `codec` against `decoder` (the tenant's); never throws. */
export function runCodec(codec: ProtocolCodec | undefined, decoder: FrameDecoder, req: CodecDecodeRequest, nowMs: number): CodecReply {
  if (codec === undefined) return { id: req.id, ok: false, codecFailure: `no decode codec named ${JSON.stringify(req.codec)} is loaded` };
  let perCodec = states.get(decoder);
  if (perCodec === undefined) {
    perCodec = new Map();
    states.set(decoder, perCodec);
  }
  let state = perCodec.get(req.codec);
  if (state === undefined) {
    state = codec.createState();
    perCodec.set(req.codec, state);
  }
  const firstNew = decoder.seriesCount;
  const newSeries: SeriesIdentity[] = [];
  const numbering = {
    add(identity: SeriesIdentity): number {
      newSeries.push(identity);
      return decoder.takeSeriesNumber();
    },
    get size(): number {
      return decoder.seriesCount;
    },
  };
  try {
    const batch = codec.decode(req.bytes, req.options, numbering, state, nowMs);
    return {
      id: req.id,
      ok: true,
      codec: { points: batch.seriesOf.length, newSeries, seriesOf: batch.seriesOf, timestamps: batch.timestamps, values: batch.values, counts: batch.counts },
    };
  } catch (err) {
    if (decoder.seriesCount !== firstNew) {
      decoder.releaseSeriesNumbers(firstNew);
      perCodec.delete(req.codec);
    }
    if (err instanceof CodecRefusedError) return { id: req.id, ok: false, codecRefusal: { status: err.status, error: err.message, details: { ...err.details } } };
    return { id: req.id, ok: false, codecFailure: `decode codec ${req.codec} failed: ${(err as Error).message}` };
  }
}

/** The reply's buffers to transfer (its columns; nothing for a refusal). */
export function codecTransfer(reply: CodecReply): ArrayBuffer[] {
  if (!reply.ok) return [];
  const c = reply.codec;
  return [c.seriesOf.buffer as ArrayBuffer, c.timestamps.buffer as ArrayBuffer, c.values.buffer as ArrayBuffer];
}
