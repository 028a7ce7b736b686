/**
 * One real `emms serve` process: every bad input of the list gets a clear nack or 4xx
 * while the server keeps serving; query results are checked against values computed here;
 * 413/415/422; /metrics passes promtool; /federate and /health on real data. Requests carry
 * the bootstrap operator's token (tenant `default`).
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { CLI_ENTRY, REPO_ROOT, StreamingClient, packr, queryRaw, startServer, tempDir, unpackr, type ServerProcess } from './server_harness.js';

const T0 = Date.UTC(2025, 2, 1);
const HOUR = 3_600_000;
let server: ServerProcess;
let removeDir: () => void;

/** Deterministic values with 2 decimals, as real metrics carry. */
function valueAt(host: number, i: number): number {
  return Math.round((50 + 40 * Math.sin(i / 37 + host) + ((i * 7919 + host * 104729) % 1000) / 100) * 100) / 100;
}

const HOSTS = ['a', 'b', 'c'];
const POINTS = 3 * 360; // 3 h at 10 s

beforeAll(async () => {
  const { dir, remove } = tempDir('emms-api-');
  removeDir = remove;
  const config = join(dir, 'main.json');
  writeFileSync(config, JSON.stringify({ collector: { max_body_bytes: 1024 * 1024 }, query: { max_series: 3, max_points: 2000 } }));
  server = await startServer(['--data', dir, '--config', config]);
  for (let h = 0; h < HOSTS.length; h++) {
    const metrics = [];
    for (let i = 0; i < POINTS; i++) metrics.push({ metric_id: 'q.cpu', value: valueAt(h, i), timestamp: T0 + i * 10_000, tags: { host: HOSTS[h] } });
    // Shuffle: arrival order must not matter.
    metrics.sort((x, y) => ((x.timestamp * 31) % 97) - ((y.timestamp * 31) % 97));
    const r = await fetch(`${server.base}/api/v1/metrics`, { method: 'POST', headers: { ...server.auth, 'content-type': 'application/json' }, body: JSON.stringify({ metrics }) });
    expect(await r.json()).toEqual({ accepted: POINTS });
  }
  const r = await fetch(`${server.base}/api/v1/metrics`, {
    method: 'POST', headers: { ...server.auth, 'content-type': 'application/msgpack' },
    body: new Uint8Array(packr.pack({ metrics: [{ metric_id: 'q.extra', value: 1, timestamp: T0, tags: { host: 'd' }, metric_type: 'counter' }] })),
  });
  expect(r.status).toBe(200);
});

/** GET /api/v1/query as the operator. */
function query(params: Record<string, string>): ReturnType<typeof queryRaw> {
  return queryRaw(server.base, params, server.auth);
}

afterAll(async () => {
  server.proc.kill('SIGTERM');
  await server.exited;
  removeDir();
});

function hourly(values: Array<[number, number]>, reduce: (xs: number[]) => number): Array<[number, number]> {
  const buckets = new Map<number, number[]>();
  for (const [t, v] of values) {
    const b = Math.floor(t / HOUR) * HOUR;
    if (!buckets.has(b)) buckets.set(b, []);
    buckets.get(b)!.push(v);
  }
  return [...buckets].sort((x, y) => x[0] - y[0]).map(([b, xs]) => [b, reduce(xs)]);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

function closeTo(actual: Array<[number, number]>, expected: Array<[number, number]>): void {
  expect(actual.map((p) => p[0])).toEqual(expected.map((p) => p[0]));
  for (let i = 0; i < expected.length; i++) expect(actual[i]![1]).toBeCloseTo(expected[i]![1], 9);
}

describe('query over HTTP against independently computed values', () => {
  const series = (h: number, from = 0, to = POINTS): Array<[number, number]> => {
    const out: Array<[number, number]> = [];
    for (let i = from; i < to; i++) out.push([T0 + i * 10_000, valueAt(h, i)]);
    return out;
  };

  it('returns raw points of one series in [start, end), sorted', async () => {
    const { status, body } = await query({
      metric_pattern: 'q.cpu', 'tag.host': 'b', start_time: new Date(T0 + 100 * 10_000).toISOString(), end_time: String(T0 + 700 * 10_000),
    });
    expect(status).toBe(200);
    expect(body.series).toHaveLength(1);
    expect(body.series[0]).toMatchObject({ metric_id: 'q.cpu', metric_type: 'gauge', tags: { host: 'b' } });
    expect(body.series[0].points).toEqual(series(1, 100, 700));
    expect(body.stats.series).toBe(1);
  });

  it('computes hourly avg per series and p90/max/count over merged series (GET and POST)', async () => {
    const { body } = await query({ metric_pattern: 'q.cpu', start_time: String(T0), end_time: String(T0 + 3 * HOUR), aggregation: 'avg', interval: '1h' });
    expect(body.series).toHaveLength(3);
    for (const s of body.series) {
      const h = HOSTS.indexOf(s.tags.host);
      closeTo(s.points, hourly(series(h), (xs) => xs.reduce((a, b) => a + b, 0) / xs.length));
    }
    const all = [0, 1, 2].flatMap((h) => series(h));
    for (const [aggregation, reduce] of [
      ['p90', (xs: number[]) => percentile(xs, 90)],
      ['max', (xs: number[]) => Math.max(...xs)],
      ['count', (xs: number[]) => xs.length],
    ] as const) {
      const r = await fetch(`${server.base}/api/v1/query`, {
        method: 'POST', headers: { ...server.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ metric_pattern: 'q.cpu', start_time: T0, end_time: T0 + 3 * HOUR, aggregation, interval: '1h', group_by: [] }),
      });
      const merged = await r.json();
      expect(merged.series).toHaveLength(1);
      closeTo(merged.series[0].points, hourly(all, reduce));
    }
  });

  it('answers 422 past the series and point limits, 400 naming bad parameters', async () => {
    expect((await query({ metric_pattern: 'q.*', start_time: '0' })).status).toBe(422);
    const tooMany = await query({ metric_pattern: 'q.cpu', start_time: '0' });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.error).toMatch(/\d/);
    const bad = await query({ metric_pattern: 'q.cpu', start_time: 'last tuesday' });
    expect(bad.status).toBe(400);
    expect(bad.body.parameter).toBe('start_time');
    expect((await query({ metric_pattern: 'q.cpu', aggregation: 'avg', interval: 'soon' })).body.parameter).toBe('interval');
  });
});

describe('stream forms end to end', () => {
  it('stores columnar float64 bin bit-exactly, and row timestamps given as msgpack timestamps or ISO strings', async () => {
    const ws = await WsClient.open(server.wsUrl, { headers: server.auth });
    const replies: any[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    const ts = new Float64Array([T0, T0 + 1000, T0 + 2000, T0 + 3000]);
    const vs = new Float64Array([0.1 + 0.2, 1e-300, -123456.789, Number.MAX_SAFE_INTEGER]);
    ws.send(packr.pack({ seq: 1, series: [{ metric_id: 'col.x', tags: { k: 'v' }, metric_type: 'counter', timestamps: Buffer.from(ts.buffer), values: Buffer.from(vs.buffer) }] }));
    ws.send(packr.pack({ seq: 2, metrics: [
      { metric_id: 'col.when', value: 1, timestamp: new Date(T0 + 5) },
      { metric_id: 'col.when', value: 2, timestamp: new Date(T0 + 6).toISOString() },
    ] }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(2);
    expect(replies).toEqual([{ ack: 1, accepted: 4 }, { ack: 2, accepted: 2 }]);
    ws.close();
    const col = await query({ metric_pattern: 'col.x', start_time: '0' });
    expect(col.body.series).toEqual([{ metric_id: 'col.x', metric_type: 'counter', tags: { k: 'v' }, points: Array.from(ts, (t, i) => [t, vs[i]]) }]);
    const when = await query({ metric_pattern: 'col.when', start_time: '0' });
    expect(when.body.series[0].points).toEqual([[T0 + 5, 1], [T0 + 6, 2]]);
  });
});

describe('bad input: clear nacks and 4xx, the server keeps serving', () => {
  it('nacks every bad frame on one connection and still acks good ones after', async () => {
    const ws = await WsClient.open(server.wsUrl, { headers: server.auth });
    const replies: any[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    const good = (seq: number) => packr.pack({ seq, metrics: [{ metric_id: 'bad.ok', value: seq, timestamp: T0 + seq }] });
    const frames: Array<[string, () => void, RegExp | 'ack']> = [];
    const add = (name: string, send: () => void, expectMsg: RegExp | 'ack') => frames.push([name, send, expectMsg]);
    const row = (p: Record<string, unknown>, seq = 1) => packr.pack({ seq, metrics: [p] });
    const base = { metric_id: 'bad.x', value: 1, timestamp: T0 };
    add('random bytes', () => ws.send(Buffer.from([0xc1, 0x17, 0xff, 0x00, 0x42, 0x99])), /MessagePack|map/);
    add('truncated', () => ws.send(good(2).subarray(0, 20)), /MessagePack/);
    add('text frame', () => ws.sendText('{"seq":1}'), /text frames/);
    add('another msgpack value', () => ws.send(packr.pack([1, 2, 3])), /must be a map/);
    add('metric_id number', () => ws.send(row({ ...base, metric_id: 42 })), /metric_id=42/);
    add('value string', () => ws.send(row({ ...base, value: '1' })), /value="1" must be a finite number/);
    add('timestamp bool', () => ws.send(row({ ...base, timestamp: true })), /timestamp/);
    add('metric_type number', () => ws.send(row({ ...base, metric_type: 5 })), /metric_type=5/);
    add('tags string', () => ws.send(row({ ...base, tags: 'x' })), /tags="x"/);
    add('tag value number', () => ws.send(row({ ...base, tags: { k: 5 } })), /tags\.k=5/);
    add('seq string', () => ws.send(packr.pack({ seq: 'one', metrics: [base] })), /seq="one"/);
    add('metrics not array', () => ws.send(packr.pack({ seq: 1, metrics: 'x' })), /metrics must be an array/);
    add('columnar timestamps string', () => ws.send(packr.pack({ seq: 1, series: [{ metric_id: 'a', timestamps: 'x', values: [1] }] })), /timestamps/);
    add('NaN', () => ws.send(row({ ...base, value: NaN })), /value=NaN/);
    add('+Infinity', () => ws.send(row({ ...base, value: Infinity })), /value=Infinity/);
    add('-Infinity', () => ws.send(row({ ...base, value: -Infinity })), /value=-Infinity/);
    const tags: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) tags[`t${i}`] = 'v';
    add('10,000 tags', () => ws.send(row({ ...base, tags })), /at most 32 tags/);
    const nested: number[] = [0x82, 0xa3, 0x73, 0x65, 0x71, 0x01, 0xa7, ...Buffer.from('metrics')];
    for (let i = 0; i < 100_000; i++) nested.push(0x81, 0xa1, 0x61);
    nested.push(0x01);
    add('deeply nested maps', () => ws.send(new Uint8Array(nested)), /nesting too deep|MessagePack/);
    add('empty batch', () => ws.send(packr.pack({ seq: 1, metrics: [] })), /empty batch/);
    add('duplicate seq (first)', () => ws.send(good(9)), 'ack');
    add('duplicate seq (second)', () => ws.send(good(9)), 'ack');
    const badUtf8 = Buffer.concat([Buffer.from([0x82, 0xa3]), Buffer.from('seq'), Buffer.from([0x01, 0xa7]), Buffer.from('metrics'),
      Buffer.from([0x91, 0x82, 0xa9]), Buffer.from('metric_id'), Buffer.from([0xa3, 0x61, 0xff, 0xfe, 0xa5]), Buffer.from('value'), Buffer.from([0x01])]);
    add('invalid UTF-8 in names', () => ws.send(badUtf8), /metric_id/);
    add('good after all that', () => ws.send(good(10)), 'ack');
    // A well-behaved client streams on another connection the whole time.
    const bystander = new StreamingClient(server.wsUrl, 'bystander.rows', 'b', { pointsPerFrame: 100, window: 4, startTs: T0, headers: server.auth });
    const bystanderDone = bystander.start();
    for (const [, send] of frames) send();
    await expect.poll(() => replies.length, { timeout: 15_000 }).toBe(frames.length);
    await bystander.stop();
    await bystanderDone;
    expect(bystander.acked.length).toBeGreaterThan(0);
    expect(bystander.nacked).toEqual([]);
    frames.forEach(([name, , expected], i) => {
      const reply = replies[i];
      if (expected === 'ack') {
        expect(reply, name).toHaveProperty('ack');
      } else {
        expect(reply, name).toHaveProperty('nack');
        expect(reply.error, name).toMatch(expected);
      }
    });
    expect(ws.closed).toBe(false);
    ws.close();
    // A frame over collector.max_frame_bytes (16 MiB) ends only its own connection: uWS refuses
    // it before buffering it (maxPayloadLength).
    const big = await WsClient.open(server.wsUrl, { headers: server.auth });
    big.send(new Uint8Array(32 * 1024 * 1024));
    await expect.poll(() => big.closed, { timeout: 10_000 }).toBe(true);
    const stored = await query({ metric_pattern: 'bad.*', start_time: '0' });
    expect(stored.body.series.map((s: any) => s.metric_id)).toEqual(['bad.ok']);
    expect(stored.body.series[0].points).toEqual([[T0 + 9, 9], [T0 + 10, 10]]);
  });

  it('answers HTTP 400/413/415 and survives bodies with a lying Content-Length', async () => {
    const post = (body: string | Uint8Array<ArrayBuffer>, type = 'application/json') => fetch(`${server.base}/api/v1/metrics`, { method: 'POST', headers: { ...server.auth, 'content-type': type }, body });
    const bad = await post(JSON.stringify({ metrics: [{ metric_id: 'h.ok', value: 1 }, { metric_id: 'h.ok', value: 2, tags: { 'bad key': 'x' } }] }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ index: 1, field: 'tags.bad key' });
    expect((await post('{"metrics": [')).status).toBe(400);
    expect((await post('x'.repeat(2 * 1024 * 1024))).status).toBe(413);
    expect((await post('h.ok 1', 'text/plain')).status).toBe(415);
    expect((await post(new Uint8Array([0xc1]), 'application/x-msgpack')).status).toBe(400);
    const url = new URL(server.base);
    // Claims 1000 bytes, sends 10 and hangs up.
    await new Promise<void>((resolve) => {
      const s = connect(Number(url.port), url.hostname, () => {
        s.write(`POST /api/v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${server.auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"metrics"`);
        setTimeout(() => s.destroy(), 100);
      });
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    // Claims 5 bytes and sends more: the rest is not a valid request.
    const reply = await new Promise<string>((resolve) => {
      let got = '';
      const s = connect(Number(url.port), url.hostname, () => {
        s.write(`POST /api/v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${server.auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{"metrics":[{"metric_id":"h.lie","value":1}]}`);
      });
      s.on('data', (d) => { got += d.toString(); });
      setTimeout(() => { s.destroy(); resolve(got); }, 500);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await query({ metric_pattern: 'h.*', start_time: '0' })).body.series).toEqual([]);
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
  });
});

describe('observability on real data', () => {
  it('/metrics passes promtool and counts what happened; /federate shows latest values, within query.max_series', async () => {
    const text = await (await fetch(`${server.base}/metrics`, { headers: server.auth })).text();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(text).toMatch(/^emms_points_ingested_total\{transport="http"\} 3241$/m);
    expect(text).toMatch(/^emms_nacks_total\{reason="validation"\} [1-9]\d*$/m);
    expect(text).toMatch(/^emms_series [1-9]/m);
    const fed = await (await fetch(`${server.base}/federate?match=q.cpu`, { headers: server.auth })).text();
    expect(fed).toContain(`q_cpu{host="a"} ${valueAt(0, POINTS - 1)} ${T0 + (POINTS - 1) * 10_000}`);
    expect(await (await fetch(`${server.base}/federate?match=q.e*`, { headers: server.auth })).text()).toMatch(/# TYPE q_extra counter\nq_extra\{host="d"\} 1 /);
    // query.max_series (3 here) bounds /federate as it bounds queries: q.* matches 4 series.
    const tooMany = await fetch(`${server.base}/federate?match=q.*`, { headers: server.auth });
    expect(tooMany.status).toBe(422);
    expect((await tooMany.json()).error).toMatch(/maxSeries=3/);
    const health = await (await fetch(`${server.base}/health`, { headers: server.auth })).json();
    expect(health).toMatchObject({ status: 'ok', components: { storage: { status: 'ok' } } });
  });
});

describe('start-up refusals', () => {
  it('refuses an invalid setting naming key and value, and the pure-JS uWS fallback', () => {
    const run = (args: string[], env: Record<string, string>) => spawnSync(process.execPath, ['--import', 'tsx', CLI_ENTRY, 'serve', '--port', '0', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
    const badEnv = run([], { METRICS_RETENTION_DAYS: 'forever' });
    expect(badEnv.status).toBe(2);
    expect(badEnv.stderr).toMatch(/storage\.retention_days="forever" \(from environment METRICS_RETENTION_DAYS\)/);
    const fallback = run([], { UWS_USE_FALLBACK: '1' });
    expect(fallback.status).toBe(1);
    expect(fallback.stderr).toMatch(/refusing to start: .*fallback/);
    const help = run(['--help'], {});
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/METRICS_DB_PATH/);
  });
});
