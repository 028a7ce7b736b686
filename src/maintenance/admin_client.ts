/**
 * The maintenance commands' client for a running server (`--url URL --token-file F`): calls
 * the operator routes of maintenance_routes.ts. The token is read from a file, never from the
 * command line (where `ps` would show it), and is never printed.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageUsage } from '../model/maintainable_storage.js';
import { readManifest, temporarySibling } from './archive_file.js';
import type { BackupManifest } from './archive_manifest.js';
import type { OperationReport } from './operation_report.js';
import { SILENT_PROGRESS, type Progress } from './progress.js';

export interface RemoteServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  token: string;
  /** Sent as X-Emms-Tenant: the tenant a `scope=tenant` request acts on. */
  tenant?: string | undefined;
}

const MAX_TOKEN_FILE_BYTES = 4096;
/** Longest a maintenance request may take (a compaction of a large store takes minutes). */
const REQUEST_TIMEOUT_MS = 60 * 60_000;

/** The token in `path` (first line, trimmed); throws naming the file, never showing the token. */
export function readTokenFile(path: string): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new Error(`--token-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size > MAX_TOKEN_FILE_BYTES) throw new Error(`--token-file ${path} is ${size} bytes: not a token file`);
  const token = readFileSync(path, 'utf8').split('\n')[0]!.trim();
  if (token === '') throw new Error(`--token-file ${path} is empty`);
  return token;
}

function base(server: RemoteServer): string {
  let url: URL;
  try {
    url = new URL(server.url);
  } catch {
    throw new Error(`--url ${JSON.stringify(server.url)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--url ${JSON.stringify(server.url)} must be http: or https:`);
  return url.origin;
}

async function post(server: RemoteServer, path: string, query: Record<string, string>): Promise<Response> {
  const qs = new URLSearchParams(query).toString();
  const headers: Record<string, string> = { authorization: `Bearer ${server.token}` };
  if (server.tenant !== undefined) headers['x-emms-tenant'] = server.tenant;
  let res: Response;
  try {
    res = await fetch(`${base(server)}${path}${qs === '' ? '' : `?${qs}`}`, { method: 'POST', headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new Error(`${base(server)}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`);
  }
  if (!res.ok) {
    const text = (await res.text()).slice(0, 500);
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // Not JSON: shown as it came.
    }
    throw new Error(`${base(server)} answered ${res.status}: ${message}`);
  }
  return res;
}

interface ReportBody {
  operation: OperationReport<object>['operation'];
  tenant?: string;
  before: StorageUsage;
  after: StorageUsage;
  outcome: Record<string, unknown>;
  duration_ms: number;
}

/** Runs cleanup, compact or reindex on the server; returns its report. */
export async function remoteOperation(server: RemoteServer, operation: 'cleanup' | 'compact' | 'reindex', query: Record<string, string> = {}): Promise<OperationReport<Record<string, unknown>>> {
  const body = (await (await post(server, `/api/v1/admin/${operation}`, query)).json()) as ReportBody;
  return { operation: body.operation, tenant: body.tenant, before: body.before, after: body.after, outcome: body.outcome, durationMs: body.duration_ms };
}

/** Checks the SHA-256 of the bytes flowing through against the server's. */
class Sha256Meter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    done(null, chunk);
  }
}

/**
 * Downloads a backup of the server into `output` (temporary file beside it, renamed when the
 * download's checksum and the archive's manifest check out).
 */
export async function remoteBackup(server: RemoteServer, output: string, tenantOnly: boolean, progress: Progress = SILENT_PROGRESS): Promise<{ bytes: number; manifest: BackupManifest }> {
  progress.phase('server snapshot', 1, 'files');
  const res = await post(server, '/api/v1/admin/backup', tenantOnly ? { scope: 'tenant' } : {});
  progress.end();
  if (res.body === null) throw new Error(`${base(server)} sent no archive`);
  const expected = res.headers.get('x-emms-backup-sha256');
  const length = Number(res.headers.get('content-length') ?? 0);
  await fs.mkdir(dirname(output), { recursive: true });
  const temporary = temporarySibling(output, 'download');
  progress.phase('download', length, 'bytes');
  const meter = new Sha256Meter((n) => progress.update(n));
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), meter, createWriteStream(temporary, { mode: 0o600 }));
    const got = meter.hash.digest('hex');
    if (expected !== null && got !== expected) throw new Error(`download of the backup was damaged (sha256 ${got}, server says ${expected})`);
    const manifest = await readManifest(temporary);
    await fs.rename(temporary, output);
    progress.end();
    return { bytes: meter.bytes, manifest };
  } catch (err) {
    await fs.rm(temporary, { force: true });
    throw err;
  }
}
