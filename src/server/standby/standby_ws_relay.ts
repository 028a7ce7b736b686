/**
 * A WebSocket a standby relays to the writer (standby_forwarder.ts): the client's upgrade
 * request goes to the writer as it came (path, query, `Authorization`, `Sec-WebSocket-Protocol`
 * and every other header but Host and the address claims, with the forwarder's X-Forwarded-For
 * instead, as standby_http_forward.ts does), the
 * writer's answer comes back as it is, and after a 101 the bytes flow both ways unchanged. The
 * relay never decodes a frame: the client's acknowledgement is the writer's, sent after the
 * writer's database committed the batch.
 *
 * Back-pressure: each direction stops reading its source while the other socket's write buffer
 * is full (Node's writable high-water mark, 16 KiB by default), so the relay buffers at most one
 * read chunk plus that per direction, and a slow side slows the other down end to end.
 *
 * Ends: the writer's connection closing without a close frame of its own (it died, or a
 * failover cut it) and this standby taking over both send the client a close frame 1012 with
 * the reason, between two frames (FrameBoundaryTracker); mid-frame the connection is cut instead.
 * Clients reconnect, to any node.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { CLOSE_SERVICE_RESTART, FrameBoundaryTracker, closeFrame } from './standby_ws_frames.js';
import { writerUrlOf } from './standby_http_forward.js';

/** Longest wait for the TCP (and TLS) connection to the writer. */
const CONNECT_TIMEOUT_MS = 5_000;
/** Longest wait for the writer's answer to the upgrade (it authenticates first). */
const UPGRADE_ANSWER_TIMEOUT_MS = 10_000;
/** Largest answer head accepted from the writer before the 101 (its headers are a few hundred bytes). */
const MAX_ANSWER_HEAD_BYTES = 16 * 1024;
/** After our close frame, how long the client has to close its side before the socket is cut. */
const CLOSE_GRACE_MS = 1_000;
const ADDRESS_CLAIMS: ReadonlySet<string> = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'host']);

/** A plain HTTP answer on a socket that was to be upgraded, then the socket's end. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  const lines = [`HTTP/1.1 ${status} ${reason}`, 'content-type: application/json', `content-length: ${Buffer.byteLength(text)}`, 'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
}

export interface RelayEnd {
  /** Why the relay ended, for the forwarder's log (no header values). */
  why: string;
  /** The writer could not be reached or dropped the stream: check where it is now. */
  writerFailed: boolean;
}

export class WsRelay {
  readonly #client: Duplex;
  #upstream: Socket | undefined;
  readonly #tracker = new FrameBoundaryTracker();
  /** Until the writer's 101 (or refusal) head is complete: its bytes so far. */
  #answerHead: Buffer | undefined = Buffer.alloc(0);
  #upgraded = false;
  #ended = false;
  #closeReason: string | undefined;

  constructor(
    req: IncomingMessage,
    client: Duplex,
    head: Buffer,
    writer: string,
    private readonly forwardedFor: string,
    private readonly onEnd: (end: RelayEnd) => void,
  ) {
    this.#client = client;
    const target = writerUrlOf(writer, req.url ?? '');
    if (target === undefined) {
      refuseUpgrade(client, 400, 'Bad Request', { error: 'the upgrade target must be a path starting with /' });
      this.#end({ why: 'upgrade target not origin-form', writerFailed: false });
      return;
    }
    // Nothing is read from the client until the writer is connected; its bytes wait in the kernel.
    client.pause();
    const upstream = target.protocol === 'https:'
      ? tlsConnect({ host: target.hostname, port: Number(target.port || 443), servername: target.hostname })
      : netConnect({ host: target.hostname, port: Number(target.port || 80) });
    this.#upstream = upstream;
    upstream.setNoDelay(true);
    upstream.setTimeout(CONNECT_TIMEOUT_MS, () => this.#writerFailed('the writer did not answer in time'));
    upstream.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      upstream.setTimeout(UPGRADE_ANSWER_TIMEOUT_MS);
      upstream.write(this.#requestHead(req, target));
      if (head.length > 0) upstream.write(head);
      this.#pipeClientToWriter(upstream);
    });
    upstream.on('data', (chunk: Buffer) => this.#fromWriter(chunk));
    upstream.on('error', (err: NodeJS.ErrnoException) => this.#writerFailed(`the writer connection failed (${err.code ?? err.message})`));
    upstream.on('close', () => this.#writerFailed('the writer closed the connection'));
    client.on('error', () => this.#clientGone());
    client.on('close', () => this.#clientGone());
  }

  /** This node takes over as the writer: the client is told to reconnect (1012) and the relay ends. */
  close(reason: string): void {
    this.#closeReason = reason;
    this.#upstream?.destroy();
  }

  #requestHead(req: IncomingMessage, target: URL): string {
    const lines = [`${req.method ?? 'GET'} ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`, `x-forwarded-for: ${this.forwardedFor}`];
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (ADDRESS_CLAIMS.has(raw[i]!.toLowerCase())) continue;
      lines.push(`${raw[i]}: ${raw[i + 1]}`);
    }
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  #pipeClientToWriter(upstream: Socket): void {
    const client = this.#client;
    client.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    client.resume();
  }

  #fromWriter(chunk: Buffer): void {
    if (this.#ended) return;
    let data = chunk;
    if (this.#answerHead !== undefined) {
      const soFar = Buffer.concat([this.#answerHead, chunk]);
      const endOfHead = soFar.indexOf('\r\n\r\n');
      if (endOfHead < 0) {
        if (soFar.length > MAX_ANSWER_HEAD_BYTES) return this.#writerFailed(`the writer's answer head exceeds ${MAX_ANSWER_HEAD_BYTES} bytes`);
        this.#answerHead = soFar;
        return;
      }
      this.#answerHead = undefined;
      this.#upgraded = /^HTTP\/1\.1 101 /.test(soFar.subarray(0, 16).toString('latin1'));
      // Streams live as long as their clients want: only the connect and answer phases have deadlines.
      this.#upstream?.setTimeout(0);
      const headBytes = soFar.subarray(0, endOfHead + 4);
      data = soFar.subarray(endOfHead + 4);
      this.#write(headBytes);
    }
    if (this.#upgraded) this.#tracker.feed(data);
    if (data.length > 0) this.#write(data);
  }

  #write(bytes: Buffer): void {
    if (!this.#client.write(bytes)) {
      this.#upstream?.pause();
      this.#client.once('drain', () => this.#upstream?.resume());
    }
  }

  #writerFailed(why: string): void {
    if (this.#ended) return;
    const upstream = this.#upstream;
    upstream?.destroy();
    const client = this.#client;
    const takingOver = this.#closeReason !== undefined;
    if (this.#answerHead !== undefined) {
      // No answer from the writer yet: the client still speaks HTTP and gets a 503.
      refuseUpgrade(client, 503, 'Service Unavailable', { error: `${this.#closeReason ?? why}; retry (a failover may be in progress)` }, { 'retry-after': '1' });
    } else if (this.#upgraded && !this.#tracker.sawClose && this.#tracker.atBoundary) {
      client.end(closeFrame(CLOSE_SERVICE_RESTART, this.#closeReason ?? `${why}: the writer is gone (failover); reconnect`));
      setTimeout(() => client.destroy(), CLOSE_GRACE_MS).unref();
    } else if (this.#tracker.atBoundary) {
      client.end();
      setTimeout(() => client.destroy(), CLOSE_GRACE_MS).unref();
    } else {
      client.destroy();
    }
    // A refusal the writer answered (no 101) and a stream it closed itself are not failures of the writer.
    const answeredRefusal = this.#answerHead === undefined && !this.#upgraded;
    this.#end({ why: this.#closeReason ?? why, writerFailed: !takingOver && !answeredRefusal && !this.#tracker.sawClose });
  }

  #clientGone(): void {
    if (this.#ended) return;
    this.#upstream?.destroy();
    this.#end({ why: 'the client closed the connection', writerFailed: false });
  }

  #end(end: RelayEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.onEnd(end);
  }
}
