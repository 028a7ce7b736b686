/**
 * Dashboard figures (issue 18), against a real `emms serve` (from dist/, as `npm start` runs it;
 * see bench/load/built_server.ts) and Debian's
 * chromium driven by playwright-core:
 *
 *   1. time to first chart on the System Overview with 1,000 series × 24 h stored
 *      (`system.cpu.usage_total` for 1,000 hosts at 1 point/min = 1.44 M points; the overview's
 *      24 h range asks 15-min averages of all of them): from navigation start to the first
 *      panel drawn with data (`performance.mark('emms:first-chart')` in web/src/panel.ts),
 *      signed in already, cold page load each time; target ≤ 1 s;
 *   2. bytes of the 100-series 24 h hourly panel (avg per hour of `bench.hundred`, 100 hosts):
 *      the JSON answer vs the columnar binary one (no HTTP compression on either);
 *   3. the browser's decode time for that panel: binary (web/src/columnar.ts) vs
 *      `JSON.parse` + conversion to the same Float64Arrays on the page, median of 30 runs.
 *
 *   npx tsx bench/dashboard_first_chart.ts            # EMMS_CHROMIUM overrides /usr/bin/chromium
 *
 * The machine is shared: 2 cores for the server, the browser and this client, with other work
 * running; read the figures as an upper bound.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { chromium } from 'playwright-core';
import { startServerProcess } from './load/server_process.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const CHROMIUM = process.env.EMMS_CHROMIUM ?? '/usr/bin/chromium';
const DAY_MS = 86_400_000;
const STEP_MS = 60_000;
const packr = new Packr({ useRecords: false });

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

async function main(): Promise<void> {
  execFileSync(process.execPath, [join(REPO_ROOT, 'web', 'build.mjs')], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'emms-dash-bench-'));
  const config = join(dir, 'main.json');
  writeFileSync(config, JSON.stringify({ collector: { max_body_bytes: 64 * 1024 * 1024 }, query: { max_series: 2000, max_points: 5_000_000 } }));
  const server = await startServerProcess(dir, {}, ['--config', config]);
  try {
    const base = server.base;
    const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const auth = { authorization: `Bearer ${token}` };

    const end = Math.floor(Date.now() / STEP_MS) * STEP_MS;
    const start = end - DAY_MS;
    const ingestStarted = performance.now();
    let points = 0;
    const feed = async (metric: string, hosts: number): Promise<void> => {
      for (let h0 = 0; h0 < hosts; h0 += 20) {
        const metrics: unknown[] = [];
        for (let h = h0; h < Math.min(hosts, h0 + 20); h++) {
          for (let t = start; t < end; t += STEP_MS) metrics.push({ metric_id: metric, value: 50 + 40 * Math.sin((t / 3_600_000) + h), timestamp: t, tags: { host: `h${h}` } });
        }
        const r = await fetch(`${base}/api/v1/metrics`, { method: 'POST', headers: { ...auth, 'content-type': 'application/msgpack' }, body: new Uint8Array(packr.pack({ metrics })) });
        if (r.status !== 200) throw new Error(`ingest: HTTP ${r.status} ${await r.text()}`);
        points += metrics.length;
      }
    };
    await feed('system.cpu.usage_total', 1000);
    await feed('bench.hundred', 100);
    const ingestSeconds = (performance.now() - ingestStarted) / 1000;

    // 2. Bytes of the 100-series hourly panel.
    const panel = new URLSearchParams({ metric_pattern: 'bench.hundred', start_time: String(start), end_time: String(end), aggregation: 'avg', interval: '1h' });
    const json = new Uint8Array(await (await fetch(`${base}/api/v1/query?${panel}`, { headers: auth })).arrayBuffer());
    const binary = new Uint8Array(await (await fetch(`${base}/api/v1/query?${panel}`, { headers: { ...auth, accept: 'application/x-msgpack' } })).arrayBuffer());

    const profile = mkdtempSync(join(tmpdir(), 'emms-bench-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 720 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/`);
      await page.fill('input[name=token]', token);
      await page.click('form.signin button[type=submit]');
      await page.waitForSelector('[data-view]');

      // 1. Time to first chart, cold page load (the assets come from the browser cache after
      // the first load, as they would for a returning user; the first run is reported apart).
      const firstChart: number[] = [];
      for (let i = 0; i < 8; i++) {
        await page.goto(`${base}/#/overview?range=24h&run=${i}`);
        await page.reload();
        await page.waitForFunction(() => performance.getEntriesByName('emms:first-chart').length > 0, undefined, { timeout: 30_000 });
        firstChart.push(await page.evaluate(() => performance.getEntriesByName('emms:first-chart')[0]!.startTime));
      }
      // Where the last run's time went: the page's own load, then each API call (start → end, ms).
      const timeline = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
        const calls = (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
          .filter((r) => r.name.includes('/api/') || r.name.includes('/health') || r.name.includes('/assets/'))
          .map((r) => `${new URL(r.name).pathname}${new URL(r.name).searchParams.get('metric_pattern') ?? ''} ${r.startTime.toFixed(0)}→${r.responseEnd.toFixed(0)}`);
        return { domContentLoaded: nav.domContentLoadedEventEnd, calls };
      });

      // 3. Decode in the browser.
      const decode = await page.evaluate(async ({ q, url }) => {
        const emms = (window as any).__emms;
        const binaryMs: number[] = [];
        const jsonMs: number[] = [];
        for (let i = 0; i < 30; i++) {
          const r = await emms.query(q);
          binaryMs.push(r.decodeMs);
          const text = await (await fetch(url, { headers: { accept: 'application/json' } })).text();
          const t0 = performance.now();
          const body = JSON.parse(text) as { series: Array<{ points: Array<[number, number | null]> }> };
          for (const s of body.series) {
            Float64Array.from(s.points, (p) => p[0]);
            Float64Array.from(s.points, (p) => (p[1] === null ? Number.NaN : p[1]));
          }
          jsonMs.push(performance.now() - t0);
        }
        return { binaryMs, jsonMs };
      }, { q: { metricPattern: 'bench.hundred', startMs: start, endMs: end, aggregation: 'avg', interval: '1h' }, url: `/api/v1/query?${panel}` });

      const fmt = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
      console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), shared by server, chromium and client, other work running`);
      console.log(`stored: ${points.toLocaleString('en')} points (1,000 + 100 series × 24 h at 1/min) ingested in ${ingestSeconds.toFixed(1)} s`);
      console.log(`time to first chart, overview, 24 h of 1,000 series: first ${fmt(firstChart[0]!)} ms; later runs median ${fmt(percentile(firstChart.slice(1), 0.5))} ms, max ${fmt(Math.max(...firstChart.slice(1)))} ms (target <= 1000 ms)`);
      console.log(`  last run: DOMContentLoaded at ${timeline.domContentLoaded.toFixed(0)} ms; ${timeline.calls.join('; ')}`);
      console.log(`100-series 24 h hourly panel: JSON ${json.byteLength.toLocaleString('en')} B, binary ${binary.byteLength.toLocaleString('en')} B (${(json.byteLength / binary.byteLength).toFixed(2)}x smaller)`);
      console.log(`browser decode of that panel (30 runs): binary decoded on the page median ${fmt(percentile(decode.binaryMs, 0.5))} ms p95 ${fmt(percentile(decode.binaryMs, 0.95))} ms; JSON.parse + columns on the page median ${fmt(percentile(decode.jsonMs, 0.5))} ms p95 ${fmt(percentile(decode.jsonMs, 0.95))} ms`);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
