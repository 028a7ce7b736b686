/**
 * Remote write out, in process: config parsing, the durable queue (reopened = a restart),
 * backoff with jitter, retry/drop decisions, the backlog bound, the forwarding engine view
 * (acknowledged batches only) and the HTTP sender against a local receiver.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uncompressSync } from 'snappy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureFeatures } from '../../src/app/emms_app.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { createMetricsSystem } from '../../src/index.js';
import { forwardingEngine } from '../../src/interop/forwarding_engine.js';
import { openInterop, parseRemoteWriteConfig } from '../../src/interop/interop_module.js';
import { parseRemoteWriteSection, type RemoteWriteTarget } from '../../src/interop/remote_write_config.js';
import { RemoteWriteForwarder, backoffMs, prometheusName, type ForwardedSeries } from '../../src/interop/remote_write_forwarder.js';
import { decodeWriteRequest, int64ToNumber } from '../../src/interop/remote_write_proto.js';
import { RemoteWriteQueue } from '../../src/interop/remote_write_queue.js';
import { sendRemoteWrite, type SendOutcome } from '../../src/interop/remote_write_sender.js';
import { STRICT_EGRESS, parseEgressPolicy } from '../../src/net/egress_guard.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-rwo-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const LOOPBACK = parseEgressPolicy('egress', ['127.0.0.1']);
const T0 = 1_700_000_000_000;

function target(overrides: Record<string, unknown> = {}): RemoteWriteTarget {
  return parseRemoteWriteSection([{ url: 'http://127.0.0.1:9/api/v1/write', name: 'rx', min_backoff_ms: 1, max_backoff_ms: 4, ...overrides }])[0]!;
}

function decoded(body: Uint8Array) {
  return decodeWriteRequest(uncompressSync(Buffer.from(body)) as Buffer).timeseries.map((ts) => ({
    labels: Object.fromEntries(ts.labels.map((l) => [l.name, l.value])),
    samples: ts.samples.map((s) => [int64ToNumber(s.timestamp), s.value]),
  }));
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cpu = (values: number[], tags: Record<string, string> = { host: 'a' }): ForwardedSeries => ({
  metricId: 'cpu.usage', tags, timestamps: values.map((_, i) => T0 + i * 1000), values,
});

describe('remote_write config', () => {
  it('defaults and parses every key', () => {
    const token = join(dir, 'token');
    writeFileSync(token, 'secret-token\n');
    const [t] = parseRemoteWriteSection([{ url: 'https://vm.example/api/v1/write', match: ['cpu.*'], tenants: ['*'], tenant_label: 'emms_tenant', bearer_token_file: token, max_backlog_bytes: 4096 }]);
    expect(t!.name).toBe('vm.example');
    expect(t!.bearerToken).toBe('secret-token');
    expect(t!.tenants).toBe('*');
    expect(t!.match[0]!.matches('cpu.usage')).toBe(true);
    expect(t!.maxSamplesPerSend).toBe(10_000);
    expect(parseRemoteWriteSection(undefined)).toEqual([]);
  });

  it('names the bad key, never the token', () => {
    const token = join(dir, 'token');
    writeFileSync(token, 'secret-token');
    const bad: Array<[unknown, RegExp]> = [
      [{}, /must be an array/],
      [[1], /remote_write\[0\] must be an object/],
      [[{}], /remote_write\[0\]\.url is required/],
      [[{ url: 'nope' }], /is not a URL/],
      [[{ url: 'ftp://x/' }], /must be http or https/],
      [[{ url: 'http://u:p@x/' }], /must not carry user:password/],
      [[{ url: 'http://x/', urls: 1 }], /remote_write\[0\]\.urls is not a setting/],
      [[{ url: 'http://x/' }, { url: 'http://x/' }], /is used twice/],
      [[{ url: 'http://x/', match: [] }], /match must be a non-empty array/],
      [[{ url: 'http://x/', match: [''] }], /match\[0\]/],
      [[{ url: 'http://x/', tenants: [] }], /tenants must be/],
      [[{ url: 'http://x/', tenant_label: '__name__' }], /tenant_label/],
      [[{ url: 'http://x/', bearer_token_file: join(dir, 'missing') }], /cannot be read: ENOENT/],
      [[{ url: 'http://x/', max_backlog_bytes: 1 }], /max_backlog_bytes=1 must be an integer/],
      [[{ url: 'http://x/', name: 'a b' }], /name="a b" must match/],
    ];
    for (const [raw, message] of bad) expect(() => parseRemoteWriteSection(raw)).toThrow(message);
    writeFileSync(token, '  ');
    expect(() => parseRemoteWriteSection([{ url: 'http://x/', bearer_token_file: token }])).toThrow(/is empty/);
  });
});

describe('remote_write in main.json', () => {
  it('stops start-up naming the key (egress included), and passes a good section through', () => {
    const config = loadConfig({ env: {} });
    config.featureSections.remote_write = [{ url: 'http://10.9.9.9/api/v1/write' }];
    expect(() => configureFeatures(config)).toThrow(ConfigError);
    expect(() => configureFeatures(config)).toThrow(/remote_write\[0\]\.url: egress to 10\.9\.9\.9/);
    config.featureSections.remote_write = [{ url: 'https://vm.example/api/v1/write', match: ['cpu.*'] }];
    expect(configureFeatures(config).remoteWrite.map((t) => t.name)).toEqual(['vm.example']);
  });
});

describe('names and backoff', () => {
  it('maps metric ids to Prometheus names', () => {
    expect(prometheusName('cpu.usage')).toBe('cpu_usage');
    expect(prometheusName('node_cpu_seconds_total')).toBe('node_cpu_seconds_total');
    expect(prometheusName('a-b:c.d')).toBe('a_b:c_d');
    expect(prometheusName('9lives')).toBe('_lives');
  });

  it('doubles up to the maximum, with jitter in [base/2, base]', () => {
    expect(backoffMs(1, 100, 30_000, () => 0)).toBe(50);
    expect(backoffMs(1, 100, 30_000, () => 1)).toBe(100);
    expect(backoffMs(4, 100, 30_000, () => 1)).toBe(800);
    expect(backoffMs(40, 100, 30_000, () => 0.5)).toBe(22_500);
  });
});

describe('durable queue', () => {
  it('keeps batches across a reopen, in order, with backlog figures', () => {
    let q = RemoteWriteQueue.open(dir);
    q.append([{ target: 'a', samples: 2, body: Uint8Array.of(1, 2) }, { target: 'a', samples: 3, body: Uint8Array.of(3, 4, 5) }, { target: 'b', samples: 1, body: Uint8Array.of(9) }], 1000);
    q.close();
    q = RemoteWriteQueue.open(dir);
    expect(q.backlog('a')).toEqual({ batches: 2, bytes: 5, samples: 5, oldestEnqueuedMs: 1000 });
    const first = q.peek('a')!;
    expect([...first.body]).toEqual([1, 2]);
    q.remove('a', first.id);
    q.remove('a', first.id);
    expect(q.backlog('a')).toEqual({ batches: 1, bytes: 3, samples: 3, oldestEnqueuedMs: 1000 });
    expect(q.trim('b', 0)).toBe(1);
    expect(q.backlog('b').batches).toBe(0);
    expect(q.backlog('b').oldestEnqueuedMs).toBeUndefined();
    q.close();
  });
});

describe('forwarder', () => {
  it('delivers in order, retries with backoff, drops what retrying cannot fix, survives a restart', async () => {
    const outcomes: SendOutcome['kind'][] = ['retry', 'retry', 'delivered', 'drop', 'delivered'];
    const delivered: Array<ReturnType<typeof decoded>> = [];
    const logs: string[] = [];
    const send = async (_t: RemoteWriteTarget, body: Uint8Array): Promise<SendOutcome> => {
      const kind = outcomes.shift() ?? 'delivered';
      if (kind === 'delivered') delivered.push(decoded(body));
      return kind === 'delivered' ? { kind } : { kind, detail: `test ${kind}` };
    };
    const t = target({ match: ['cpu.*'] });
    let f = RemoteWriteForwarder.open(dir, [t], { egress: LOOPBACK, log: (_l, m) => logs.push(m), send, random: () => 0.5 });
    f.offer('default', [cpu([1, 2]), { metricId: 'mem.used', tags: {}, timestamps: [T0], values: [5] }]);
    f.offer('other', [cpu([99])]);
    f.offer('default', [cpu([3])]);
    f.offer('default', [cpu([4])]);
    // Not started yet: everything waits in the queue; reopening is a restart.
    await f.stop();
    f = RemoteWriteForwarder.open(dir, [t], { egress: LOOPBACK, log: (_l, m) => logs.push(m), send, random: () => 0.5 });
    expect(f.renderMetrics()).toContain('emms_remote_write_backlog_batches{remote="rx"} 3');
    f.start();
    await waitFor(() => delivered.length === 2, 'two deliveries');
    expect(delivered[0]).toEqual([{ labels: { __name__: 'cpu_usage', host: 'a' }, samples: [[T0, 1], [T0 + 1000, 2]] }]);
    expect(delivered[1]![0]!.samples).toEqual([[T0, 4]]);
    const metrics = f.renderMetrics();
    expect(metrics).toContain('emms_remote_write_send_failures_total{remote="rx"} 2');
    expect(metrics).toContain('emms_remote_write_dropped_samples_total{remote="rx",reason="rejected"} 1');
    expect(metrics).toContain('emms_remote_write_samples_sent_total{remote="rx"} 3');
    expect(metrics).toContain('emms_remote_write_lag_seconds{remote="rx"} 0');
    expect(logs.some((m) => m.includes('retrying (attempt 1'))).toBe(true);
    await f.stop();
  });

  it('stop() aborts a request in flight at once and keeps its batch for the next start', async () => {
    let started = false;
    const send = (_t: RemoteWriteTarget, _b: Uint8Array, signal: AbortSignal): Promise<SendOutcome> => {
      started = true;
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ kind: 'retry', detail: 'aborted' })));
    };
    const f = RemoteWriteForwarder.open(dir, [target({ match: ['cpu.*'] })], { egress: LOOPBACK, log: () => undefined, send });
    f.start();
    f.offer('default', [cpu([1])]);
    await waitFor(() => started, 'the send to start');
    const t = performance.now();
    await f.stop();
    expect(performance.now() - t).toBeLessThan(1_000);
    const q = RemoteWriteQueue.open(dir);
    expect(q.backlog('rx').samples).toBe(1);
    q.close();
  });

  it('splits by max_samples_per_send, adds the tenant label, and bounds the backlog (oldest dropped, counted)', async () => {
    const logs: string[] = [];
    const t = target({ max_samples_per_send: 2, tenants: ['*'], tenant_label: 'emms_tenant', max_backlog_bytes: 1024 });
    const f = RemoteWriteForwarder.open(dir, [t], { egress: LOOPBACK, log: (_l, m) => logs.push(m), send: async () => ({ kind: 'delivered' }) });
    f.offer('t1', [cpu([1, 2, 3])]);
    expect(f.renderMetrics()).toContain('emms_remote_write_backlog_batches{remote="rx"} 2');
    f.offer('t1', [cpu(Array.from({ length: 400 }, (_, i) => i * 1.37))]);
    expect(f.renderMetrics()).toMatch(/emms_remote_write_dropped_samples_total\{remote="rx",reason="backlog_full"\} [1-9]/);
    expect(logs.some((m) => m.includes('backlog past max_backlog_bytes=1024'))).toBe(true);
    const q = (f as unknown as { renderMetrics(): string }).renderMetrics();
    expect(Number(/emms_remote_write_backlog_bytes\{remote="rx"\} (\d+)/.exec(q)![1])).toBeLessThanOrEqual(1024);
    await f.stop();
  });
});

describe('forwarding engine', () => {
  it('forwards acknowledged batches of every ingest call, and nothing of a refused one', async () => {
    const engine = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
    await engine.start();
    const seen: Array<[string, ForwardedSeries[]]> = [];
    const wrapped = forwardingEngine(engine, (tenant, series) => seen.push([tenant, series.map((s) => ({ ...s, timestamps: [...(s.timestamps as number[])], values: [...(s.values as number[])] }))]));
    try {
      await wrapped.collectMetric({ metricId: 'a', value: 1, timestamp: T0 });
      await wrapped.collectMetrics([{ metricId: 'b', value: 1, timestamp: T0, tags: { h: 'x' } }, { metricId: 'b', value: 2, timestamp: T0 + 1, tags: { h: 'x' } }]);
      await wrapped.forTenant('t2').collectSeries([{ metricId: 'c', timestamps: [T0], values: [3] }]);
      await expect(wrapped.collectMetrics([{ metricId: 'bad id', value: 1 }])).rejects.toThrow();
      const table = wrapped.forTenant('t3').createSeriesTable!();
      const n = table.add({ metricId: 'd', tags: { k: 'v' } });
      expect(table.size).toBe(1);
      await table.collect(Int32Array.of(n, n), Float64Array.of(T0, T0 + 1), Float64Array.of(7, 8));
      expect(seen).toEqual([
        ['default', [{ metricId: 'a', tags: {}, timestamps: [T0], values: [1] }]],
        ['default', [{ metricId: 'b', tags: { h: 'x' }, timestamps: [T0, T0 + 1], values: [1, 2] }]],
        ['t2', [{ metricId: 'c', tags: {}, timestamps: [T0], values: [3] }]],
        ['t3', [{ metricId: 'd', tags: { k: 'v' }, timestamps: [T0, T0 + 1], values: [7, 8] }]],
      ]);
      expect(wrapped.forTenant('t2')).toBe(wrapped.forTenant('t2'));
      expect(wrapped.running).toBe(true);
      expect((await wrapped.forTenant('t3').queryMetrics({ metricPattern: 'd', startTime: 0, endTime: T0 + 10 }))[0]!.values.length).toBe(2);
    } finally {
      await engine.stop();
    }
  });

  it('openInterop wires routes, the forwarder and metrics', async () => {
    const engine = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
    await engine.start();
    const interop = openInterop({ engine, quotas: () => ({ ingestPointsPerSecond: 1e6 }) as never, egress: STRICT_EGRESS, limits: { maxPoints: 100, maxDecompressedBytes: 1 << 20 }, remoteWrite: [target()], log: () => undefined });
    try {
      expect(interop.routes.map((r) => `${r.method} ${r.pattern}`)).toEqual(['POST /write', 'POST /api/v2/write', 'POST /api/v1/write']);
      expect(interop.engine).not.toBe(engine);
      await interop.engine.collectMetric({ metricId: 'z', value: 1, timestamp: T0 });
      expect(interop.metrics()).toMatch(/emms_remote_write_backlog_samples\{remote="rx"\} [01]/);
      expect(interop.metrics()).toContain('emms_interop_points_ingested_total{protocol="line_protocol"} 0');
    } finally {
      await interop.stop();
      await engine.stop();
    }
    const plain = openInterop({ engine, quotas: () => ({}) as never, egress: STRICT_EGRESS, limits: { maxPoints: 1, maxDecompressedBytes: 1 }, remoteWrite: [], log: () => undefined });
    expect(plain.engine).toBe(engine);
    expect(plain.forwarder).toBeUndefined();
    await plain.stop();
  });
});

describe('HTTP sender', () => {
  let server: Server;
  let statuses: number[];
  let received: Array<{ headers: Record<string, unknown>; bytes: number }>;

  async function listen(): Promise<number> {
    statuses = [];
    received = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, bytes: Buffer.concat(chunks).length });
        const status = statuses.shift() ?? 204;
        if (status === 0) return; // never answers: the deadline must cut it off
        res.writeHead(status).end('receiver says no');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends the remote-write headers and bearer token, and classifies answers', async () => {
    const port = await listen();
    const token = join(dir, 'tok');
    writeFileSync(token, 's3cret');
    const t = parseRemoteWriteSection([{ url: `http://127.0.0.1:${port}/api/v1/write`, bearer_token_file: token, timeout_ms: 300 }])[0]!;
    statuses.push(204, 500, 429, 400, 0);
    const body = Uint8Array.of(1, 2, 3);
    expect(await sendRemoteWrite(t, body, LOOPBACK)).toEqual({ kind: 'delivered' });
    expect(received[0]!.headers).toMatchObject({ authorization: 'Bearer s3cret', 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0' });
    expect(received[0]!.bytes).toBe(3);
    expect(await sendRemoteWrite(t, body, LOOPBACK)).toMatchObject({ kind: 'retry', detail: expect.stringContaining('answered 500') });
    expect(await sendRemoteWrite(t, body, LOOPBACK)).toMatchObject({ kind: 'retry' });
    const dropped = await sendRemoteWrite(t, body, LOOPBACK);
    expect(dropped).toMatchObject({ kind: 'drop' });
    expect(JSON.stringify(dropped)).not.toContain('s3cret');
    expect(JSON.stringify(dropped)).not.toContain('receiver says no');
    expect(await sendRemoteWrite(t, body, LOOPBACK)).toMatchObject({ kind: 'retry', detail: expect.stringContaining('ETIMEDOUT') });
  });

  it('refuses loopback without egress_allow (kept for a retry, and a start-up error for a literal address), and retries a refused connection', async () => {
    const port = await listen();
    const t = parseRemoteWriteSection([{ url: `http://127.0.0.1:${port}/api/v1/write` }])[0]!;
    expect(await sendRemoteWrite(t, Uint8Array.of(1), STRICT_EGRESS)).toMatchObject({ kind: 'retry', detail: expect.stringContaining('egress') });
    const named = parseRemoteWriteSection([{ url: `http://localhost:${port}/api/v1/write` }])[0]!;
    expect(await sendRemoteWrite(named, Uint8Array.of(1), STRICT_EGRESS)).toMatchObject({ kind: 'retry', detail: expect.stringContaining('egress') });
    expect(() => parseRemoteWriteConfig([{ url: 'http://10.1.2.3/api/v1/write' }], STRICT_EGRESS)).toThrow(/remote_write\[0\]\.url: egress to 10\.1\.2\.3/);
    expect(parseRemoteWriteConfig([{ url: 'http://127.0.0.1/api/v1/write' }], LOOPBACK)).toHaveLength(1);
    statuses.push(0);
    const aborter = new AbortController();
    const pending = sendRemoteWrite(t, Uint8Array.of(1), LOOPBACK, aborter.signal);
    await waitFor(() => received.length === 1, 'the request to arrive');
    aborter.abort();
    expect(await pending).toMatchObject({ kind: 'retry' });
    const closed = parseRemoteWriteSection([{ url: 'http://127.0.0.1:1/api/v1/write' }])[0]!;
    expect(await sendRemoteWrite(closed, Uint8Array.of(1), LOOPBACK)).toMatchObject({ kind: 'retry', detail: expect.stringContaining('ECONNREFUSED') });
  });
});
