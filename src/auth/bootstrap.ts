/**
 * First start: a data directory whose `auth.db` holds no API key at all gets a global operator
 * key, whose token is written to `<data dir>/admin.token` (mode 0600) for the operator to read;
 * the app logs the file's path, never the token. Once any key exists (even a revoked one) this
 * does nothing: locking oneself out by revoking every key is recovered with `emms apikey create`.
 *
 * The file is created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600 in one call, so there is no
 * moment when it exists with looser permissions and no following of a planted symlink. A stale
 * `admin.token` (its auth.db was deleted, so its token is dead) is replaced.
 */
import { closeSync, constants, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GLOBAL_TENANT } from './api_key_input.js';
import type { ApiKeyStore } from './api_key_store.js';

export const ADMIN_TOKEN_FILE = 'admin.token';
const BOOTSTRAP_KEY_NAME = 'bootstrap operator';

export interface BootstrapResult {
  keyId: string;
  /** Where the token is; log this, never the token. */
  tokenPath: string;
}

/** Creates the bootstrap operator key when there is no key; undefined when keys exist. */
export function bootstrapOperatorKey(apiKeys: ApiKeyStore, dataDir: string): BootstrapResult | undefined {
  if (apiKeys.count() > 0) return undefined;
  const tokenPath = join(dataDir, ADMIN_TOKEN_FILE);
  const fd = openExclusive(tokenPath);
  let keyId: string | undefined;
  try {
    const created = apiKeys.createIfNone({ name: BOOTSTRAP_KEY_NAME, tenant: GLOBAL_TENANT, role: 'operator' });
    if (created === undefined) {
      // Someone (the CLI) created a key between the count and the transaction.
      closeSync(fd);
      unlinkSync(tokenPath);
      return undefined;
    }
    keyId = created.record.keyId;
    writeSync(fd, `${created.token}\n`);
    fsyncSync(fd);
    closeSync(fd);
    return { keyId, tokenPath };
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    unlinkSync(tokenPath);
    // A key whose token could not be written is useless to anyone: take it back.
    if (keyId !== undefined) apiKeys.revoke(keyId);
    throw err;
  }
}

function openExclusive(path: string): number {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  try {
    return openSync(path, flags, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    unlinkSync(path);
    return openSync(path, flags, 0o600);
  }
}
