/**
 * Messages between the main thread and the decode workers (src/ingest/decode_worker.ts).
 * Requests are answered in the order they were sent, one reply per decode request.
 */
import type { CodecDecodeRequest, CodecReply } from './codec_decoding.js';
import type { DecodedBatch, DecodedCustomFrame, PayloadFormat, RefusalReason } from './frame_decoder.js';
import type { TimestampPolicy } from './timestamp_precision.js';
import type { Seq } from './wire.js';

export interface DecodeWorkerData {
  maxPointsPerBatch: number;
  customFrameNames: string[];
  /** Other protocols' codecs to import at start, name → module URL (protocol_codec.ts). */
  codecs?: Record<string, string>;
}

export interface DecodeRequest {
  id: number;
  format: PayloadFormat;
  /** True for WebSocket frames, which must carry `seq`. */
  requireSeq: boolean;
  /** Whose series these are: the worker decodes with that tenant's series table (tenant_decoders.ts). */
  tenant: string;
  /** The connection the frame came from (0: an HTTP body); see FrameDecoder#decode. */
  stream: number;
  bytes: Uint8Array;
  /** How numeric timestamps are read (an HTTP body's `precision`); default milliseconds. */
  policy?: TimestampPolicy;
  /** `bytes` lie in a buffer of the main thread's frame pool: send it back once decoded. */
  lent?: boolean;
  /** Column buffers of earlier replies, stored and given back for reuse (column_buffers.ts). */
  columnBuffers?: ArrayBuffer[];
}

/** The connection `forget` of `tenant` closed: drop what the decoder keeps for it. No reply. */
export interface ForgetStreamRequest {
  forget: number;
  tenant: string;
}

/** The main thread dropped its mirror of `forgetTenant`'s series table: drop the decoder too. No reply. */
export interface ForgetTenantRequest {
  forgetTenant: string;
}

export type DecodeWorkerMessage = DecodeRequest | CodecDecodeRequest | ForgetStreamRequest | ForgetTenantRequest;

/**
 * `frameBuffer`: the request's buffer, handed back for reuse when the request lent one
 * (DecodeRequest.lent) and nothing in the reply still points into it.
 */
export type DecodeReply = (
  | { id: number; ok: true; batch: DecodedBatch }
  | { id: number; ok: true; custom: DecodedCustomFrame }
  | { id: number; ok: false; error: string; reason: RefusalReason; index: number; field: string; seq: Seq | null }
) & { frameBuffer?: ArrayBuffer };

/** Every message a decode worker sends back besides 'ready'. */
export type DecodeWorkerReply = DecodeReply | CodecReply;
