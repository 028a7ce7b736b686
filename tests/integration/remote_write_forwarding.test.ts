/**
 * Remote write out to a real receiver: EMMS forwards `fwd.*` to Debian's `victoria-metrics`.
 * The receiver is killed for 30 s (the issue's figure) while writes continue, and EMMS itself
 * is restarted during the outage: the durable queue must bring every acknowledged point to the
 * receiver once it is back (nothing lost), and the lag in /metrics must rise and recover.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig, type EmmsConfig } from '../../src/config/config.js';
import { parseEgressPolicy } from '../../src/net/egress_guard.js';
import { freePort, startVictoriaMetrics, waitUntil, type Peer } from './remote_write_peers.js';

const OUTAGE_MS = Number(process.env.EMMS_TEST_OUTAGE_MS ?? 30_000);
let dir: string;
let vmPort: number;
let vm: Peer | undefined;
let app: EmmsApp | undefined;
let token: string;

function emmsConfig(): EmmsConfig {
  const config = loadConfig({ env: {}, flags: { port: '0', data: join(dir, 'emms') } });
  config.collector.decodeThreads = 0;
  config.security.egress = parseEgressPolicy('security.egress_allow', ['127.0.0.1']);
  config.featureSections.remote_write = [{ url: `http://127.0.0.1:${vmPort}/api/v1/write`, name: 'vm', match: ['fwd.*'], min_backoff_ms: 100, max_backoff_ms: 2_000 }];
  return config;
}

async function startEmms(): Promise<EmmsApp> {
  const a = await startEmmsApp(emmsConfig(), () => undefined);
  token ??= readFileSync(a.adminTokenPath!, 'utf8').trim();
  return a;
}

/** Writes one point of fwd.counter (and one of other.series, not forwarded); true when acknowledged. */
async function writePoint(a: EmmsApp, i: number, t0: number): Promise<boolean> {
  const r = await fetch(`http://127.0.0.1:${a.server.port}/api/v1/metrics`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ metrics: [{ metric_id: 'fwd.counter', value: i, timestamp: t0 + i * 10, tags: { host: 'h1' } }, { metric_id: 'other.series', value: i, timestamp: t0 + i * 10 }] }),
  });
  await r.arrayBuffer();
  return r.status === 200;
}

async function selfMetric(a: EmmsApp, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${a.server.port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const m = new RegExp(`^${name}\\{remote="vm"\\} (\\S+)$`, 'm').exec(text);
  if (m === null) throw new Error(`${name} missing from /metrics`);
  return Number(m[1]);
}

/** Every (timestamp, value) of `name` in VictoriaMetrics. */
async function exported(name: string): Promise<Map<number, number>> {
  await fetch(`${vm!.base}/internal/force_flush`);
  const r = await fetch(`${vm!.base}/api/v1/export?${new URLSearchParams({ 'match[]': `{__name__="${name}"}` })}`);
  const out = new Map<number, number>();
  for (const line of (await r.text()).split('\n')) {
    if (line === '') continue;
    const s = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
    expect(s.metric).toEqual({ __name__: name, host: 'h1' });
    s.timestamps.forEach((t, i) => out.set(t, s.values[i]!));
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-rw-out-'));
  mkdirSync(join(dir, 'emms'));
  vmPort = await freePort();
  vm = await startVictoriaMetrics(join(dir, 'vm'), vmPort);
  app = await startEmms();
}, 60_000);

afterAll(async () => {
  await vm?.kill();
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('remote write out to VictoriaMetrics', () => {
  it('loses nothing through a 30 s receiver outage and an EMMS restart, and the lag recovers', async () => {
    const t0 = Date.now() - 3_600_000;
    const acked = new Map<number, number>();
    let i = 0;
    const write = async (): Promise<void> => {
      if (await writePoint(app!, i, t0)) acked.set(t0 + i * 10, i);
      i++;
    };
    for (let k = 0; k < 20; k++) await write();
    await waitUntil(async () => ((await exported('fwd_counter')).size === acked.size ? true : undefined), 'the first points in VictoriaMetrics');

    await vm!.kill();
    const outageEnds = Date.now() + OUTAGE_MS;
    let restarted = false;
    let maxLag = 0;
    while (Date.now() < outageEnds) {
      await write();
      maxLag = Math.max(maxLag, await selfMetric(app!, 'emms_remote_write_lag_seconds'));
      if (!restarted && Date.now() > outageEnds - OUTAGE_MS / 2) {
        // Half-way through: EMMS stops and starts again; the queue is all it has.
        expect(await selfMetric(app!, 'emms_remote_write_backlog_samples')).toBeGreaterThan(0);
        await app!.stop();
        app = await startEmms();
        restarted = true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(restarted).toBe(true);
    expect(maxLag).toBeGreaterThan(5);
    expect(await selfMetric(app!, 'emms_remote_write_send_failures_total')).toBeGreaterThan(0);

    vm = await startVictoriaMetrics(join(dir, 'vm'), vmPort);
    for (let k = 0; k < 20; k++) await write();
    await waitUntil(async () => ((await selfMetric(app!, 'emms_remote_write_backlog_samples')) === 0 ? true : undefined), 'the backlog to drain', 30_000);
    expect(await selfMetric(app!, 'emms_remote_write_lag_seconds')).toBe(0);
    const got = await waitUntil(async () => {
      const e = await exported('fwd_counter');
      return e.size >= acked.size ? e : undefined;
    }, 'every acknowledged point in VictoriaMetrics', 20_000).catch(async (err: Error) => {
      const e = await exported('fwd_counter');
      const missing = [...acked.keys()].filter((t) => !e.has(t)).map((t) => (t - t0) / 10);
      throw new Error(`${err.message}; ${e.size} of ${acked.size}, missing i=${missing.slice(0, 50).join(',')}`);
    });
    for (const [t, v] of acked) expect(got.get(t), `point at ${t}`).toBe(v);
    expect(acked.size).toBeGreaterThan(100);
    expect(await exported('other_series')).toEqual(new Map());
    const text = await (await fetch(`http://127.0.0.1:${app!.server.port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(text).toContain('emms_remote_write_dropped_samples_total{remote="vm",reason="backlog_full"} 0');
  }, 120_000);
});
