/**
 * Backup archives on disk: a gzip'd tar whose first entry is `manifest.json`
 * (archive_manifest.ts), followed by the data-directory files it lists.
 *
 * Writing never leaves a half-written target: the archive is written to a temporary file in
 * the target's own directory (same file system), flushed to disk, then renamed over the target.
 *
 * Reading never trusts the archive: a first pass reads the manifest and checks that the
 * entries are exactly the files it lists, regular files of the declared sizes; the second
 * pass extracts only those names into the caller's staging directory; then every file's
 * SHA-256 is checked. Any failure names the archive and, where it is one, the file.
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, createGunzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { create as tarCreate, extract as tarExtract, list as tarList, type ReadEntry } from 'tar';
import { MANIFEST_FILE, MAX_MANIFEST_BYTES, hashFile, parseManifest, type BackupManifest } from './archive_manifest.js';
import { SILENT_PROGRESS, type Progress } from './progress.js';

/** Counts the bytes flowing through, for progress. */
class ByteCounter extends Transform {
  bytes = 0;
  constructor(readonly onBytes: (total: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    done(null, chunk);
  }
}

/** A temporary name beside `target`, in the same directory. */
export function temporarySibling(target: string, tag: string): string {
  return join(dirname(target), `.${basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Flushes a file or directory to disk (a rename is durable only once its directory is). */
async function fsyncPath(path: string): Promise<void> {
  const handle = await fs.open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `manifest` and the files it lists (found in `stagingDir`) as a gzip'd tar at
 * `output`; returns the archive's size in bytes.
 */
export async function writeArchive(stagingDir: string, manifest: BackupManifest, output: string, progress: Progress = SILENT_PROGRESS): Promise<number> {
  await fs.writeFile(join(stagingDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  const temporary = temporarySibling(output, 'partial');
  const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
  progress.phase(`archive ${basename(output)}`, total, 'bytes');
  try {
    const tarStream = tarCreate({ cwd: stagingDir, portable: true, noDirRecurse: true }, [MANIFEST_FILE, ...manifest.files.map((f) => f.name)]);
    await pipeline(tarStream as unknown as NodeJS.ReadableStream, new ByteCounter((n) => progress.update(n)), createGzip({ level: 6 }), createWriteStream(temporary, { mode: 0o600 }));
    await fsyncPath(temporary);
    await fs.rename(temporary, output);
    await fsyncPath(dirname(output));
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
  progress.end();
  return (await fs.stat(output)).size;
}

/** An archive that cannot be restored; the message names the archive and the file. */
export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

/** Reads the manifest and checks the entries against it, without extracting anything. */
export async function readManifest(archive: string): Promise<BackupManifest> {
  let manifestText: string | undefined;
  const entries = new Map<string, { type: string; size: number }>();
  let problem: string | undefined;
  const onReadEntry = (entry: ReadEntry): void => {
    const name = entry.path;
    if (entries.has(name)) problem ??= `entry ${name} appears twice`;
    entries.set(name, { type: entry.type, size: entry.size });
    if (name !== MANIFEST_FILE) {
      entry.resume();
      return;
    }
    if (entries.size !== 1) problem ??= `${MANIFEST_FILE} is not the first entry`;
    if (entry.size > MAX_MANIFEST_BYTES) {
      problem ??= `${MANIFEST_FILE} is ${entry.size} bytes, more than ${MAX_MANIFEST_BYTES}`;
      entry.resume();
      return;
    }
    const parts: Buffer[] = [];
    entry.on('data', (d: Buffer) => parts.push(d));
    entry.on('end', () => {
      manifestText = Buffer.concat(parts).toString('utf8');
    });
  };
  try {
    await tarList({ file: archive, strict: true, onReadEntry });
  } catch (err) {
    throw new ArchiveError(`${archive} is not a readable backup archive (corrupted or truncated?): ${(err as Error).message}`);
  }
  if (problem !== undefined) throw new ArchiveError(`${archive}: ${problem}`);
  if (manifestText === undefined) throw new ArchiveError(`${archive} has no ${MANIFEST_FILE}: not an EMMS backup`);
  const manifest = parseManifest(manifestText, archive);
  const listed = new Map(manifest.files.map((f) => [f.name, f]));
  for (const [name, entry] of entries) {
    if (name === MANIFEST_FILE) continue;
    const file = listed.get(name);
    if (file === undefined) throw new ArchiveError(`${archive}: entry ${name} is not listed in ${MANIFEST_FILE}`);
    if (entry.type !== 'File') throw new ArchiveError(`${archive}: entry ${name} is a ${entry.type}, not a regular file`);
    if (entry.size !== file.bytes) throw new ArchiveError(`${archive}: ${name} is ${entry.size} bytes, ${MANIFEST_FILE} says ${file.bytes}: the archive is corrupted`);
  }
  for (const f of manifest.files) if (!entries.has(f.name)) throw new ArchiveError(`${archive} lacks ${f.name}, which ${MANIFEST_FILE} lists`);
  return manifest;
}

/**
 * Extracts the files of a checked manifest into `stagingDir` (empty, private) and verifies
 * every checksum; throws ArchiveError naming the first file that does not match.
 */
export async function extractVerified(archive: string, manifest: BackupManifest, stagingDir: string, progress: Progress = SILENT_PROGRESS): Promise<void> {
  const allowed = new Set(manifest.files.map((f) => f.name));
  const size = (await fs.stat(archive)).size;
  progress.phase(`extract ${basename(archive)}`, size, 'bytes');
  try {
    await pipeline(
      createReadStream(archive),
      new ByteCounter((n) => progress.update(n)),
      createGunzip(),
      tarExtract({ cwd: stagingDir, strict: true, preserveOwner: false, filter: (path) => allowed.has(path) }) as unknown as NodeJS.WritableStream,
    );
  } catch (err) {
    throw new ArchiveError(`${archive} is not a readable backup archive (corrupted or truncated?): ${(err as Error).message}`);
  }
  progress.end();
  const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
  progress.phase('verify checksums', total, 'bytes');
  let done = 0;
  for (const f of manifest.files) {
    const path = join(stagingDir, f.name);
    let got: { sha256: string; bytes: number };
    try {
      got = await hashFile(path);
    } catch {
      throw new ArchiveError(`${archive} lacks ${f.name}, which ${MANIFEST_FILE} lists`);
    }
    if (got.sha256 !== f.sha256 || got.bytes !== f.bytes) {
      throw new ArchiveError(`${archive}: checksum mismatch for ${f.name} (sha256 ${got.sha256}, manifest says ${f.sha256}): the archive is corrupted; nothing was restored`);
    }
    await fs.chmod(path, 0o600);
    done += f.bytes;
    progress.update(done);
  }
  progress.end();
}
