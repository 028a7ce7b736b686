/**
 * The maintenance commands against a running server: `emms backup|cleanup|compact|reindex
 * --url`. Operator only (they act on every tenant's data, or on the whole store's files).
 *
 * Tenant scope follows the route contract: never a tenant from the body or the query. A
 * request acts on the whole store unless `scope=tenant`, which selects the request's tenant,
 * the one an operator names in the `X-Emms-Tenant` header.
 *
 * The backup route answers with the archive's bytes. The route contract has no streamed
 * bodies, so the archive is built in a private temporary directory and held in memory while it
 * is sent: 9.6 MB for the 24 h TSBS set (8.64M points) once chunks are packed, 29 MB right
 * after ingest while write-ahead records are still in the file (bench/backup.bench.ts).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpError, tenantOf, type HttpRequest, type RouteDefinition, type RouteSchema } from '../http/route.js';
import type { MaintainableStorage } from '../model/maintainable_storage.js';
import { createBackup } from './backup.js';
import { parseAge, runCleanup } from './cleanup.js';
import { runCompact } from './compact.js';
import { runReindex } from './reindex.js';
import { MaintenanceBusyError, type MaintenanceLock } from './maintenance_lock.js';

export interface MaintenanceRouteDeps {
  dataDir: string;
  /** The running engine's store; undefined while it is stopped (routes answer 503). */
  storage: () => MaintainableStorage | undefined;
  /** Shared with the backup schedule. */
  lock: MaintenanceLock;
}

/** Runs under the server's maintenance lock; another operation running is a 409. */
async function exclusive<T>(lock: MaintenanceLock, name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await lock.run(name, run);
  } catch (err) {
    if (err instanceof MaintenanceBusyError) throw new HttpError(409, err.message);
    throw err;
  }
}

function storageOf(deps: MaintenanceRouteDeps): MaintainableStorage {
  const storage = deps.storage();
  if (storage === undefined) throw new HttpError(503, 'storage is not running');
  return storage;
}

/** The tenant of a `scope=tenant` request, undefined for the whole store; 400 for another scope. */
function scopeOf(req: HttpRequest): string | undefined {
  const scope = req.query.get('scope');
  if (scope === null || scope === '' || scope === 'all') return undefined;
  if (scope === 'tenant') return tenantOf(req);
  throw new HttpError(400, `scope=${JSON.stringify(scope.slice(0, 40))} must be all or tenant`, { error: 'invalid scope', parameter: 'scope' });
}

const SCOPE_PARAMETER = {
  scope: { description: 'all (default): the whole store; tenant: the request\'s tenant only (X-Emms-Tenant header)', schema: { type: 'string', enum: ['all', 'tenant'] } },
} as const;

const USAGE_SCHEMA = {
  type: 'object',
  required: ['series', 'points', 'chunks', 'bytes'],
  properties: { series: { type: 'integer' }, points: { type: 'integer' }, chunks: { type: 'integer' }, bytes: { type: 'integer' } },
} as const;

function reportSchema(summary: string, outcome: Record<string, unknown>, extra: Partial<RouteSchema> = {}): RouteSchema {
  return {
    summary,
    tag: 'maintenance',
    ...extra,
    responses: {
      200: {
        description: 'Usage before and after, and what the operation did',
        schema: {
          type: 'object',
          required: ['operation', 'before', 'after', 'outcome', 'duration_ms'],
          properties: { operation: { type: 'string' }, tenant: { type: 'string' }, before: USAGE_SCHEMA, after: USAGE_SCHEMA, outcome: { type: 'object', properties: outcome }, duration_ms: { type: 'integer' } },
        },
      },
      400: { description: 'A parameter is invalid; `parameter` names it' },
      409: { description: 'Another maintenance operation is running' },
      503: { description: 'Storage is not running' },
    },
  };
}

function reportBody(r: { operation: string; tenant?: string | undefined; before: object; after: object; outcome: object; durationMs: number }): Record<string, unknown> {
  return { operation: r.operation, ...(r.tenant === undefined ? {} : { tenant: r.tenant }), before: r.before, after: r.after, outcome: r.outcome, duration_ms: r.durationMs };
}

export function maintenanceRoutes(deps: MaintenanceRouteDeps): RouteDefinition[] {
  return [
    {
      method: 'POST',
      pattern: '/api/v1/admin/backup',
      access: 'operator',
      schema: {
        summary: 'A consistent backup archive (tar.gz with a manifest of SHA-256 checksums) of the running server, taken while ingest continues',
        tag: 'maintenance',
        query: SCOPE_PARAMETER,
        responses: {
          200: { description: 'The archive; header X-Emms-Backup-Sha256 carries its SHA-256, for the client to check the download', contentType: 'application/gzip', schema: { type: 'string', format: 'binary' } },
          400: { description: 'A parameter is invalid; `parameter` names it' },
          409: { description: 'Another maintenance operation is running' },
          503: { description: 'Storage is not running' },
        },
      },
      handler: async (req) => {
        const tenant = scopeOf(req);
        const storage = storageOf(deps);
        return exclusive(deps.lock, 'a backup', async () => {
          const dir = mkdtempSync(join(tmpdir(), 'emms-backup-'));
          try {
            const result = await createBackup({ dataDir: deps.dataDir, output: join(dir, 'backup.tar.gz'), storage, tenant });
            const bytes = await fs.readFile(result.output);
            const name = `emms-backup-${result.manifest.created_at.replace(/[:.]/g, '-')}${tenant === undefined ? '' : `-${tenant}`}.tar.gz`;
            return {
              body: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
              contentType: 'application/gzip',
              headers: { 'content-disposition': `attachment; filename="${name}"`, 'x-emms-backup-sha256': createHash('sha256').update(bytes).digest('hex') },
            };
          } finally {
            await fs.rm(dir, { recursive: true, force: true });
          }
        });
      },
    },
    {
      method: 'POST',
      pattern: '/api/v1/admin/cleanup',
      access: 'operator',
      schema: reportSchema(
        'Deletes every point older than an age (of the whole store, or of the request\'s tenant)',
        { cutoff: { type: 'string' }, pointsDeleted: { type: 'integer' }, chunksDeleted: { type: 'integer' }, chunksRewritten: { type: 'integer' } },
        {
          query: {
            ...SCOPE_PARAMETER,
            older_than: { description: 'Age: a count and a unit (s, m, h, d, w), e.g. 90d', schema: { type: 'string', pattern: '^[0-9]{1,12}[smhdw]$' }, required: true },
          },
        },
      ),
      handler: async (req) => {
        const tenant = scopeOf(req);
        const raw = req.query.get('older_than');
        if (raw === null) throw new HttpError(400, 'older_than is required (e.g. 90d)', { error: 'older_than is required', parameter: 'older_than' });
        let ageMs: number;
        try {
          ageMs = parseAge(raw.slice(0, 40), 'older_than');
        } catch (err) {
          throw new HttpError(400, (err as Error).message, { error: (err as Error).message, parameter: 'older_than' });
        }
        const storage = storageOf(deps);
        return { body: reportBody(await exclusive(deps.lock, 'a cleanup', () => runCleanup(storage, ageMs, tenant))) };
      },
    },
    {
      method: 'POST',
      pattern: '/api/v1/admin/compact',
      access: 'operator',
      schema: reportSchema('Merges small and overlapping chunks and returns free pages to the file system', {}),
      handler: async () => {
        const storage = storageOf(deps);
        return { body: reportBody(await exclusive(deps.lock, 'a compaction', () => runCompact(storage))) };
      },
    },
    {
      method: 'POST',
      pattern: '/api/v1/admin/reindex',
      access: 'operator',
      schema: reportSchema('Rebuilds the store\'s indexes and chunk catalogue; deletes chunks of series that do not exist', {
        series: { type: 'integer' }, chunks: { type: 'integer' }, orphanChunksDeleted: { type: 'integer' },
      }),
      handler: async () => {
        const storage = storageOf(deps);
        return { body: reportBody(await exclusive(deps.lock, 'a reindex', () => runReindex(storage))) };
      },
    },
  ];
}
