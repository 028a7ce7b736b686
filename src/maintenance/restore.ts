/**
 * `emms restore`: a backup archive into a data directory, all or nothing.
 *
 * Order: the archive is read and checked (manifest, entries, then every file's SHA-256 once
 * extracted) in a private staging directory beside the target, before the target is touched.
 * A non-empty target is refused unless `force`, and a target a running server holds is refused
 * even then. The swap is two renames on one file system: the old directory is moved aside, the
 * staged one takes its name, and only then is the old one deleted; a failure between the two
 * renames moves the old one back.
 *
 * Back-ends: archives of the SQLite back-end restore into a SQLite data directory. Restoring
 * into another back-end (a SQLite backup into PostgreSQL) needs the back-ends of issue 15;
 * such an archive, or one of another back-end, is refused naming the back-end.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DATABASE_FILE_NAME } from '../model/data_directory.js';
import type { BackupManifest } from './archive_manifest.js';
import { ArchiveError, extractVerified, readManifest, temporarySibling } from './archive_file.js';
import { SILENT_PROGRESS, type Progress } from './progress.js';

/** The storage back-ends this build restores into. */
const RESTORABLE_BACKENDS: readonly string[] = ['sqlite'];

export interface RestoreOptions {
  input: string;
  dataDir: string;
  /** Replace a non-empty target. */
  force?: boolean;
  progress?: Progress;
}

export interface RestoreResult {
  dataDir: string;
  manifest: BackupManifest;
  /** Bytes of the restored files. */
  dataBytes: number;
  durationMs: number;
}

/** Whether a process that still runs holds the writer lock of the target's metrics store. */
function runningServerOf(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, `${DATABASE_FILE_NAME}.lock`), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? -1 : undefined;
  }
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const progress = options.progress ?? SILENT_PROGRESS;
  const input = resolve(options.input);
  const target = resolve(options.dataDir);
  if (!existsSync(input)) throw new Error(`${input} does not exist`);
  const manifest = await readManifest(input);
  if (!RESTORABLE_BACKENDS.includes(manifest.backend)) {
    throw new ArchiveError(`${input} holds a ${manifest.backend} back-end; this build restores ${RESTORABLE_BACKENDS.join(', ')} only (other back-ends: issue 15)`);
  }
  const existing = existsSync(target) ? await fs.readdir(target) : [];
  if (existing.length > 0 && options.force !== true) {
    throw new Error(`refusing to restore into ${target}: it is not empty (${existing.length} entries); pass --force to replace it`);
  }
  const owner = runningServerOf(target);
  if (owner !== undefined) throw new Error(`refusing to restore into ${target}: a server (process ${owner === -1 ? 'of another user' : owner}) has it open; stop it first`);

  await fs.mkdir(dirname(target), { recursive: true });
  const staging = temporarySibling(target, 'restore');
  await fs.mkdir(staging, { mode: 0o700 });
  try {
    await extractVerified(input, manifest, staging, progress);
    const aside = temporarySibling(target, 'replaced');
    const hadTarget = existsSync(target);
    if (hadTarget) await fs.rename(target, aside);
    try {
      await fs.rename(staging, target);
    } catch (err) {
      if (hadTarget) await fs.rename(aside, target);
      throw err;
    }
    if (hadTarget) await fs.rm(aside, { recursive: true, force: true });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return { dataDir: target, manifest, dataBytes: manifest.files.reduce((n, f) => n + f.bytes, 0), durationMs: Date.now() - started };
}
