// Builds the dashboard (web/src/) into dist/web/: content-hashed scripts, styles and the WASM
// kernels under assets/, and index.html naming them. Run by `npm run build:web` (part of
// `npm run build`, hence of `npm install`). Plain .mjs so it needs nothing but esbuild.
//
// Two bundles: the page (app.ts) and a Web Worker (core_worker.ts) that fetches query
// results in the columnar binary form, decodes them and re-aggregates with the engine's own
// WASM kernels (src/core/). A worker because Chromium refuses synchronous WebAssembly
// compilation of modules over 4 KiB on the main thread, and src/core/ compiles synchronously.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.env.EMMS_WEB_OUT ?? join(root, 'dist', 'web');
const assets = join(out, 'assets');
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

function hashed(stem, ext, bytes) {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 10).toUpperCase();
  return `${stem}-${hash}.${ext}`;
}
function emit(stem, ext, bytes) {
  const name = hashed(stem, ext, bytes);
  writeFileSync(join(assets, name), bytes);
  return name;
}

// src/core/ loads build/<name>.wasm with node:fs; in the worker the bytes were fetched before
// the first kernel call and are handed over through this stub (see web/src/core_worker.ts).
const nodeStubs = {
  name: 'node-stubs',
  setup(b) {
    b.onResolve({ filter: /^node:(fs|url)$/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => ({
      loader: 'js',
      contents: args.path === 'node:fs'
        ? 'export function readFileSync(){ const b = globalThis.__emmsWasmBytes; if (!b) throw new Error("emms: WASM bytes not loaded yet"); return b; }'
        : 'export function fileURLToPath(u){ return String(u); }',
    }));
  },
};

const common = { bundle: true, minify: true, format: 'esm', platform: 'browser', target: ['es2022'], write: false, legalComments: 'none', logLevel: 'warning' };

const wasmName = emit('emms', 'wasm', readFileSync(join(root, 'build', 'emms.wasm')));
const worker = await build({ ...common, entryPoints: [join(root, 'web/src/core_worker.ts')], plugins: [nodeStubs], define: { __EMMS_WASM__: JSON.stringify(`/assets/${wasmName}`) } });
const workerName = emit('core_worker', 'js', worker.outputFiles[0].contents);
const app = await build({ ...common, entryPoints: [join(root, 'web/src/app.ts')], define: { __EMMS_WORKER__: JSON.stringify(`/assets/${workerName}`) } });
const appName = emit('app', 'js', app.outputFiles[0].contents);
const css = await build({ ...common, entryPoints: [join(root, 'web/src/style.css')] });
const cssName = emit('app', 'css', css.outputFiles[0].contents);

const html = readFileSync(join(root, 'web/index.html'), 'utf8').replace('__APP_CSS__', `/assets/${cssName}`).replace('__APP_JS__', `/assets/${appName}`);
writeFileSync(join(out, 'index.html'), html);
writeFileSync(join(out, 'manifest.json'), JSON.stringify({ app: appName, css: cssName, worker: workerName, wasm: wasmName }, null, 2) + '\n');
console.log(`web: ${out} (${appName}, ${cssName}, ${workerName}, ${wasmName})`);
