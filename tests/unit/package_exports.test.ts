// The built package as a user loads it: a separate `node` process imports `emms`, `emms/core`,
// `emms/analytics`, `emms/alerts`, `emms/keys` and `emms/server` by name, which Node resolves
// through package.json "exports" to dist/ (a package may import itself by its own name), and
// each entry must export what README "Using it" documents. dist/ is rebuilt first when any
// source is newer than its output (`npm ci` runs `prepare`, which builds, so CI starts fresh).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Names README "Using it" shows for each entry, and what each must be. */
const DOCUMENTED: Record<string, Record<string, 'function' | 'object'>> = {
  emms: { createMetricsSystem: 'function', getMetricsSystem: 'function', MetricType: 'object', MetricValidationError: 'function' },
  'emms/core': {
    encodeChunk: 'function', decodeChunk: 'function', aggregate: 'function', ChunkDecodeError: 'function',
    // The entry's module example (src/core/index.ts).
    BucketAccumulator: 'function', parseInterval: 'function',
  },
  'emms/analytics': { detectAnomalies: 'function', forecast: 'function', capacity: 'function', findCorrelations: 'function' },
  'emms/alerts': { createAlerting: 'function' },
  'emms/keys': { KeyService: 'function' },
  'emms/server': { createServer: 'function' },
};

/** src/**.ts files whose dist/**.js is missing or older. */
function staleSources(dir = join(ROOT, 'src')): string[] {
  const stale: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) stale.push(...staleSources(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const out = join(ROOT, 'dist', relative(join(ROOT, 'src'), path)).replace(/\.ts$/, '.js');
      if (!existsSync(out) || statSync(out).mtimeMs < statSync(path).mtimeMs) stale.push(relative(ROOT, path));
    }
  }
  return stale;
}

/** What the child process reports: per entry, where it resolved and the type of each export. */
interface Report {
  entries: Record<string, { resolved: string; exports: Record<string, string> }>;
  core: { bitExact: boolean; hourlyBuckets: number };
}

// Runs as a user's module would: plain node, no loader, cwd the package root.
const CHILD = `
const entries = ${JSON.stringify(Object.keys(DOCUMENTED))};
const report = { entries: {} };
for (const name of entries) {
  const m = await import(name);
  report.entries[name] = {
    resolved: import.meta.resolve(name),
    exports: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v])),
  };
}
const core = await import('emms/core');
const ts = Float64Array.from({ length: 8640 }, (_, i) => Date.UTC(2026, 0, 1) + i * 10000);
const vs = ts.map((_, i) => 50 + Math.sin(i / 100));
const back = core.decodeChunk(core.encodeChunk(ts, vs));
report.core = {
  bitExact: back.values.every((v, i) => Object.is(v, vs[i])) && back.timestamps.every((t, i) => t === ts[i]),
  hourlyBuckets: core.aggregate(ts, vs, { aggregation: 'avg', intervalMs: core.parseInterval('1h') }).timestamps.length,
};
process.stdout.write(JSON.stringify(report));
`;

let report: Report;

beforeAll(async () => {
  const stale = staleSources();
  if (stale.length > 0) {
    // `npm run build:ts`, without npm in between.
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    try {
      await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, timeout: 300_000, maxBuffer: 16 << 20 });
    } catch (e) {
      const { stdout, message } = e as { stdout?: string; message: string };
      throw new Error(`dist/ was stale (${stale.length} sources, e.g. ${stale[0]}) and \`npm run build:ts\` failed:\n${stdout || message}`);
    }
  }
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // vitest's, not a user's
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', CHILD], { cwd: ROOT, env, timeout: 60_000 });
  report = JSON.parse(stdout) as Report;
}, 360_000);

describe('the built package through its exports map', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | Record<string, string>> };

  it('names every entry README documents, and each target file exists', () => {
    expect(pkg.name).toBe('emms');
    for (const name of Object.keys(DOCUMENTED)) {
      const key = name === 'emms' ? '.' : `./${name.slice('emms/'.length)}`;
      const target = pkg.exports[key];
      expect(target, `exports["${key}"]`).toBeDefined();
      for (const file of typeof target === 'string' ? [target] : Object.values(target!)) {
        expect(existsSync(join(ROOT, file)), `${key} → ${file}`).toBe(true);
      }
    }
  });

  for (const [name, names] of Object.entries(DOCUMENTED)) {
    it(`import('${name}') loads dist/ and exports ${Object.keys(names).join(', ')}`, () => {
      const entry = report.entries[name]!;
      const sub = name === 'emms' ? 'index.js' : `${name.slice('emms/'.length)}/index.js`;
      expect(entry.resolved).toBe(new URL(`dist/${sub}`, `file://${ROOT.endsWith('/') ? ROOT : `${ROOT}/`}`).href);
      for (const [exported, type] of Object.entries(names)) expect(entry.exports[exported], `${name}: ${exported}`).toBe(type);
    });
  }

  it('emms/core works from dist/ (its WASM found from there): a lossless round trip and hourly buckets', () => {
    expect(report.core).toEqual({ bitExact: true, hourlyBuckets: 24 });
  });
});
