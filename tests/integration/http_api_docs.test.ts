/**
 * The documentation is checked against a real server (the app composed as `emms serve`
 * composes it, listening on a loopback port, with authentication on):
 *   - every `sh` block of docs/http_api.md runs with bash, in order, with `EMMS` and `TOKEN`
 *     (the operator key) set; a block that exits non-zero fails the test with its output
 *     (examples use `curl -f`, so an HTTP error fails them);
 *   - every route of the server's table has at least one `curl` example there (the test lists
 *     every route without one);
 *   - docs/api/ equals what `npm run docs:api` renders from the served OpenAPI document.
 * Needs bash, curl and jq (apt: curl jq).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';
import { renderApiDocs } from '../../src/http/openapi_markdown.js';
import type { HttpMethod, RouteDefinition } from '../../src/http/route.js';
import { Router } from '../../src/server/router.js';

const DOC = new URL('../../docs/http_api.md', import.meta.url);
const API_DIR = new URL('../../docs/api/', import.meta.url);

let dir: string;
let work: string;
let app: EmmsApp;
let base: string;
let token: string;

/** The `sh` blocks of the guide, with the line each starts on. */
function shellBlocks(markdown: string): Array<{ line: number; code: string }> {
  const blocks: Array<{ line: number; code: string }> = [];
  const re = /^([ \t]*)```sh\n([\s\S]*?)^\1```/gm;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) {
    const indent = m[1]!;
    const code = m[2]!.split('\n').map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l)).join('\n');
    blocks.push({ line: markdown.slice(0, m.index).split('\n').length, code });
  }
  return blocks;
}

/** METHOD and path of each curl call: `-X` names the method, a body makes it POST. */
export function curlCalls(code: string): Array<{ method: string; path: string }> {
  const joined = code.replace(/\\\n\s*/g, ' ');
  const calls: Array<{ method: string; path: string }> = [];
  for (const cmd of joined.split(/\n|\||;|&&/)) {
    if (!/(^|[\s(])curl\s/.test(cmd)) continue;
    const url = /"\$EMMS([^"?\s]*)(?:\?[^"]*)?"/.exec(cmd);
    if (url === null) continue;
    const explicit = /\s-X\s+([A-Z]+)/.exec(cmd)?.[1];
    const hasBody = /\s(-d|--data|--data-binary|--data-urlencode)\s/.test(cmd);
    calls.push({ method: explicit ?? (hasBody ? 'POST' : 'GET'), path: url[1] === '' ? '/' : url[1]!.replace(/\$\{?(\w+)\}?/g, 'x') });
  }
  return calls;
}

/** Runs `code` with bash (-e, pipefail), killed after 30 s. */
function runBash(code: string): Promise<{ status: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], { cwd: work, env: { PATH: process.env.PATH, HOME: work, EMMS: base, TOKEN: token } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status: status ?? String(signal), stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-docs-'));
  work = mkdtempSync(join(tmpdir(), 'emms-docs-work-'));
  const config = loadConfig({ env: {}, flags: { port: '0', data: dir } });
  config.collector.decodeThreads = 0;
  config.logLevel = 'silent';
  config.security.limits.authFailuresPerMinute = 1_000_000;
  app = await startEmmsApp(config, () => undefined);
  base = `http://127.0.0.1:${app.server.port}`;
  token = readFileSync(app.adminTokenPath!, 'utf8').trim();
  // What the examples of existing objects act on: a firing alert and a blocked address.
  await app.engine.forTenant('default').collectMetrics([{ metricId: 'doc.fixture', value: 5, timestamp: Date.now() - 1000 }]);
  app.alerting.addRule('default', { rule_id: 'doc-fixture', name: 'doc fixture', metric_pattern: 'doc\\.fixture', threshold_value: 0, comparison: '>', priority: 'LOW' });
  await app.alerting.evaluateOnce();
  app.authFailures.record('203.0.113.7');
  app.alerting.ipBlocklist.block('203.0.113.7', Date.now() + 3_600_000, { tenant: 'default', rule_id: 'doc-fixture', alert_id: null });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('docs/http_api.md', () => {
  it('runs every example against the server', async () => {
    const blocks = shellBlocks(readFileSync(DOC, 'utf8'));
    expect(blocks.length).toBeGreaterThan(60);
    const failures: string[] = [];
    for (const b of blocks) {
      // Asynchronous: the server answers from this process's event loop.
      const r = await runBash(b.code);
      if (r.status !== 0) failures.push(`docs/http_api.md:${b.line} exited ${r.status}: ${b.code.trim()}\n  stdout: ${r.stdout.slice(0, 400)}\n  stderr: ${r.stderr.slice(0, 400)}`);
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
  }, 240_000);

  it('has a curl example for every route the server mounts', () => {
    const router = new Router<RouteDefinition>();
    for (const r of app.server.routes) router.add(r.method, r.pattern, r);
    const covered = new Set<RouteDefinition>();
    const unmatched: string[] = [];
    for (const b of shellBlocks(readFileSync(DOC, 'utf8'))) {
      for (const call of curlCalls(b.code)) {
        const m = router.match(call.method as HttpMethod, call.path);
        if (m.kind === 'found') covered.add(m.value);
        else unmatched.push(`${call.method} ${call.path}`);
      }
    }
    expect(unmatched, 'examples that call no route').toEqual([]);
    const missing = app.server.routes.filter((r) => !covered.has(r)).map((r) => `${r.method} ${r.pattern}`);
    expect(missing, `routes without an example: ${missing.join(', ')}`).toEqual([]);
  });
});

describe('docs/api/', () => {
  it('is what `npm run docs:api` renders from the served document', async () => {
    const doc = await (await fetch(`${base}/api/v1/openapi.json`)).json() as Record<string, unknown>;
    const files = renderApiDocs(doc);
    const committed = readdirSync(API_DIR).sort();
    expect(committed, 'run `npm run docs:api`').toEqual([...files.keys()].sort());
    const stale = [...files].filter(([name, text]) => readFileSync(new URL(name, API_DIR), 'utf8') !== text).map(([name]) => name);
    expect(stale, `stale files in docs/api/ (run \`npm run docs:api\`): ${stale.join(', ')}`).toEqual([]);
  });
});

describe('curlCalls', () => {
  it('reads the method and the path of each call', () => {
    expect(curlCalls('curl -fsS "$EMMS/a/b?x=1" -d \'{}\'\ncurl -fsS -X DELETE "$EMMS/a/$ID" | jq .\nX=$(curl -fsS "$EMMS/")\necho "$EMMS/none"')).toEqual([
      { method: 'POST', path: '/a/b' }, { method: 'DELETE', path: '/a/x' }, { method: 'GET', path: '/' },
    ]);
  });
});
