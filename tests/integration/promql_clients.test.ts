/**
 * The clients the Prometheus-compatible API is for, against a real `emms serve` holding the
 * conformance dataset:
 * - `promtool query instant|range|series|labels` (Debian's promtool 2.42). That promtool has no
 *   way to send a bearer token (`--http.config.file` came with 2.43), so it talks to EMMS
 *   through a loopback proxy that adds the header, as a reverse proxy in front of EMMS would.
 * - Grafana's Prometheus data source, replayed as its documentation and source describe the
 *   requests: the health check (`1+1` instant query), build info, form-POSTed `query_range`
 *   with `step`, label names, `__name__` value completion, label values, series lookups,
 *   metadata and exemplars.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type ServerProcess } from './server_harness.js';
import { buildDataset, T0 } from './promql_dataset.js';
import { ingestIntoEmms } from './promql_peers.js';

const run = promisify(execFile);

let emms: ServerProcess;
let proxy: Server;
let proxyBase: string;
let remove: () => void;

beforeAll(async () => {
  const tmp = tempDir('emms-promql-clients-');
  remove = tmp.remove;
  emms = await startServer(['--data', tmp.dir]);
  await ingestIntoEmms(emms, buildDataset());
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = { ...emms.auth };
      if (req.headers['content-type'] !== undefined) headers['content-type'] = req.headers['content-type'];
      const body = chunks.length === 0 ? undefined : Buffer.concat(chunks);
      fetch(`${emms.base}${req.url}`, { method: req.method, headers, ...(body === undefined ? {} : { body }) })
        .then(async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await r.arrayBuffer()));
        })
        .catch((err: unknown) => {
          res.writeHead(502);
          res.end(String(err));
        });
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyBase = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/prometheus`;
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  emms?.proc.kill('SIGTERM');
  await emms?.exited;
  remove?.();
});

describe('promtool query against /prometheus', () => {
  it('runs instant, range, series and labels queries', async () => {
    const instant = await run('promtool', ['query', 'instant', '--time', String(T0 + 1800), proxyBase, 'sum by (region) (node_cpu_usage)']);
    expect(instant.stdout).toMatch(/\{region="eu"\} => -?[0-9.]+ @\[1767227400\]/);
    expect(instant.stdout).toMatch(/\{region="us"\} => /);

    const range = await run('promtool', ['query', 'range', '--start', String(T0 + 600), '--end', String(T0 + 1200), '--step', '1m', proxyBase, 'rate(http_requests_total{instance="i0",code="200"}[5m])']);
    expect(range.stdout).toContain('{code="200", instance="i0", job="api"} =>');
    expect(range.stdout.match(/@\[/g)?.length).toBe(11);

    const series = await run('promtool', ['query', 'series', '--match', 'node_cpu_usage{region="us"}', proxyBase]);
    expect(series.stdout.trim().split('\n').sort()).toEqual([
      '{__name__="node_cpu_usage", host="h1", region="us"}',
      '{__name__="node_cpu_usage", host="h3", region="us"}',
    ]);

    const labels = await run('promtool', ['query', 'labels', proxyBase, 'instance']);
    expect(labels.stdout.trim().split('\n')).toEqual(['i0', 'i1', 'i2', 'i3']);
  }, 60_000);

  it('reports an unsupported function as promtool reports any query error', async () => {
    const refused = await run('promtool', ['query', 'instant', proxyBase, 'deriv(node_cpu_usage[5m])']).catch((err: { stderr: string; code: number }) => err);
    expect((refused as { code: number }).code).not.toBe(0);
    expect((refused as { stderr: string }).stderr).toContain('deriv');
  });
});

describe('Grafana Prometheus data source requests', () => {
  const form = (params: Record<string, string>) => ({
    method: 'POST',
    headers: { ...emms.auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const api = (path: string) => `${emms.base}/prometheus/api/v1${path}`;

  it('passes the data source health check and reads build info', async () => {
    const health = await (await fetch(api(`/query?query=1%2B1&time=${T0}`), { headers: emms.auth })).json();
    expect(health).toEqual({ status: 'success', data: { resultType: 'scalar', result: [T0, '2'] } });
    const build = await (await fetch(api('/status/buildinfo'), { headers: emms.auth })).json();
    expect(build.status).toBe('success');
    expect(build.data.version).toMatch(/^2\.\d+\.\d+$/);
  });

  it('runs a form-POSTed query_range with step, as panels do', async () => {
    const r = await fetch(api('/query_range'), form({ query: 'avg by (region) (avg_over_time(node_cpu_usage[5m]))', start: String(T0 + 600), end: String(T0 + 3600), step: '300' }));
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.data.resultType).toBe('matrix');
    expect(body.data.result.map((s: { metric: unknown }) => s.metric)).toEqual([{ region: 'eu' }, { region: 'us' }]);
    expect(body.data.result[0].values.map((v: [number, string]) => v[0])).toEqual([600, 900, 1200, 1500, 1800, 2100, 2400, 2700, 3000, 3300, 3600].map((s) => T0 + s));
  });

  it('answers the query editor lookups: label names, __name__ completion, label values, series, metadata, exemplars', async () => {
    const range = `start=${T0}&end=${T0 + 7200}`;
    const labels = await (await fetch(api(`/labels?${range}`), { headers: emms.auth })).json();
    expect(labels.data).toEqual(['__name__', 'code', 'host', 'instance', 'job', 'le', 'q', 'region', 'sensor']);
    const names = await (await fetch(api(`/label/__name__/values?${range}`), { headers: emms.auth })).json();
    expect(names.data).toEqual(['http_requests_total', 'node_cpu_usage', 'queue_depth', 'request_duration_seconds_bucket', 'temperature']);
    const values = await (await fetch(api(`/label/code/values?${range}&match[]=http_requests_total`), { headers: emms.auth })).json();
    expect(values.data).toEqual(['200', '500']);
    const series = await (await fetch(api('/series'), form({ 'match[]': 'request_duration_seconds_bucket{instance="i1"}', start: String(T0), end: String(T0 + 7200) }))).json();
    expect(series.data).toHaveLength(4);
    expect(series.data[0]).toMatchObject({ __name__: 'request_duration_seconds_bucket', instance: 'i1', job: 'api' });
    const metadata = await (await fetch(api('/metadata'), { headers: emms.auth })).json();
    expect(metadata.data.http_requests_total).toEqual([{ type: 'counter', help: 'EMMS metric http_requests_total', unit: '' }]);
    expect(metadata.data.node_cpu_usage[0].help).toBe('EMMS metric node.cpu.usage');
    const exemplars = await (await fetch(api('/query_exemplars'), form({ query: 'node_cpu_usage', start: String(T0), end: String(T0 + 60) }))).json();
    expect(exemplars).toEqual({ status: 'success', data: [] });
  });

  it('answers errors in Prometheus shape', async () => {
    const noStep = await fetch(api('/query_range'), form({ query: 'node_cpu_usage', start: String(T0), end: String(T0 + 60), step: '0' }));
    expect(noStep.status).toBe(400);
    expect(await noStep.json()).toEqual({ status: 'error', errorType: 'bad_data', error: 'zero or negative query resolution step widths are not accepted. Try a positive integer' });
    const unsupported = await fetch(api('/query'), form({ query: 'predict_linear(node_cpu_usage[5m], 60)' }));
    expect(unsupported.status).toBe(422);
    expect((await unsupported.json()).error).toContain('function "predict_linear"');
    const unauthenticated = await fetch(api('/labels'));
    expect(unauthenticated.status).toBe(401);
  });
});
