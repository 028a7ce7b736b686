/**
 * Reference for the failure reporting of the chunk codec kernels (`fail` in
 * assembly/codec_status.ts): a decode failure carries its status code and where it was found,
 * and becomes the same {@link ChunkDecodeError} the WASM wrapper throws. Format and status
 * codes: docs/format/chunk.md ("Decoding guarantees").
 */
import { ChunkDecodeError } from '../codec_status.js';

/** Internal failure carrying the status and location; converted to ChunkDecodeError at the API. */
export class DecodeFailure {
  constructor(
    readonly code: number,
    readonly section: number,
    readonly bit: number,
    readonly limitBits: number,
  ) {}
}

/** The public error for a DecodeFailure; anything else (ChunkDecodeError included) passes through. */
export function toDecodeError(e: unknown, bytes: Uint8Array): unknown {
  if (e instanceof DecodeFailure) {
    return new ChunkDecodeError(e.code, { section: e.section, bit: e.bit, limitBits: e.limitBits }, bytes);
  }
  return e;
}
