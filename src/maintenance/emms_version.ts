/**
 * The version of this build, as package.json says (recorded in backup manifests). Read once
 * from the package root, which is two folders up from both src/maintenance and
 * dist/maintenance.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const EMMS_VERSION = readVersion();
