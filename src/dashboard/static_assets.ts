/**
 * The dashboard's built front end (web/, built by web/build.mjs into dist/web/): `index.html`
 * plus content-hashed files under `assets/`, read into memory once at start-up (they are a few
 * hundred KiB) so that serving them costs no disk I/O and cannot be steered to other files: a
 * request names an asset, and only names present in the folder at start-up exist.
 *
 * Caching: hashed names never change content, so they are `immutable` for a year; the HTML
 * (which names the current hashes) is `no-cache`, so a new build is picked up on reload.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticAsset {
  bytes: Uint8Array;
  contentType: string;
}

export interface DashboardAssets {
  /** The page, or undefined when the front end was not built. */
  readonly html: string | undefined;
  readonly assets: ReadonlyMap<string, StaticAsset>;
  /** Where they were looked for (named in the "not built" answer). */
  readonly root: string;
}

/** src/dashboard/ and dist/dashboard/ are both two levels below the package root. */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../dist/web/', import.meta.url));
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Hashed asset names as web/build.mjs writes them: `<stem>-<8+ hex or base32>.<ext>`. */
export const ASSET_NAME_PATTERN = /^[a-z0-9_]+-[A-Z0-9]{8,}\.(?:js|css|wasm|svg|png|map)$/;

export function loadDashboardAssets(root = defaultWebRoot()): DashboardAssets {
  const indexPath = join(root, 'index.html');
  if (!existsSync(indexPath)) return { html: undefined, assets: new Map(), root };
  const assets = new Map<string, StaticAsset>();
  const dir = join(root, 'assets');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      if (!ASSET_NAME_PATTERN.test(name)) continue;
      assets.set(name, { bytes: new Uint8Array(readFileSync(join(dir, name))), contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream' });
    }
  }
  return { html: readFileSync(indexPath, 'utf8'), assets, root };
}
