/**
 * Decode worker thread: owns one FrameDecoder (and so one series table) per tenant
 * (tenant_decoders.ts) and answers decode requests from the main thread in arrival order.
 * Columns go back in the transfer list, so no point is copied between threads. Requests naming
 * a codec (line protocol, remote write: protocol_codec.ts) run it against the same tenant's
 * decoder (codec_decoding.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PayloadRefusedError } from './frame_decoder.js';
import type { DecodeReply, DecodeRequest, DecodeWorkerData, DecodeWorkerMessage } from './decode_protocol.js';
import { TenantDecoders } from './tenant_decoders.js';
import { codecTransfer, runCodec, type CodecReply } from './codec_decoding.js';
import { loadCodecs, type ProtocolCodec } from './protocol_codec.js';
import { encodeColumnsBlock } from '../storage/write_ahead_log.js';
import { keepColumnBuffers } from './column_buffers.js';

const data = workerData as DecodeWorkerData;
const decoders = new TenantDecoders({ maxPointsPerBatch: data.maxPointsPerBatch, customFrameNames: data.customFrameNames });
const port = parentPort!;
// 'ready' goes first: loading the codecs (protobufjs, snappy: ~0.3 s) must not hold up the
// server's start. Requests sent meanwhile wait in the port, in order, until the listener below
// is attached. A codec that fails to load fails its requests, not the worker (a worker that
// exits is started again, and would fail again).
port.postMessage('ready');
let codecs = new Map<string, ProtocolCodec>();
let codecLoadError: string | undefined;
try {
  codecs = await loadCodecs(data.codecs ?? {});
} catch (err) {
  codecLoadError = (err as Error).message;
}

port.on('message', (req: DecodeWorkerMessage) => {
  if ('forget' in req) {
    decoders.forgetStream(req.tenant, req.forget);
    return;
  }
  if ('forgetTenant' in req) {
    decoders.forgetTenant(req.forgetTenant);
    return;
  }
  if ('codec' in req) {
    const codecReply: CodecReply = codecLoadError !== undefined
      ? { id: req.id, ok: false, codecFailure: `decode codecs failed to load: ${codecLoadError}` }
      : runCodec(codecs.get(req.codec), decoders.get(req.tenant), req, Date.now());
    port.postMessage(codecReply, codecTransfer(codecReply));
    return;
  }
  if (req.columnBuffers !== undefined) keepColumnBuffers(req.columnBuffers);
  let reply: DecodeReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const out = decoders.get(req.tenant).decode(req.bytes, req.format, req.requireSeq, Date.now(), req.stream, req.policy);
    if ('handler' in out) {
      // Custom items may be views into the frame (msgpack bin): its buffer stays here.
      reply = { id: req.id, ok: true, custom: out };
    } else {
      // The record's compression runs here, where there is room, rather than on the main thread
      // that acknowledges every batch (one batch's part of the group's record, write_ahead_log.ts).
      out.walColumns = encodeColumnsBlock(out.timestamps, out.values, out.points);
      reply = { id: req.id, ok: true, batch: out };
      transfer.push(out.seriesOf.buffer as ArrayBuffer, out.timestamps.buffer as ArrayBuffer, out.values.buffer as ArrayBuffer, out.walColumns.bytes.buffer as ArrayBuffer);
      lendBack(req, reply, transfer);
    }
  } catch (err) {
    if (err instanceof PayloadRefusedError) {
      reply = { id: req.id, ok: false, error: err.message, reason: err.reason, index: err.index, field: err.field, seq: err.seq };
    } else {
      reply = { id: req.id, ok: false, error: `decoder failed: ${(err as Error).message}`, reason: 'decode', index: -1, field: '', seq: null };
    }
    lendBack(req, reply, transfer);
  }
  try {
    port.postMessage(reply, transfer);
  } catch (err) {
    // Custom frame items that structured clone cannot carry (none come from msgpack/JSON, but
    // be safe): answer with a refusal rather than leaving the request hanging.
    port.postMessage({ id: req.id, ok: false, error: `cannot hand payload to main thread: ${(err as Error).message}`, reason: 'decode', index: -1, field: '', seq: null } satisfies DecodeReply);
  }
});

/** Returns a lent frame buffer with the reply, unless one of the reply's columns lives in it. */
function lendBack(req: DecodeRequest, reply: DecodeReply, transfer: ArrayBuffer[]): void {
  const buffer = req.bytes.buffer as ArrayBuffer;
  if (req.lent !== true || transfer.includes(buffer)) return;
  reply.frameBuffer = buffer;
  transfer.push(buffer);
}
