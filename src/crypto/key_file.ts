/**
 * Key files kept in (or beside) the data directory: 32 random bytes, created once with mode
 * 0600 by an exclusive create, so two processes starting together cannot each write a
 * different key, and refused when group or others can read them. Errors name the file, never
 * its contents.
 *
 * Used by the sealing of alert-channel secrets (secrets.key) and by the audit log's checkpoint
 * MACs (audit.key); each purpose has its own file so that one key's disclosure does not
 * weaken the other control.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';

export const KEY_FILE_BYTES = 32;

export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/** Reads the key in `path`, creating it when it does not exist (unless `create` is false). */
export function openKeyFile(path: string, options: { create?: boolean; purpose: string }): Buffer {
  if (options.create !== false) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(KEY_FILE_BYTES));
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new KeyFileError(`cannot create the ${options.purpose} key file ${path}: ${(err as Error).message}`);
    }
  }
  const key = readPrivateFile(path, options.purpose);
  if (key.length !== KEY_FILE_BYTES) throw new KeyFileError(`${options.purpose} key file ${path} must hold exactly ${KEY_FILE_BYTES} bytes; it holds ${key.length}`);
  return key;
}

/** The bytes of a key file that only its owner may read; errors name the file, never its contents. */
export function readPrivateFile(path: string, purpose: string): Buffer {
  try {
    const fd = openSync(path, 'r');
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) throw new KeyFileError(`${purpose} key file ${path} is readable by group or others; chmod 600 it`);
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`cannot read the ${purpose} key file ${path}: ${(err as Error).message}`);
  }
}
