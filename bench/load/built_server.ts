/**
 * How the server benchmarks start `emms serve`: as `npm start` does, from the compiled
 * dist/cli/main.js with the V8 flag the emms command sets. (They ran src/ through tsx before:
 * tsx compiles every module of every worker thread as it loads, and the chunk encoder thread
 * starting under a steady load cost the fresh server's ack p99 up to ~200 ms that `npm start`
 * never shows.) `npm install` builds dist/; after editing src/, run `npm run build:ts`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RECOMMENDED_OLD_SPACE } from '../../src/cli/serve_command.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST_ENTRY = join(REPO_ROOT, 'dist', 'cli', 'main.js');

function newestMtimeMs(dir: string, suffix: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtimeMs(path, suffix));
    else if (entry.name.endsWith(suffix)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** node arguments that run `emms` from dist/; throws when dist/ is missing, warns when src/ is newer. */
export function builtServerArgs(): string[] {
  // EMMS_BENCH_DIST: another build's dist/ (a copy made before a change, beside a package.json
  // and links to node_modules/ and build/), read at each start so a bench can alternate builds.
  const other = process.env.EMMS_BENCH_DIST;
  const entry = other === undefined ? DIST_ENTRY : join(other, 'cli', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` (npm install does) before the server benchmarks`);
  if (other === undefined && newestMtimeMs(join(REPO_ROOT, 'src'), '.ts') > newestMtimeMs(join(REPO_ROOT, 'dist'), '.js')) {
    process.stderr.write('warning: src/ has changes newer than dist/: this run measures the last build; run `npm run build:ts` first\n');
  }
  return [RECOMMENDED_OLD_SPACE, entry];
}
