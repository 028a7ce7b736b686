/**
 * The manifest of a backup archive (`manifest.json`, the archive's first entry): what wrote
 * it, what it holds, and the SHA-256 of every other file, so that a restore can verify the
 * whole archive before it touches the target.
 *
 * A manifest is read from an untrusted file: every field is checked, file names are plain
 * names (no directories, no `..`), and the number of files is bounded, so a crafted archive
 * cannot write outside the restore's staging directory or make it loop.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export const ARCHIVE_FORMAT = 'emms-backup';
/** Bump when the layout changes; restore refuses versions it does not know. */
export const ARCHIVE_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
/** Largest manifest accepted (a few hundred bytes per file). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_FILES = 256;
/** A data-directory file name: what backup writes, nothing a path could hide in. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const TENANT_MAX = 256;

export interface ManifestFile {
  /** File name inside the data directory and the archive. */
  name: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof ARCHIVE_FORMAT;
  format_version: number;
  /** ISO-8601 time the snapshot was taken. */
  created_at: string;
  /** `emms` version that wrote it. */
  source_version: string;
  /** Storage back-end of the metrics data (`sqlite`). */
  backend: string;
  /** The tenant of a `--tenant` backup; null for the whole data directory. */
  tenant: string | null;
  /** Tenants with data in the archive. */
  tenants: string[];
  /**
   * Encryption at rest of the stored data: `on` when the databases and the audit log are
   * encrypted, as in the data directory, under the data keys of the archive's keyring.json,
   * which only the directory's master key unwraps (docs/format/encryption.md).
   */
  encryption: 'off' | 'on';
  /** Series of the metrics store in the archive. */
  series: number;
  files: ManifestFile[];
}

/** SHA-256 (hex) and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export class ManifestError extends Error {
  constructor(archive: string, detail: string) {
    super(`${archive}: ${detail}`);
    this.name = 'ManifestError';
  }
}

/** Parses and checks a manifest's text; `archive` names the archive in errors. */
export function parseManifest(text: string, archive: string): BackupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(archive, `${MANIFEST_FILE} is not JSON: ${(err as Error).message}`);
  }
  const fail = (field: string, value: unknown, want: string): never => {
    throw new ManifestError(archive, `${MANIFEST_FILE} field ${field}=${JSON.stringify(value)?.slice(0, 80)} ${want}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('(root)', raw, 'must be an object');
  const m = raw as Record<string, unknown>;
  if (m.format !== ARCHIVE_FORMAT) fail('format', m.format, `must be "${ARCHIVE_FORMAT}" (not an EMMS backup)`);
  if (typeof m.format_version !== 'number' || !Number.isInteger(m.format_version) || m.format_version < 1) fail('format_version', m.format_version, 'must be a positive integer');
  if ((m.format_version as number) > ARCHIVE_FORMAT_VERSION) {
    fail('format_version', m.format_version, `is newer than this build reads (${ARCHIVE_FORMAT_VERSION}); restore with a newer emms`);
  }
  if (typeof m.created_at !== 'string' || Number.isNaN(Date.parse(m.created_at))) fail('created_at', m.created_at, 'must be an ISO-8601 time');
  if (typeof m.source_version !== 'string' || m.source_version.length > 64) fail('source_version', m.source_version, 'must be a version string');
  if (typeof m.backend !== 'string' || m.backend.length > 32) fail('backend', m.backend, 'must be a back-end name');
  if (m.tenant !== null && (typeof m.tenant !== 'string' || m.tenant.length > TENANT_MAX)) fail('tenant', m.tenant, 'must be null or a tenant name');
  if (!Array.isArray(m.tenants) || m.tenants.length > 1_000_000 || !m.tenants.every((t) => typeof t === 'string' && t.length <= TENANT_MAX)) fail('tenants', m.tenants, 'must be a list of tenant names');
  if (m.encryption !== 'off' && m.encryption !== 'on') fail('encryption', m.encryption, 'must be "off" or "on"');
  if (typeof m.series !== 'number' || !Number.isInteger(m.series) || m.series < 0) fail('series', m.series, 'must be a count');
  if (!Array.isArray(m.files) || m.files.length === 0 || m.files.length > MAX_FILES) fail('files', m.files, `must list 1 to ${MAX_FILES} files`);
  const names = new Set<string>();
  for (const [i, f] of (m.files as unknown[]).entries()) {
    const file = f as Record<string, unknown>;
    if (typeof f !== 'object' || f === null) fail(`files[${i}]`, f, 'must be an object');
    if (typeof file.name !== 'string' || !FILE_NAME.test(file.name) || file.name === MANIFEST_FILE) fail(`files[${i}].name`, file.name, 'must be a plain file name');
    if (names.has(file.name as string)) fail(`files[${i}].name`, file.name, 'is listed twice');
    names.add(file.name as string);
    if (typeof file.bytes !== 'number' || !Number.isSafeInteger(file.bytes) || file.bytes < 0) fail(`files[${i}].bytes`, file.bytes, 'must be a byte count');
    if (typeof file.sha256 !== 'string' || !SHA256_HEX.test(file.sha256)) fail(`files[${i}].sha256`, file.sha256, 'must be 64 lower-case hex digits');
  }
  return m as unknown as BackupManifest;
}
