/**
 * `emms serve` as users meet it: the features (keys, health targets, alerting, analytics) are
 * reachable through the one server process, key events ride the WebSocket stream, and /metrics
 * carries the alerting figures next to the server's own — still valid for promtool.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { WARM_UP_TENANT } from '../../src/server/warm_up.js';
import { CLI_ENTRY, packr, startServer, tempDir, unpackr, type ServerProcess } from './server_harness.js';

let server: ServerProcess;
let data: { dir: string; remove: () => void };

async function json(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { ...server.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

beforeAll(async () => {
  data = tempDir('emms-app-');
  server = await startServer(['--data', data.dir]);
});

afterAll(async () => {
  server.proc.kill('SIGTERM');
  expect(await server.exited).toBe(0);
  data.remove();
});

describe('emms serve with every feature wired', () => {
  it('counts key events sent over the stream and over HTTP in the derived series', async () => {
    const created = await json('POST', '/api/v1/keys', {
      key_id: 'payments-dek', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'kms',
    });
    expect(created.status).toBe(201);

    const ws = await WsClient.open(server.wsUrl, { headers: server.auth });
    const replies: any[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    const t0 = Date.now() - 60_000;
    ws.send(packr.pack({ seq: 7, key_events: [
      { key_id: 'payments-dek', event_type: 'encrypt', count: 5, timestamp: t0 },
      { key_id: 'payments-dek', event_type: 'encrypt', count: 2, timestamp: t0 + 2_000 },
    ] }));
    ws.send(packr.pack({ seq: 8, key_events: [{ key_id: 'no-such-key', event_type: 'encrypt' }] }));
    const deadline = Date.now() + 10_000;
    while (replies.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    ws.close();
    expect(replies[0]).toMatchObject({ ack: 7 });
    expect(replies[1].nack).toBe(8);
    expect(String(replies[1].error)).toContain('no-such-key');

    const viaHttp = await json('POST', '/api/v1/keys/events', { events: [{ key_id: 'payments-dek', event_type: 'encrypt', count: 4, timestamp: t0 + 4_000 }] });
    expect(viaHttp.status, JSON.stringify(viaHttp.body)).toBe(200);

    const q = await json('GET', `/api/v1/query?metric_pattern=crypto.key.encryption_ops&start_time=${t0 - 1}&end_time=${Date.now() + 1000}`);
    expect(q.status).toBe(200);
    expect(q.body.series).toHaveLength(1);
    const points: Array<[number, number]> = q.body.series[0].points;
    // A cumulative counter: its last value is every encrypt event counted.
    expect(points.at(-1)![1]).toBe(11);
    expect(q.body.series[0].tags).toMatchObject({ key_id: 'payments-dek', algorithm: 'AES-256-GCM' });
  });

  it('serves the alerting, health-target and analytics APIs', async () => {
    const rules = await json('GET', '/api/v1/alerts/rules');
    expect(rules.status).toBe(200);
    const names = JSON.stringify(rules.body);
    for (const predefined of ['High CPU Usage', 'Memory Exhaustion', 'Authentication Failures', 'Key Access Anomalies']) {
      expect(names).toContain(predefined);
    }
    const badRule = await json('POST', '/api/v1/alerts/rules', { rule_id: 'r1', name: 'x', metric_pattern: '(', threshold_value: 1, comparison: '>' });
    expect(badRule.status).toBe(400);
    expect(JSON.stringify(badRule.body)).toContain('metric_pattern');

    const targets = await json('GET', '/api/v1/health/targets');
    expect(targets.status).toBe(200);

    const anomalies = await json('GET', '/api/v1/analytics/anomalies?metric_pattern=crypto.key.*&sensitivity=0.5&window_hours=1');
    expect(anomalies.status, JSON.stringify(anomalies.body)).toBe(200);
  });

  it('exposes the alerting figures on /metrics, valid for promtool', async () => {
    const res = await fetch(`${server.base}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(/^# TYPE emms_alert/m);
    const file = join(data.dir, 'metrics.txt');
    writeFileSync(file, text);
    // promtool exits non-zero on any exposition error; its stdout/stderr name the problem.
    execFileSync('sh', ['-c', `promtool check metrics < ${file}`], { stdio: 'pipe' });
  });
});

describe('emms serve with no settings at all', () => {
  it('creates ./data/metrics.db and the operator token in the working directory, as `npm start` on a fresh clone does', async () => {
    const cwd = tempDir('emms-fresh-');
    try {
      // tsx by absolute URL: a bare `--import tsx` resolves from the (empty) working directory.
      const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CLI_ENTRY, 'serve', '--port', '0'], {
        cwd: cwd.dir, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
      const base = await new Promise<string>((resolve, reject) => {
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m !== null) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`exited ${String(code)} before listening: ${err}`)));
      });
      expect((await fetch(`${base}/health`)).status).toBe(200);
      // The README's quick start: the token file, readable by its owner only, opens the API.
      const tokenFile = join(cwd.dir, 'data', 'admin.token');
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      const token = readFileSync(tokenFile, 'utf8').trim();
      expect((await fetch(`${base}/api/v1/auth/whoami`)).status).toBe(401);
      const whoami = await fetch(`${base}/api/v1/auth/whoami`, { headers: { authorization: `Bearer ${token}` } });
      expect(whoami.status).toBe(200);
      expect(await whoami.json()).toMatchObject({ role: 'operator' });
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(join(cwd.dir, 'data', 'metrics.db'))).toBe(true);
      // The start-up warm-up (src/server/warm_up.ts, codec_warm_up.ts: native frames, a scratch
      // store, remote-write and line-protocol bodies) left nothing in the server's own store.
      const store = new EngineMetricsSystem({ storage: 'sqlite', path: join(cwd.dir, 'data', 'metrics.db') }, { chunkEncoding: 'inline' });
      await store.start();
      try {
        // The server's only series of its own (an auth failure of the 401 above) is not a warm-up one.
        expect(store.stats()).toMatchObject({ series: 1 });
        expect(store.metricIds()).toEqual(['security.auth.failures']);
        expect(store.forTenant(WARM_UP_TENANT).metricIds?.()).toEqual([]);
      } finally {
        await store.stop();
      }
      // The log names the file, never the token.
      expect(err).toContain(join('data', 'admin.token'));
      expect(err).not.toContain(token);
    } finally {
      cwd.remove();
    }
  });
});
