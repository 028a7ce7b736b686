/**
 * http_exchange.ts with a stand-in for uWS's HttpResponse: bodies are allocated as their bytes
 * arrive (a declared 16 MiB costs nothing until sent), arrive intact through many chunks, and
 * the body deadline and size limit answer 408 / 413.
 */
import type { HttpResponse as UwsResponse } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { HttpResponder, openExchange, readBody, type Exchange } from '../../src/server/http_exchange.js';
import { SelfMetrics } from '../../src/server/self_metrics.js';

/** Records what the server wrote; `feed` delivers body chunks as uWS would. */
class FakeResponse {
  status = '';
  headers: Array<[string, string]> = [];
  body: string | undefined;
  closed = false;
  #onData: ((chunk: ArrayBuffer, isLast: boolean) => void) | undefined;
  onAborted(): this {
    return this;
  }
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    this.#onData = handler;
    return this;
  }
  cork(cb: () => void): this {
    cb();
    return this;
  }
  writeStatus(s: string): this {
    this.status = s;
    return this;
  }
  writeHeader(k: string, v: string): this {
    this.headers.push([k, v]);
    return this;
  }
  end(body: string, close?: boolean): this {
    this.body = body;
    this.closed = close === true;
    return this;
  }
  feed(bytes: Uint8Array, isLast: boolean): void {
    // uWS hands a buffer valid only during the call; give a copy the test then trashes.
    const chunk = bytes.slice().buffer;
    this.#onData!(chunk, isLast);
    new Uint8Array(chunk).fill(0xee);
  }
}

function exchange(): { x: Exchange; res: FakeResponse; responder: HttpResponder } {
  const res = new FakeResponse();
  const x = openExchange(res as unknown as UwsResponse);
  return { x, res, responder: new HttpResponder({ metrics: new SelfMetrics(), log: () => undefined }) };
}

const MiB = 1024 * 1024;

describe('readBody', () => {
  it('allocates for the bytes that arrived, not the declared Content-Length', () => {
    const limits = { maxBytes: 16 * MiB, maxBytesSetting: 'collector.max_body_bytes', timeoutMs: 60_000 };
    const reads = [];
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 40; i++) {
      const { x, res, responder } = exchange();
      reads.push(readBody(x, responder, 16 * MiB, limits));
      res.feed(new Uint8Array(100), false);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    // 40 × 16 MiB allocated up front would be 640 MiB; 40 first buffers of 16 KiB are 640 KiB.
    expect(grown).toBeLessThan(4 * MiB);
    for (const r of reads) r.cancel();
  });

  it('assembles a body from many chunks, growing its buffer, byte for byte', async () => {
    const limits = { maxBytes: 4 * MiB, maxBytesSetting: 'collector.max_body_bytes', timeoutMs: 60_000 };
    for (const declared of [undefined, 3 * MiB + 7]) {
      const { x, res, responder } = exchange();
      const read = readBody(x, responder, declared, limits);
      const sent = new Uint8Array(3 * MiB + 7).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
      for (let at = 0; at < sent.length; at += 65_521) {
        const end = Math.min(sent.length, at + 65_521);
        res.feed(sent.subarray(at, end), end === sent.length);
      }
      const got = await read.done;
      expect(read.complete).toBe(true);
      expect(got!.byteLength).toBe(sent.length);
      expect(Buffer.compare(Buffer.from(got!), Buffer.from(sent))).toBe(0);
      expect(res.body).toBeUndefined();
    }
  });

  it('answers 413 past the limit once the client stops, and 408 with the connection closed at the deadline', async () => {
    const small = { maxBytes: 1000, maxBytesSetting: 'collector.max_body_bytes', timeoutMs: 60_000 };
    const big = exchange();
    const tooBig = readBody(big.x, big.responder, undefined, small);
    big.res.feed(new Uint8Array(600), false);
    big.res.feed(new Uint8Array(600), false);
    expect(await tooBig.done).toBeUndefined();
    big.res.feed(new Uint8Array(10), true);
    expect(big.res.status).toBe('413 Payload Too Large');
    expect(JSON.parse(big.res.body!).error).toBe('body passes collector.max_body_bytes=1000');

    const slow = exchange();
    const started = performance.now();
    const late = readBody(slow.x, slow.responder, 500, { ...small, timeoutMs: 150 });
    slow.res.feed(new Uint8Array(10), false);
    expect(await late.done).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(slow.res.status).toBe('408 Request Timeout');
    expect(slow.res.closed).toBe(true);
  });
});
