/**
 * Encryption at rest for the commands that open a data directory themselves (`emms apikey`,
 * `emms audit`, `emms backup|cleanup|compact|reindex --data`): they take the master key from
 * EMMS_ENCRYPTION_KEY_FILE (or their own `--encryption-key-file`), and never create a keyring:
 * a directory without one is plaintext and is opened as such.
 */
import { openAtRestEncryption, EncryptionStartError, type AtRestEncryption } from './at_rest.js';
import { keyringExists } from './keyring.js';
import { useDatabaseKey } from './sqlite_cipher.js';

export const KEY_FILE_ENV = 'EMMS_ENCRYPTION_KEY_FILE';

/** Sets this process's database key for `dataDir`; undefined when the directory is not encrypted. */
export async function openCommandEncryption(dataDir: string, keyFile: string | undefined = process.env[KEY_FILE_ENV] || undefined): Promise<AtRestEncryption | undefined> {
  if (!keyringExists(dataDir)) {
    useDatabaseKey(undefined);
    return undefined;
  }
  if (keyFile === undefined) {
    // Same refusal as start-up, with the command line's way to give the key.
    return openAtRestEncryption({ dataDir, keyFile: undefined, dataKeyMaxAgeDays: 0 });
  }
  const opened = await openAtRestEncryption({ dataDir, keyFile, dataKeyMaxAgeDays: 0 });
  if (opened === undefined) throw new EncryptionStartError(`BUG: ${dataDir} has a keyring but encryption did not open`);
  return opened;
}
