/**
 * A minimal RFC 6455 WebSocket client over node:net, for the load generator and the server
 * tests. Node 20 has no WebSocket client of its own, and a hand-rolled one can also misbehave
 * on purpose: send text frames, oversized frames, or never read its replies (`pauseReading`).
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;

export interface WsMessage {
  opcode: number;
  data: Buffer;
}

/** Bytes of a client frame's header before its masking key, for a payload of `len` bytes. */
function frameHeaderBytes(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** Writes FIN, the opcode, the mask bit and the payload length (RFC 6455 §5.2) at the start of `target`. */
function writeFrameHeader(target: Buffer, opcode: number, len: number): void {
  target[0] = 0x80 | opcode;
  if (len < 126) target[1] = 0x80 | len;
  else if (len < 65536) {
    target[1] = 0x80 | 126;
    target.writeUInt16BE(len, 2);
  } else {
    target[1] = 0x80 | 127;
    target.writeBigUInt64BE(BigInt(len), 2);
  }
}

export class WsClient {
  readonly #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  readonly #mask: Buffer;
  readonly #maskWord: number;
  onMessage: (message: WsMessage) => void = () => undefined;
  onClose: (code: number, reason: string) => void = () => undefined;
  closed = false;
  closeCode = 0;
  closeReason = '';
  /** The subprotocol the server selected (`Sec-WebSocket-Protocol` of its answer), or ''. */
  protocol = '';

  private constructor(socket: Socket, zeroMask: boolean) {
    this.#socket = socket;
    this.#mask = zeroMask ? Buffer.alloc(4) : randomBytes(4);
    this.#maskWord = this.#mask.readUInt32LE(0);
  }

  /**
   * @param zeroMask use an all-zero masking key, so masking costs the client nothing (the load
   *   generator spends its share of the 2 cores on frames, not XOR); the server unmasks as usual.
   * @param headers extra request headers (`authorization`, `origin`, `sec-websocket-protocol`);
   *   a `host` entry replaces the URL's.
   * A refused upgrade rejects with the status line and the server's answer.
   */
  static open(url: string, options: { zeroMask?: boolean; headers?: Record<string, string> } = {}): Promise<WsClient> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: u.hostname, port: Number(u.port) }, () => {
        const key = randomBytes(16).toString('base64');
        const headers = { host: u.host, ...Object.fromEntries(Object.entries(options.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])) };
        socket.write(
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
            Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('') + '\r\n',
        );
      });
      socket.setNoDelay(true);
      let head = Buffer.alloc(0);
      const onHandshake = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onHandshake);
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!/^HTTP\/1\.1 101/.test(status)) {
          // The answer's body may still be arriving; a refusing server closes after it.
          let answer = head.subarray(end + 4).toString();
          socket.on('data', (d: Buffer) => {
            answer += d.toString();
          });
          socket.once('close', () => reject(new Error(`WebSocket upgrade refused: ${status} ${answer}`)));
          setTimeout(() => socket.destroy(), 2000).unref();
          return;
        }
        const client = new WsClient(socket, options.zeroMask === true);
        const selected = /\r\nsec-websocket-protocol: *([^\r]*)/i.exec(head.subarray(0, end).toString());
        client.protocol = selected === null ? '' : selected[1]!.trim();
        socket.on('data', (d: Buffer) => client.#onData(d));
        socket.on('close', () => client.#closedNow(client.closeCode || 1006, client.closeReason));
        socket.on('error', () => undefined);
        resolve(client);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) client.#onData(rest);
      };
      socket.on('data', onHandshake);
      socket.once('error', reject);
    });
  }

  #closedNow(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.onClose(code, reason);
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + len) return;
      const data = b.subarray(at, at + len);
      this.#buffer = b.subarray(at + len);
      if (opcode === OPCODE_CLOSE) {
        const code = data.length >= 2 ? data.readUInt16BE(0) : 1005;
        this.#closedNow(code, data.subarray(2).toString());
        this.#socket.end();
      } else if (opcode === OPCODE_PING) {
        this.#sendFrame(OPCODE_PONG, data);
      } else if (opcode !== OPCODE_PONG) {
        this.onMessage({ opcode, data });
      }
    }
  }

  #sendFrame(opcode: number, payload: Uint8Array): boolean {
    const len = payload.byteLength;
    const headerLen = frameHeaderBytes(len);
    const frame = Buffer.allocUnsafe(headerLen + 4 + len);
    writeFrameHeader(frame, opcode, len);
    this.#mask.copy(frame, headerLen);
    const at = headerLen + 4;
    frame.set(payload, at);
    if (this.#maskWord === 0) return this.#socket.write(frame);
    // Mask four bytes at a time where the payload is 4-byte aligned in `frame`.
    const body = frame.subarray(at);
    const words = (at % 4 === 0 ? len : 0) >>> 2;
    if (words > 0) {
      const w = new Uint32Array(frame.buffer, frame.byteOffset + at, words);
      for (let i = 0; i < words; i++) w[i] = w[i]! ^ this.#maskWord;
    }
    for (let i = words * 4; i < len; i++) body[i]! ^= this.#mask[i & 3]!;
    return this.#socket.write(frame);
  }

  /** Sends a binary frame; false when the socket's write buffer is full (wait for drain). */
  send(payload: Uint8Array): boolean {
    return this.#sendFrame(OPCODE_BINARY, payload);
  }

  /**
   * Sends a binary frame without copying `payload` when the masking key is zero: the caller
   * must leave those bytes alone until the server has answered the frame (by then the socket
   * has written them). The copy per frame was most of the load generator's garbage: at
   * 880 frames/s of ~150 KB it collected every ~150 ms, and its pauses showed up in the ack
   * latencies it measures.
   */
  sendUncopied(payload: Uint8Array): boolean {
    if (this.#maskWord !== 0) return this.#sendFrame(OPCODE_BINARY, payload);
    const len = payload.byteLength;
    const headerLen = frameHeaderBytes(len);
    const header = Buffer.allocUnsafe(headerLen + 4);
    writeFrameHeader(header, OPCODE_BINARY, len);
    header.writeUInt32LE(0, headerLen);
    this.#socket.cork();
    this.#socket.write(header);
    const flushed = this.#socket.write(payload);
    this.#socket.uncork();
    return flushed;
  }

  sendText(text: string): boolean {
    return this.#sendFrame(OPCODE_TEXT, Buffer.from(text));
  }

  /** Writes raw bytes as they are (for malformed-frame tests). */
  sendRaw(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  waitDrain(): Promise<void> {
    return new Promise((resolve) => this.#socket.once('drain', () => resolve()));
  }

  /** Stops reading replies, like a client that never reads its acks. */
  pauseReading(): void {
    this.#socket.pause();
  }

  close(): void {
    if (this.closed) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(1000, 0);
    this.#sendFrame(OPCODE_CLOSE, payload);
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
