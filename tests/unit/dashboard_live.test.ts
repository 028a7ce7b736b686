/**
 * Live updates in-process: the hub (subscriptions, bounds, pushes only what is new, resends
 * what a full socket dropped, closes revoked credentials), the WebSocket upgrade of
 * /api/v1/live with fake uWS objects, and the columnar query answer against the JSON one.
 */
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { AuthResult, Authenticator } from '../../src/auth/authenticator.js';
import { defaultSecurityConfig } from '../../src/config/security_config.js';
import { LiveHub, MAX_SUBSCRIPTIONS_PER_CONNECTION, type LiveSink } from '../../src/dashboard/live_hub.js';
import { liveSocketBehavior } from '../../src/dashboard/live_socket.js';
import type { Principal } from '../../src/http/route.js';
import type { LatestPoint, MetricsSystem, QueryStats, SeriesResult } from '../../src/model/api.js';
import { AccessControl } from '../../src/server/access_control.js';
import { ConnectionLimiter } from '../../src/server/connection_limits.js';
import { acceptsColumnar, encodeColumnarQuery } from '../../src/server/query_columnar.js';
import { renderQueryResponse } from '../../src/server/query_request.js';

const READER: Principal = { id: 'ak_r', kind: 'api_key', role: 'reader', tenant: 'acme' };

class FakeEngine {
  running = true;
  ingested = 0;
  reads: string[] = [];
  points = new Map<string, LatestPoint[]>();
  fail: string | undefined;
  stats() {
    return { pointsIngested: this.ingested };
  }
  forTenant(tenant: string) {
    return {
      latest: async (pattern: string) => {
        this.reads.push(`${tenant}:${pattern}`);
        if (this.fail !== undefined) throw new Error(this.fail);
        return this.points.get(`${tenant}:${pattern}`) ?? [];
      },
    };
  }
  asEngine(): MetricsSystem {
    return this as unknown as MetricsSystem;
  }
}

class Sink implements LiveSink {
  messages: any[] = [];
  accept = true;
  closed: [number, string] | undefined;
  send(m: string): boolean {
    if (!this.accept) return false;
    this.messages.push(JSON.parse(m));
    return true;
  }
  close(code: number, reason: string): void {
    this.closed = [code, reason];
  }
}

const point = (metricId: string, t: number, v: number, tags = {}): LatestPoint => ({ metricId, metricType: 'gauge', tags, timestamp: t, value: v });

describe('LiveHub', () => {
  it('pushes each series\' newest point once, per tenant, and only after something was ingested', async () => {
    const engine = new FakeEngine();
    const hub = new LiveHub(engine.asEngine());
    const sink = new Sink();
    const client = hub.connect(READER, sink);
    client.receive(JSON.stringify({ subscribe: { id: 'p1', metric_pattern: 'cpu.*' } }));
    engine.points.set('acme:cpu.*', [point('cpu.a', 1000, 1, { host: 'x' })]);
    await hub.tick();
    expect(sink.messages).toEqual([{ id: 'p1', points: [{ metric_id: 'cpu.a', tags: { host: 'x' }, t: 1000, v: 1 }] }]);
    await hub.tick();
    expect(engine.reads).toHaveLength(1);
    engine.ingested = 5;
    await hub.tick();
    expect(sink.messages).toHaveLength(1);
    engine.points.set('acme:cpu.*', [point('cpu.a', 2000, Number.NaN, { host: 'x' }), point('cpu.b', 500, 3)]);
    engine.ingested = 6;
    await hub.tick();
    expect(sink.messages[1]).toEqual({ id: 'p1', points: [{ metric_id: 'cpu.a', tags: { host: 'x' }, t: 2000, v: 'NaN' }, { metric_id: 'cpu.b', tags: {}, t: 500, v: 3 }] });
    expect(engine.reads.every((r) => r.startsWith('acme:'))).toBe(true);
    client.receive(JSON.stringify({ unsubscribe: 'p1' }));
    engine.ingested = 7;
    engine.points.set('acme:cpu.*', [point('cpu.a', 3000, 1)]);
    await hub.tick();
    expect(sink.messages).toHaveLength(2);
    client.closed();
    expect(hub.size).toBe(0);
  });

  it('reads a pattern once for many subscribers and resends what a full socket dropped', async () => {
    const engine = new FakeEngine();
    const hub = new LiveHub(engine.asEngine());
    const a = new Sink();
    const b = new Sink();
    hub.connect(READER, a).receive(JSON.stringify({ subscribe: { id: 'x', metric_pattern: 'm', tags: { k: 'v' } } }));
    hub.connect(READER, b).receive(JSON.stringify({ subscribe: { id: 'y', metric_pattern: 'm', tags: { k: 'v' } } }));
    engine.points.set('acme:m', [point('m', 10, 1)]);
    b.accept = false;
    await Promise.all([hub.tick(), hub.tick()]);
    expect(engine.reads).toHaveLength(1);
    expect(a.messages).toHaveLength(1);
    b.accept = true;
    engine.ingested++;
    await hub.tick();
    expect(b.messages).toEqual([{ id: 'y', points: [{ metric_id: 'm', tags: {}, t: 10, v: 1 }] }]);
    expect(a.messages).toHaveLength(1);
  });

  it('answers malformed and excessive subscriptions with an error naming the rule', () => {
    const hub = new LiveHub(new FakeEngine().asEngine());
    const sink = new Sink();
    const c = hub.connect(READER, sink);
    c.receive('not json');
    c.receive(JSON.stringify({ hello: 1 }));
    c.receive(JSON.stringify({ subscribe: { id: '', metric_pattern: 'm' } }));
    c.receive(JSON.stringify({ subscribe: { id: 'a', metric_pattern: 'x'.repeat(300) } }));
    c.receive(JSON.stringify({ subscribe: { id: 'a', metric_pattern: 'm', tags: { k: 1 } } }));
    c.receive(JSON.stringify({ subscribe: { id: 'a', metric_pattern: 'm', tags: ['k'] } }));
    expect(sink.messages.map((m) => m.error)).toEqual([
      expect.stringContaining('not JSON'), expect.stringContaining('unknown frame'), expect.stringContaining('subscribe.id'),
      expect.stringContaining('metric_pattern'), expect.stringContaining('tags'), expect.stringContaining('tags'),
    ]);
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_CONNECTION; i++) c.receive(JSON.stringify({ subscribe: { id: `s${i}`, metric_pattern: 'm' } }));
    c.receive(JSON.stringify({ subscribe: { id: 'one-more', metric_pattern: 'm' } }));
    expect(sink.messages.at(-1)).toEqual({ error: `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`, id: 'one-more' });
    c.receive(JSON.stringify({ subscribe: { id: 's0', metric_pattern: 'n' } }));
    expect(sink.messages).toHaveLength(7);
  });

  it('drops a subscription whose read fails, closes revoked credentials, and closes all on stop', async () => {
    const engine = new FakeEngine();
    const errors: unknown[] = [];
    let valid = true;
    const hub = new LiveHub(engine.asEngine(), { stillValid: () => valid, onError: (e) => errors.push(e), maxConnections: 2, tickMs: 5 });
    const sink = new Sink();
    hub.connect(READER, sink).receive(JSON.stringify({ subscribe: { id: 'q', metric_pattern: 'm' } }));
    engine.fail = 'query.max_series=500 exceeded';
    await hub.tick(10_000);
    expect(sink.messages).toEqual([{ error: 'subscription q: query.max_series=500 exceeded', id: 'q' }]);
    hub.connect(READER, new Sink());
    expect(hub.full).toBe(true);
    valid = false;
    await hub.tick(20_000);
    expect(sink.closed?.[0]).toBe(1008);
    expect(hub.size).toBe(0);
    const last = new Sink();
    hub.connect(READER, last);
    hub.start();
    hub.stop();
    expect(last.closed).toEqual([1001, 'server is shutting down']);
    engine.running = false;
    hub.connect(READER, new Sink());
    await hub.tick(0);
    expect(errors).toEqual([]);
  });
});

/** Minimal stand-ins for uWS's upgrade objects. */
function fakeUpgrade(headers: Record<string, string>) {
  const out: { status?: string; body?: string; upgraded?: { data: any; protocol: string }; aborted?: () => void } = {};
  const res = {
    getRemoteAddressAsText: () => new TextEncoder().encode('127.0.0.1').buffer,
    onAborted: (fn: () => void) => { out.aborted = fn; },
    writeStatus: (s: string) => { out.status = s; },
    writeHeader: () => undefined,
    end: (b: string) => { out.body = b; },
    cork: (fn: () => void) => fn(),
    upgrade: (data: any, _key: string, protocol: string) => { out.upgraded = { data, protocol }; },
  };
  const req = {
    getHeader: (name: string) => headers[name] ?? '',
    forEach: (visit: (name: string, value: string) => void) => {
      for (const [name, value] of Object.entries(headers)) visit(name, value);
    },
  };
  return { res, req, out };
}

describe('the /api/v1/live upgrade', () => {
  function behavior(result: AuthResult | Promise<AuthResult>) {
    const authenticator: Authenticator = { required: true, authenticate: () => result };
    const access = new AccessControl({ security: defaultSecurityConfig(), authenticator, bindHost: '127.0.0.1', tls: false });
    const limiter = new ConnectionLimiter({ maxConnections: 10, maxConnectionsPerAddress: 10 });
    const hub = new LiveHub(new FakeEngine().asEngine());
    return { b: liveSocketBehavior(hub, { access, limiter, state: { shuttingDown: false } }), hub };
  }
  const good = { host: 'localhost:1', 'sec-websocket-protocol': 'emms.v1, emms.ticket.' + 'a'.repeat(43) };

  it('upgrades an authenticated reader with the emms.v1 protocol, never echoing the ticket', async () => {
    const { b, hub } = behavior({ ok: true, principal: READER });
    const { res, req, out } = fakeUpgrade(good);
    b.upgrade!(res as any, req as any, {} as any);
    expect(out.upgraded?.protocol).toBe('emms.v1');
    expect(out.upgraded?.data.principal).toEqual(READER);
    const sent: string[] = [];
    const ws = { getUserData: () => out.upgraded!.data, getBufferedAmount: () => 0, send: (m: string) => { sent.push(m); return 1; }, end: () => undefined };
    b.open!(ws as any);
    expect(hub.size).toBe(1);
    b.message!(ws as any, new TextEncoder().encode('nope').buffer, false);
    expect(sent[0]).toContain('not JSON');
    b.close!(ws as any, 1000, new ArrayBuffer(0));
    expect(hub.size).toBe(0);
  });

  it('refuses a foreign Origin, a failed authentication (async too), and a rebinding Host', async () => {
    let r = fakeUpgrade({ ...good, origin: 'https://evil.example' });
    behavior({ ok: true, principal: READER }).b.upgrade!(r.res as any, r.req as any, {} as any);
    expect(r.out.status).toMatch(/^403/);
    r = fakeUpgrade(good);
    behavior({ ok: false, status: 401, error: 'invalid ticket' }).b.upgrade!(r.res as any, r.req as any, {} as any);
    expect(r.out.status).toMatch(/^401/);
    r = fakeUpgrade({ ...good, host: 'evil.example' });
    behavior({ ok: true, principal: READER }).b.upgrade!(r.res as any, r.req as any, {} as any);
    expect(r.out.status).toMatch(/^421/);
    r = fakeUpgrade(good);
    behavior(Promise.resolve({ ok: true, principal: READER })).b.upgrade!(r.res as any, r.req as any, {} as any);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.out.upgraded).toBeDefined();
    r = fakeUpgrade(good);
    behavior(Promise.reject(new Error('boom'))).b.upgrade!(r.res as any, r.req as any, {} as any);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.out.status).toMatch(/^500/);
  });
});

describe('columnar query answer', () => {
  const series: SeriesResult[] = [
    { metricId: 'a', metricType: 'gauge', tags: { h: 'x' }, timestamps: Float64Array.of(1000, 2000, 3000), values: Float64Array.of(0.1, -2.5e-300, Number.NaN) },
    { metricId: 'b', metricType: 'counter', tags: {}, timestamps: Float64Array.of(5), values: Float64Array.of(Number.POSITIVE_INFINITY) },
    { metricId: 'c', metricType: 'gauge', tags: {}, timestamps: new Float64Array(0), values: new Float64Array(0) },
  ];
  const stats: QueryStats = { series: 3, pointsScanned: 4, elapsedMs: 1.5 } as QueryStats;

  it('is chosen by Accept, not as a mere fallback', () => {
    expect(acceptsColumnar('application/x-msgpack')).toBe(true);
    expect(acceptsColumnar('application/json, application/msgpack;q=0.5')).toBe(true);
    expect(acceptsColumnar('application/x-msgpack;q=0')).toBe(false);
    expect(acceptsColumnar('application/json')).toBe(false);
    expect(acceptsColumnar(undefined)).toBe(false);
  });

  it('carries the JSON answer\'s numbers bit for bit, and the non-finite ones JSON cannot', () => {
    const wire = new Unpackr({ mapsAsObjects: true, useRecords: false }).unpack(encodeColumnarQuery(series, stats)) as any;
    const ts = new Float64Array(new Uint8Array(wire.timestamps).buffer);
    const vs = new Float64Array(new Uint8Array(wire.values).buffer);
    const json = JSON.parse(renderQueryResponse(series, stats));
    expect(wire.series.map((s: any) => [s.metric_id, s.metric_type, s.tags, s.offset, s.count])).toEqual([['a', 'gauge', { h: 'x' }, 0, 3], ['b', 'counter', {}, 3, 1], ['c', 'gauge', {}, 4, 0]]);
    json.series.forEach((s: any, i: number) => s.points.forEach((p: [number, number | null], j: number) => {
      const k = wire.series[i].offset + j;
      expect(ts[k]).toBe(p[0]);
      if (p[1] === null) expect(Number.isFinite(vs[k]!)).toBe(false);
      else expect(Object.is(vs[k], p[1])).toBe(true);
    }));
    expect(Number.isNaN(vs[2]!)).toBe(true);
    expect(vs[3]).toBe(Number.POSITIVE_INFINITY);
    expect(wire.stats).toEqual({ series: 3, points_scanned: 4, elapsed_ms: 1.5 });
  });
});
