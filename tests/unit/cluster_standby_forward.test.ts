/**
 * The standby forwarder's parts in one process (src/server/standby/standby_*.ts): the frame boundary
 * tracker against frames built by a plain reference encoder, the close frame, header and
 * target rules, and a forwarder in front of a stand-in writer (node:http) for what the
 * integration test (tests/integration/cluster_forwarding.test.ts) cannot provoke on purpose:
 * a writer that never answers (504), one that cannot be reached (503), address claims replaced,
 * and a relayed stream whose writer vanishes (close 1012).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import type { Authenticator } from '../../src/auth/authenticator.js';
import { ConfigError, defaultConfig, loadConfig } from '../../src/config/config.js';
import { startStandbyForwarder, clusterAdvertiseUrl, type StandbyForwarder } from '../../src/server/standby/standby_forwarder.js';
import { endToEndHeaders, writerUrlOf } from '../../src/server/standby/standby_http_forward.js';
import { CLOSE_SERVICE_RESTART, FrameBoundaryTracker, closeFrame } from '../../src/server/standby/standby_ws_frames.js';
import { freePort } from '../free_port.js';

/** A server-to-client frame as RFC 6455 §5.2 lays it out, optionally masked. */
function referenceFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (masked ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  return Buffer.concat([head, payload]);
}

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('FrameBoundaryTracker', () => {
  it('is at a boundary exactly at the end of each frame, whatever the pieces', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = random(seed);
      const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000, 3];
      const frames = sizes.map((n, i) => referenceFrame(i === sizes.length - 1 ? 0x8 : 0x2, Buffer.alloc(n, i), rnd() < 0.5));
      const stream = Buffer.concat(frames);
      const ends = new Set<number>();
      let at = 0;
      for (const f of frames) ends.add((at += f.length));
      const tracker = new FrameBoundaryTracker();
      let offset = 0;
      while (offset < stream.length) {
        const piece = Math.max(1, Math.floor(rnd() * 3000));
        // Byte by byte through the piece's end, to check the boundary at every position.
        const end = Math.min(stream.length, offset + piece);
        tracker.feed(stream.subarray(offset, end));
        offset = end;
        expect(tracker.atBoundary, `seed ${seed} at ${offset}`).toBe(ends.has(offset));
      }
      expect(tracker.sawClose).toBe(true);
    }
  });

  it('sees every single-byte position of small frames', () => {
    const frames = [referenceFrame(0x1, Buffer.from('hi'), false), referenceFrame(0x9, Buffer.alloc(0), true), referenceFrame(0x2, Buffer.alloc(300, 7), false)];
    const stream = Buffer.concat(frames);
    const ends = new Set([frames[0]!.length, frames[0]!.length + frames[1]!.length, stream.length]);
    const tracker = new FrameBoundaryTracker();
    for (let i = 0; i < stream.length; i++) {
      tracker.feed(stream.subarray(i, i + 1));
      expect(tracker.atBoundary, `after byte ${i + 1}`).toBe(ends.has(i + 1));
    }
    expect(tracker.sawClose).toBe(false);
  });
});

describe('closeFrame', () => {
  it('carries the code and the reason, cut to 123 bytes on a character boundary', () => {
    const frame = closeFrame(CLOSE_SERVICE_RESTART, 'é'.repeat(100));
    expect(frame[0]).toBe(0x88);
    expect(frame[1]).toBe(frame.length - 2);
    expect(frame.length - 2).toBeLessThanOrEqual(125);
    expect(frame.readUInt16BE(2)).toBe(1012);
    const reason = frame.subarray(4).toString('utf8');
    expect(reason).toBe('é'.repeat(61));
    expect(closeFrame(1013, 'short').subarray(4).toString()).toBe('short');
  });
});

describe('forwarded headers and targets', () => {
  it('drops hop-by-hop headers, those Connection lists, and the named ones; keeps repeats', () => {
    const raw = ['Host', 'a', 'Connection', 'keep-alive, X-Secret-Hop', 'Keep-Alive', 'timeout=5', 'X-Secret-Hop', '1', 'Authorization', 'Bearer t',
      'Transfer-Encoding', 'chunked', 'X-Forwarded-For', '6.6.6.6', 'Accept', 'a/b', 'Accept', 'c/d', 'Upgrade', 'websocket', 'TE', 'trailers'];
    expect(endToEndHeaders(raw, 'keep-alive, X-Secret-Hop', new Set(['host', 'x-forwarded-for']))).toEqual({ authorization: 'Bearer t', accept: ['a/b', 'c/d'] });
  });

  it('keeps every request on the writer', () => {
    expect(writerUrlOf('http://10.0.0.5:8080', '/api/v1/query?x=1')?.href).toBe('http://10.0.0.5:8080/api/v1/query?x=1');
    expect(writerUrlOf('http://10.0.0.5:8080', '//evil.example/x')?.host).toBe('10.0.0.5:8080');
    expect(writerUrlOf('http://10.0.0.5:8080', 'http://evil.example/x')).toBeUndefined();
    expect(writerUrlOf('http://10.0.0.5:8080', '*')).toBeUndefined();
  });

  it('storage.advertise_url takes an origin and refuses anything else, naming the value', () => {
    expect(loadConfig({ env: { METRICS_ADVERTISE_URL: 'http://10.0.0.5:8080/' } }).storage.advertiseUrl).toBe('http://10.0.0.5:8080');
    expect(loadConfig({ env: { METRICS_ADVERTISE_URL: 'https://node-a.internal' } }).storage.advertiseUrl).toBe('https://node-a.internal');
    for (const bad of ['10.0.0.5:8080', 'ftp://x', 'http://u:p@x:1', 'http://x:1/path', 'http://x:1/?q=1']) {
      expect(() => loadConfig({ env: { METRICS_ADVERTISE_URL: bad } }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ env: { METRICS_ADVERTISE_URL: bad } }), bad).toThrow(/storage\.advertise_url/);
    }
  });

  it('derives the advertised URL from host and port unless set, and gives none for a wildcard bind', () => {
    const config = defaultConfig();
    expect(clusterAdvertiseUrl({ ...config, host: '127.0.0.1', port: 9000 })).toBe('http://127.0.0.1:9000');
    expect(clusterAdvertiseUrl({ ...config, host: '::1', port: 9000 })).toBe('http://[::1]:9000');
    const eth0 = { address: '10.1.2.3', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:01', internal: false, cidr: '10.1.2.3/8' } as const;
    const lo = { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' } as const;
    expect(clusterAdvertiseUrl({ ...config, host: '0.0.0.0', port: 9000 }, { lo: [lo], eth0: [eth0] })).toBe('http://10.1.2.3:9000');
    expect(clusterAdvertiseUrl({ ...config, host: '0.0.0.0', port: 9000 }, { lo: [lo] })).toBeUndefined();
    expect(clusterAdvertiseUrl({ ...config, port: 0 })).toBeUndefined();
    expect(clusterAdvertiseUrl({ ...config, host: '0.0.0.0', storage: { ...config.storage, advertiseUrl: 'http://node-a:8080' } })).toBe('http://node-a:8080');
  });
});

describe('a standby forwarder in front of a stand-in writer', () => {
  const open: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of open.splice(0).reverse()) await close();
  });

  const authenticator: Authenticator = {
    required: true,
    authenticate: (c) => (c.authorization === 'Bearer good'
      ? { ok: true, principal: { id: 'jwt:t', kind: 'jwt', role: 'reader', tenant: 'default' } as never }
      : { ok: false, status: 401, error: 'missing or invalid credentials' }),
  };

  async function writerServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; sockets: Set<Socket> }> {
    const server = createServer(handler);
    const sockets = new Set<Socket>();
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    });
    return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, sockets };
  }

  async function forwarder(writer: string | undefined, forwardTimeoutMs = 5_000): Promise<{ f: StandbyForwarder; base: string; logs: string[] }> {
    const port = await freePort();
    const logs: string[] = [];
    const config = { ...defaultConfig(), host: '127.0.0.1', port };
    const f = await startStandbyForwarder({
      config, directory: { writerAddress: async () => writer }, ownAddress: `http://127.0.0.1:${port}`, authenticator,
      log: (level, message) => logs.push(`${level} ${message}`), forwardTimeoutMs,
    });
    open.push(() => f.close('test over'));
    return { f, base: `http://127.0.0.1:${f.port}`, logs };
  }

  it('forwards method, path, query, body and Authorization; replaces address claims by the client\'s address; returns status, headers and body', async () => {
    let seen: { method?: string; url?: string; auth?: string; xff?: string; body?: string } = {};
    const w = await writerServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, auth: req.headers.authorization, xff: req.headers['x-forwarded-for'] as string | undefined, body };
        res.writeHead(422, { 'content-type': 'application/json', 'x-request-id': 'r1' });
        res.end(JSON.stringify({ error: 'metrics[0].value must be a number' }));
      });
    });
    const { base } = await forwarder(w.url);
    const r = await fetch(`${base}/api/v1/metrics?x=1`, { method: 'POST', headers: { authorization: 'Bearer abc', 'x-forwarded-for': '6.6.6.6', 'content-type': 'application/json' }, body: '{"metrics":[]}' });
    expect(r.status).toBe(422);
    expect(r.headers.get('x-request-id')).toBe('r1');
    expect(r.headers.get('via')).toBe('1.1 emms-standby');
    expect(await r.json()).toEqual({ error: 'metrics[0].value must be a number' });
    // 6.6.6.6 was the client's own claim (it is no trusted proxy): the writer is told the socket's address instead.
    expect(seen).toEqual({ method: 'POST', url: '/api/v1/metrics?x=1', auth: 'Bearer abc', xff: '127.0.0.1', body: '{"metrics":[]}' });
  });

  it('answers 504 with Retry-After when the writer does not answer in time, and 503 when it cannot be reached', async () => {
    const w = await writerServer(() => undefined);
    const slow = await forwarder(w.url, 300);
    const r = await fetch(`${slow.base}/api/v1/query?metric_pattern=x`);
    expect(r.status).toBe(504);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(((await r.json()) as { error: string }).error).toContain('did not answer within 300 ms');

    const gone = await forwarder(`http://127.0.0.1:${await freePort()}`);
    const g = await fetch(`${gone.base}/api/v1/query?metric_pattern=x`);
    expect(g.status).toBe(503);
    expect(g.headers.get('retry-after')).toBe('1');
    // The writer that cannot be reached makes the standby not ready.
    expect((await fetch(`${gone.base}/health/ready`)).status).toBe(503);
  });

  it('with no writer: 503 for requests, not ready, /health says standby; the writer only with credentials', async () => {
    const { base } = await forwarder(undefined);
    expect((await fetch(`${base}/api/v1/query?metric_pattern=x`)).status).toBe(503);
    expect((await fetch(`${base}/health/ready`)).status).toBe(503);
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    const h = await fetch(`${base}/health`);
    expect(h.status).toBe(503);
    expect(await h.json()).toEqual({ status: 'error', role: 'standby' });
    const d = (await (await fetch(`${base}/health`, { headers: { authorization: 'Bearer good' } })).json()) as { components: { writer: { address: unknown; reachable: boolean } } };
    expect(d.components.writer).toMatchObject({ address: null, reachable: false });
  });

  it('relays a WebSocket both ways and closes it with 1012 when the writer goes', async () => {
    const w = await writerServer((_req, res) => res.end());
    let writerSide: Socket | undefined;
    let upgradeAuth: string | undefined;
    w.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      upgradeAuth = req.headers.authorization;
      writerSide = socket;
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + acceptKey(req.headers['sec-websocket-key'] as string) + '\r\n\r\n');
      // Echo: unmask each client frame (small, single-frame) and send it back unmasked.
      socket.on('data', (d: Buffer) => {
        const len = d[1]! & 0x7f;
        const mask = d.subarray(2, 6);
        const payload = Buffer.from(d.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
        socket.write(referenceFrame(d[0]! & 0x0f, payload, false));
      });
    });
    const { base } = await forwarder(w.url);
    const ws = await WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: { authorization: 'Bearer abc' } });
    const got = new Promise<Buffer>((resolve) => {
      ws.onMessage = (m) => resolve(m.data);
    });
    ws.send(Buffer.from('hello'));
    expect((await got).toString()).toBe('hello');
    expect(upgradeAuth).toBe('Bearer abc');
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.onClose = (code, reason) => resolve({ code, reason });
    });
    writerSide!.destroy();
    const c = await closed;
    expect(c.code).toBe(1012);
    expect(c.reason).toContain('the writer is gone');
  });
});

function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC11935`).digest('base64');
}
