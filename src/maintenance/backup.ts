/**
 * `emms backup`: a consistent snapshot of a data directory, running or stopped, written as one
 * archive (archive_file.ts) with a manifest of checksums.
 *
 * Consistency: the metrics store is copied through its back-end's snapshot
 * (MaintainableStorage.snapshot) when the engine runs in this process, or as a SQLite file
 * snapshot when it does not; each feature database is copied the same way. Each copy is one
 * read transaction, so it holds every write committed (and so acknowledged) before the backup
 * started and nothing half-written. The databases are copied one after another, so writes
 * landing during the backup may be in a later copy and not in an earlier one; no feature keeps
 * a cross-database invariant that this could break (each feature owns its own file).
 *
 * Everything is staged in a private temporary directory beside the output (same file system:
 * the copies are as large as the data), which is removed whatever happens.
 */
import { promises as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { MaintainableStorage } from '../model/maintainable_storage.js';
import { DATABASE_FILE_NAME, databasePathIn } from '../model/data_directory.js';
import { KEYRING_FILE } from '../crypto/keyring.js';
import { snapshotSqliteFile } from '../storage/sqlite/sqlite_snapshot.js';
import { reduceStoreToTenant } from './sqlite_tenant_extract.js';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, hashFile, type BackupManifest, type ManifestFile } from './archive_manifest.js';
import { temporarySibling, writeArchive } from './archive_file.js';
import { appendOnlyLogs, copyCompleteLines, featureDatabases, keyFiles, reduceFeatureDatabaseToTenant, seriesIn, tenantsIn } from './backup_files.js';
import { SILENT_PROGRESS, type Progress } from './progress.js';
import { EMMS_VERSION } from './emms_version.js';

export interface BackupOptions {
  dataDir: string;
  /** The archive to write (`.tar.gz`); replaced atomically if it exists. */
  output: string;
  /** The running engine's store; absent for a stopped data directory. */
  storage?: MaintainableStorage | undefined;
  /** Back up this tenant only (see backup_files.ts). */
  tenant?: string | undefined;
  progress?: Progress;
}

export interface BackupResult {
  output: string;
  /** Size of the archive. */
  bytes: number;
  /** Bytes of the files in it, uncompressed. */
  dataBytes: number;
  manifest: BackupManifest;
  durationMs: number;
}

export async function createBackup(options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const progress = options.progress ?? SILENT_PROGRESS;
  const dataDir = resolve(options.dataDir);
  const output = resolve(options.output);
  const metricsPath = databasePathIn(dataDir);
  try {
    await fs.access(metricsPath);
  } catch {
    throw new Error(`${dataDir} holds no ${DATABASE_FILE_NAME}: not an EMMS data directory`);
  }
  await fs.mkdir(dirname(output), { recursive: true });
  const staging = temporarySibling(output, 'staging');
  await fs.mkdir(staging, { mode: 0o700 });
  try {
    const createdAt = new Date().toISOString();
    const features = featureDatabases(dataDir);
    const keys = keyFiles(dataDir, options.tenant);
    const logs = appendOnlyLogs(dataDir, options.tenant);
    progress.phase('snapshot', 1 + features.length, 'files');
    const metricsCopy = join(staging, DATABASE_FILE_NAME);
    if (options.storage !== undefined) await options.storage.snapshot(metricsCopy);
    else await snapshotSqliteFile(metricsPath, metricsCopy);
    progress.update(1);
    for (const [i, name] of features.entries()) {
      await snapshotSqliteFile(join(dataDir, name), join(staging, name));
      progress.update(2 + i);
    }
    for (const name of keys) await fs.copyFile(join(dataDir, name), join(staging, name));
    for (const name of logs) await copyCompleteLines(join(dataDir, name), join(staging, name));
    progress.end();

    if (options.tenant !== undefined) {
      progress.phase(`keep tenant ${options.tenant} only`, 1 + features.length, 'files');
      await reduceStoreToTenant(metricsCopy, options.tenant);
      progress.update(1);
      for (const [i, name] of features.entries()) {
        reduceFeatureDatabaseToTenant(join(staging, name), options.tenant);
        progress.update(2 + i);
      }
      progress.end();
    }
    // Companions a snapshot's later opening may have left (the tenant reduction opens the copies).
    for (const name of await fs.readdir(staging)) {
      if (name.endsWith('-wal') || name.endsWith('-shm') || name.endsWith('.lock')) await fs.rm(join(staging, name), { force: true });
    }

    const names = [DATABASE_FILE_NAME, ...features, ...keys, ...logs];
    const files: ManifestFile[] = [];
    for (const name of names) files.push({ name, ...(await hashFile(join(staging, name))) });
    const tenants = tenantsIn(staging);
    const manifest: BackupManifest = {
      format: ARCHIVE_FORMAT,
      format_version: ARCHIVE_FORMAT_VERSION,
      created_at: createdAt,
      source_version: EMMS_VERSION,
      backend: options.storage?.backend ?? 'sqlite',
      tenant: options.tenant ?? null,
      tenants: options.tenant === undefined ? tenants : tenants.filter((t) => t === options.tenant),
      encryption: keys.includes(KEYRING_FILE) ? 'on' : 'off',
      series: seriesIn(staging),
      files,
    };
    const bytes = await writeArchive(staging, manifest, output, progress);
    return { output, bytes, dataBytes: files.reduce((n, f) => n + f.bytes, 0), manifest, durationMs: Date.now() - started };
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}
