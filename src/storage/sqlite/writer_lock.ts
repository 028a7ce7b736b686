/**
 * One writer per database file. Series ids are handed out from memory and write-ahead records
 * are deleted wholesale at checkpoint, so two engines writing one file would corrupt it (two
 * series under one id, one engine deleting the other's unflushed records). A second writer is
 * refused instead: within the process by a set of open paths, across processes by a lock file
 * `<db>.lock` holding the owner's pid. A lock left by a killed process (pid no longer alive) is
 * taken over. Read-only connections (query workers) take no lock.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const openInThisProcess = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the writer lock of `dbPath` (absolute); returns its release function. */
export function acquireWriterLock(dbPath: string): () => void {
  if (openInThisProcess.has(dbPath)) {
    throw new Error(`${dbPath} is already open for writing in this process; use one MetricsSystem per database file (getMetricsSystem shares one)`);
  }
  // The lock is the first file written, so it creates the folder the database will live in.
  mkdirSync(dirname(dbPath), { recursive: true });
  const lockPath = `${dbPath}.lock`;
  const pid = String(process.pid);
  try {
    writeFileSync(lockPath, pid, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    let owner = NaN;
    try {
      owner = Number(readFileSync(lockPath, 'utf8').trim());
    } catch {
      // Removed meanwhile: treat as stale.
    }
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new Error(`${dbPath} is open for writing by process ${owner} (lock file ${lockPath}); stop it first`);
    }
    writeFileSync(lockPath, pid);
  }
  openInThisProcess.add(dbPath);
  return () => {
    openInThisProcess.delete(dbPath);
    try {
      if (readFileSync(lockPath, 'utf8').trim() === pid) unlinkSync(lockPath);
    } catch {
      // Already gone.
    }
  };
}
