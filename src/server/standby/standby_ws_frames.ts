/**
 * What a standby's WebSocket relay (standby_ws_relay.ts) needs to know about the frames it
 * copies from the writer to the client without decoding them: where one frame ends (a close
 * frame of the relay's own may only go between two frames, never inside one) and whether the
 * writer already sent a close frame (then the relay adds none). RFC 6455 §5.2:
 *
 *   byte 0: FIN(1) RSV(3) opcode(4) │ byte 1: MASK(1) len(7) │ len 126: 2-byte length,
 *   len 127: 8-byte length │ MASK: 4-byte key │ payload
 *
 * Extensions (permessage-deflate) change payloads, not this framing, so the tracker holds for
 * any extension the client and the writer agreed on.
 */

export const OPCODE_CLOSE = 0x8;
/** RFC 6455 §7.4.1: the server is restarting (the standby takes over, or the writer it forwarded to is gone). */
export const CLOSE_SERVICE_RESTART = 1012;
/** RFC 6455 §7.4.1 (IANA registry): try again later (no writer to forward to right now). */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** A close frame's reason must fit a control frame's 125-byte payload with its 2-byte code. */
const MAX_CLOSE_REASON_BYTES = 123;
/** The longest frame header: 2 bytes, an 8-byte length and a 4-byte masking key. */
const MAX_HEADER_BYTES = 14;

/** Follows frame boundaries through a byte stream fed in arbitrary pieces. */
export class FrameBoundaryTracker {
  /** Bytes of the current frame's header read so far (while `#payloadLeft` is unknown). */
  readonly #header = Buffer.alloc(MAX_HEADER_BYTES);
  #headerBytes = 0;
  #payloadLeft = 0;
  /** True once a close frame's header went by. */
  sawClose = false;

  /** True between two frames: nothing of a frame is outstanding. */
  get atBoundary(): boolean {
    return this.#headerBytes === 0 && this.#payloadLeft === 0;
  }

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - i);
        this.#payloadLeft -= take;
        i += take;
        continue;
      }
      this.#header[this.#headerBytes++] = chunk[i++]!;
      const needed = this.#headerLength();
      if (needed === undefined || this.#headerBytes < needed) continue;
      if ((this.#header[0]! & 0x0f) === OPCODE_CLOSE) this.sawClose = true;
      this.#payloadLeft = this.#payloadLength();
      this.#headerBytes = 0;
    }
  }

  /** The header's full length once its first two bytes are in. */
  #headerLength(): number | undefined {
    if (this.#headerBytes < 2) return undefined;
    const len7 = this.#header[1]! & 0x7f;
    const masked = (this.#header[1]! & 0x80) !== 0;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  #payloadLength(): number {
    const len7 = this.#header[1]! & 0x7f;
    if (len7 === 126) return this.#header.readUInt16BE(2);
    // 2^53 bytes would take years to arrive; Number keeps the arithmetic exact below that.
    if (len7 === 127) return Number(this.#header.readBigUInt64BE(2));
    return len7;
  }
}

/** An unmasked (server-to-client) close frame with `code` and `reason`, the reason cut to fit whole UTF-8 characters. */
export function closeFrame(code: number, reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_CLOSE_REASON_BYTES) {
    let end = MAX_CLOSE_REASON_BYTES;
    // Back off continuation bytes (10xxxxxx) so no character is cut in half.
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x80 | OPCODE_CLOSE;
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}
