/**
 * Remote write in with a real Prometheus: Debian's `prometheus` scrapes a tiny exporter of this
 * test every second and remote-writes to EMMS with a writer key of tenant `rw` (bearer
 * credentials). Then what EMMS stored is compared, sample for sample, with what Prometheus
 * answers on its own query API over the same span.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';
import { freePort, startPrometheus, waitUntil, type Peer } from './remote_write_peers.js';

let dir: string;
let app: EmmsApp;
let prometheus: Peer;
let exporter: Server;
let scrapes = 0;

/** Series the exporter serves; values change every scrape, including fractions and a negative. */
function exposition(): string {
  scrapes++;
  return [
    '# TYPE test_temperature gauge',
    `test_temperature{room="a"} ${(20 + Math.sin(scrapes) * 3).toFixed(6)}`,
    `test_temperature{room="b b",floor="2"} ${-1.25 * scrapes}`,
    '# TYPE test_requests_total counter',
    `test_requests_total{code="200"} ${scrapes * 7}`,
    `test_requests_total{code="500"} ${Math.floor(scrapes / 3)}`,
    '',
  ].join('\n');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-rw-prom-'));
  mkdirSync(join(dir, 'emms'));
  const config = loadConfig({ env: {}, flags: { port: '0', data: join(dir, 'emms') } });
  config.collector.decodeThreads = 0;
  app = await startEmmsApp(config, () => undefined);
  const base = `http://127.0.0.1:${app.server.port}`;
  const operator = readFileSync(app.adminTokenPath!, 'utf8').trim();
  const key = await fetch(`${base}/api/v1/auth/keys`, {
    method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'prometheus', tenant: 'rw', role: 'writer' }),
  });
  expect(key.status).toBe(201);
  writeFileSync(join(dir, 'token'), ((await key.json()) as { token: string }).token, { mode: 0o600 });

  exporter = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition()));
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
  const exporterPort = (exporter.address() as { port: number }).port;
  const promPort = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    'scrape_configs:',
    '  - job_name: exporter',
    `    static_configs: [{ targets: ["127.0.0.1:${exporterPort}"] }]`,
    'remote_write:',
    `  - url: ${base}/api/v1/write`,
    `    authorization: { credentials_file: ${join(dir, 'token')} }`,
    '    queue_config: { batch_send_deadline: 500ms, min_backoff: 50ms, max_backoff: 1s }',
    '',
  ].join('\n'));
  prometheus = await startPrometheus(join(dir, 'prometheus.yml'), join(dir, 'prom-data'), promPort);
}, 60_000);

afterAll(async () => {
  await prometheus?.kill();
  exporter?.close();
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Samples = Map<string, Array<[number, number]>>;

/** `name{k="v",…}` with labels sorted, the same spelling for both sides. */
function key(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels).filter((k) => k !== '__name__').sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}

async function fromEmms(names: string[]): Promise<Samples> {
  const out: Samples = new Map();
  for (const name of names) {
    for (const s of await app.engine.forTenant('rw').queryMetrics({ metricPattern: name, startTime: 0, endTime: Date.now() + 60_000 })) {
      out.set(key(s.metricId, s.tags), [...s.timestamps].map((t, i) => [t, s.values[i]!]));
    }
  }
  return out;
}

async function fromPrometheus(names: string[], atSeconds: number): Promise<Samples> {
  const out: Samples = new Map();
  for (const name of names) {
    const r = await fetch(`${prometheus.base}/api/v1/query?${new URLSearchParams({ query: `${name}[10m]`, time: String(atSeconds) })}`);
    const body = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
    expect(body.status).toBe('success');
    for (const s of body.data.result) out.set(key(name, s.metric), s.values.map(([t, v]) => [Math.round(t * 1000), Number(v)]));
  }
  return out;
}

describe('Prometheus remote-writes to EMMS', () => {
  it('stores exactly what Prometheus scraped, in the tenant of the key', async () => {
    const names = ['test_temperature', 'test_requests_total', 'up', 'scrape_duration_seconds'];
    // Enough scrapes to have arrived for every series.
    await waitUntil(async () => {
      const got = await fromEmms(['test_requests_total']);
      return [...got.values()].every((s) => s.length >= 5) && got.size === 2 ? true : undefined;
    }, 'five remote-written scrapes in EMMS', 40_000);
    const emms = await fromEmms(names);
    const prom = await fromPrometheus(names, Date.now() / 1000);
    expect([...emms.keys()].sort()).toEqual([...prom.keys()].sort());
    expect(emms.size).toBe(2 + 2 + 1 + 1);
    let compared = 0;
    for (const [series, ours] of emms) {
      // Prometheus may hold newer samples not sent yet: compare up to EMMS's newest.
      const newest = ours[ours.length - 1]![0];
      const theirs = prom.get(series)!.filter(([t]) => t <= newest);
      expect(ours, series).toEqual(theirs);
      compared += ours.length;
    }
    expect(compared).toBeGreaterThanOrEqual(20);
    // Names stay as Prometheus spells them; labels (job, instance) became tags.
    const up = await app.engine.forTenant('rw').listSeries('up');
    expect(up[0]!.tags.job).toBe('exporter');
    expect(await app.engine.forTenant('default').listSeries('test_*')).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${app.server.port}/metrics`)).text();
    expect(metrics).toMatch(/emms_interop_points_ingested_total\{protocol="remote_write"\} [1-9]/);
  }, 60_000);
});
