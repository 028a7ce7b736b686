/**
 * Imports run one way. Each folder of src/ sits in a layer; a file may import from its own
 * layer or a lower one, never a higher one (a feature never imports the server, the engine
 * never imports a feature), and no two folders import each other, directly or in a ring.
 * Type-only imports count too: they are how a layer learns of another's shapes. No file-level
 * ring of runtime imports is allowed either (module evaluation order would then matter).
 *
 * A new folder must be placed in LAYERS, so adding one is a decision, not an accident.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Lowest first. Names are folders of src/, or top-level files. */
const LAYERS: readonly (readonly string[])[] = [
  ['model', 'text', 'net', 'tenancy', 'workers', 'crypto', 'logging', 'anonymize'],
  ['config', 'http', 'core', 'cluster'],
  ['storage'],
  ['query', 'ingest'],
  ['metrics_system.ts', 'index.ts'],
  ['analytics', 'alerts', 'keys', 'probes', 'collectors', 'auth', 'audit', 'interop', 'maintenance', 'promql'],
  ['server', 'dashboard'],
  ['app', 'deploy'],
  ['cli'],
];

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Static `import … from './x.js'` and `export … from`, and dynamic `import('./x.js')`. */
function edgesOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const out: Edge[] = [];
  const statement = /^(?:import|export)\s+(type\s+)?(?:[^;'"]*?\s+from\s+)?'(\.{1,2}\/[^']+)'/gm;
  for (const m of text.matchAll(statement)) out.push({ from: file, to: resolveImport(file, m[2]!), typeOnly: m[1] !== undefined });
  for (const m of text.matchAll(/\bimport\('(\.{1,2}\/[^']+)'\)/g)) out.push({ from: file, to: resolveImport(file, m[1]!), typeOnly: false });
  return out;
}

function resolveImport(from: string, spec: string): string {
  return normalize(join(dirname(from), spec.replace(/\.js$/, '.ts')));
}

/** The folder (or top-level file) of src/ a file belongs to. */
function unitOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

function layerOf(unit: string): number {
  const i = LAYERS.findIndex((l) => l.includes(unit));
  if (i < 0) throw new Error(`src/${unit} is in no layer of tests/unit/import_graph.test.ts: place it`);
  return i;
}

const files = sourceFiles(SRC);
const edges = files.flatMap(edgesOf).filter((e) => e.to.startsWith(SRC));

/** Strongly connected components with more than one member (Tarjan). */
function rings(nodes: string[], next: (n: string) => string[]): string[][] {
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const ring: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        ring.push(w);
      } while (w !== v);
      if (ring.length > 1) out.push(ring.sort());
    }
  };
  for (const n of nodes) if (!idx.has(n)) visit(n);
  return out;
}

describe('import graph of src/', () => {
  it('finds the imports it checks', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('places every folder in a layer', () => {
    for (const f of files) layerOf(unitOf(f));
  });

  it('never imports upward', () => {
    const upward = edges
      .filter((e) => layerOf(unitOf(e.to)) > layerOf(unitOf(e.from)))
      .map((e) => `${relative(SRC, e.from)} → ${relative(SRC, e.to)}`);
    expect(upward).toEqual([]);
  });

  it('has no ring of folders', () => {
    const units = [...new Set(files.map(unitOf))];
    const next = (u: string): string[] => [...new Set(edges.filter((e) => unitOf(e.from) === u && unitOf(e.to) !== u).map((e) => unitOf(e.to)))];
    expect(rings(units, next)).toEqual([]);
  });

  it('reaches storage back-ends only through the contract: engine → backend.ts ← sqlite/, postgres/, redis/', () => {
    const backendFolder = (f: string): string | undefined => /^storage\/(sqlite|postgres|redis)\//.exec(relative(SRC, f))?.[1];
    // In the data path only the two registries open a back-end; the engine, ingest, queries and
    // the server hold a StorageBackend or a ChunkSource. (Commands that work on a stopped SQLite
    // data directory's files, such as backup and encryption, are SQLite's by nature.)
    const registries = new Set(['storage/backends.ts', 'storage/chunk_sources.ts']);
    const dataPath = new Set(['storage', 'query', 'ingest', 'metrics_system.ts', 'index.ts', 'server']);
    const intoBackends = edges
      .filter((e) => backendFolder(e.to) !== undefined && backendFolder(e.from) !== backendFolder(e.to) && dataPath.has(unitOf(e.from)) && !registries.has(relative(SRC, e.from)))
      .map((e) => `${relative(SRC, e.from)} → ${relative(SRC, e.to)}`);
    expect(intoBackends).toEqual([]);
    // A back-end knows the contract and the chunk formats, never the engine above it.
    const upward = edges
      .filter((e) => backendFolder(e.from) !== undefined && /^storage\/(storage_engine|store_maintenance|point_erasure|backends|chunk_sources)\.ts$/.test(relative(SRC, e.to)))
      .map((e) => `${relative(SRC, e.from)} → ${relative(SRC, e.to)}`);
    expect(upward).toEqual([]);
  });

  it('has no ring of files through runtime imports', () => {
    const runtime = edges.filter((e) => !e.typeOnly);
    const next = (f: string): string[] => runtime.filter((e) => e.from === f).map((e) => e.to);
    expect(rings(files, next).map((r) => r.map((f) => relative(SRC, f)))).toEqual([]);
  });
});
