/**
 * Decode worker thread: owns one FrameDecoder (and so one series table) and answers decode
 * requests from the main thread in arrival order. Columns go back in the transfer list, so
 * no point is copied between threads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FrameDecoder, PayloadRefusedError } from './frame_decoder.js';
import type { DecodeReply, DecodeRequest, DecodeWorkerData, ForgetStreamRequest } from './decode_protocol.js';

const data = workerData as DecodeWorkerData;
const decoder = new FrameDecoder({ maxPointsPerBatch: data.maxPointsPerBatch, customFrameNames: data.customFrameNames });
const port = parentPort!;

port.on('message', (req: DecodeRequest | ForgetStreamRequest) => {
  if ('forget' in req) {
    decoder.forgetStream(req.forget);
    return;
  }
  let reply: DecodeReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const out = decoder.decode(req.bytes, req.format, req.requireSeq, Date.now(), req.stream);
    if ('handler' in out) {
      // Custom items may be views into the frame (msgpack bin): its buffer stays here.
      reply = { id: req.id, ok: true, custom: out };
    } else {
      reply = { id: req.id, ok: true, batch: out };
      transfer.push(out.seriesOf.buffer as ArrayBuffer, out.timestamps.buffer as ArrayBuffer, out.values.buffer as ArrayBuffer);
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

port.postMessage('ready');
