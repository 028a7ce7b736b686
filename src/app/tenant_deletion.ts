/**
 * `DELETE /api/v1/tenants/:tenant` (operator): removes a tenant and everything it holds.
 *
 * Here, in the composition root, because it is the one place that knows every feature a
 * tenant has state in. Order matters:
 *   1. its API keys are revoked (open streams of those keys close, no new write arrives);
 *   2. each running feature forgets the tenant's in-memory state (probe targets, alert rules,
 *      channels and blocks, key inventory), so that nothing writes it back;
 *   3. the files: every series and point (src/storage/point_erasure.ts, scrubbed), every row
 *      of keys.db and alerts.db of the tenant (VACUUMed), then the registry row and the
 *      revoked API keys in auth.db.
 * A kill half-way leaves a tenant without keys and with part of its data: the same request
 * again finishes the job (every step finds what is left).
 *
 * `default` cannot be deleted: it holds the server's own series and the operator's key.
 * Not covered: remote-write queue entries (the forwarding queue has no tenant column: they are
 * forwarded or expire with the queue) and backups taken before (the answer says so).
 */
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Alerting } from '../alerts/alerting.js';
import { eraseTenantAlerting } from '../alerts/alert_history_erasure.js';
import type { AuthModule } from '../auth/auth_module.js';
import { AUTH_DB_FILE } from '../auth/auth_schema.js';
import { HttpError, TENANT_NAME_PATTERN, type RouteDefinition } from '../http/route.js';
import type { KeyService } from '../keys/key_service.js';
import { eraseTenantKeyEvents } from '../keys/key_event_erasure.js';
import { BACKUP_NOTICE } from '../maintenance/erasure_routes.js';
import { MaintenanceBusyError, type MaintenanceLock } from '../maintenance/maintenance_lock.js';
import type { MaintainableStorage } from '../model/maintainable_storage.js';
import { DEFAULT_TENANT } from '../model/tenant.js';
import type { ProbeMonitor } from '../probes/probe_monitor.js';
import { PROBE_DB_FILE } from '../probes/probe_schema.js';

export interface TenantDeletionDeps {
  dataDir: string;
  auth: Pick<AuthModule, 'apiKeys' | 'tenants'>;
  keys: KeyService;
  alerting: Alerting;
  probes: ProbeMonitor;
  storage: () => MaintainableStorage | undefined;
  lock: MaintenanceLock;
}

export interface TenantDeletionOutcome {
  tenant: string;
  api_keys_deleted: number;
  series_deleted: number;
  points_deleted: number;
  keys_deleted: number;
  key_rows_deleted: number;
  alert_rules_deleted: number;
  alerting_rows_deleted: number;
  probe_targets_deleted: number;
  backups: string;
}

/** Deletes a tenant's credentials, in-memory state and every row and point it has (see the file comment). */
export async function deleteTenant(deps: TenantDeletionDeps, tenant: string): Promise<TenantDeletionOutcome> {
  const storage = deps.storage();
  if (storage?.erase === undefined) throw new HttpError(503, 'storage is not running');
  for (const key of deps.auth.apiKeys.list({ tenant })) if (key.revokedAt === undefined) deps.auth.apiKeys.revoke(key.keyId);
  const targets = deps.probes.listTargets(tenant);
  for (const t of targets) deps.probes.removeTarget(tenant, t.target_id);
  const rules = deps.alerting.listRules(tenant);
  for (const r of rules) deps.alerting.deleteRule(tenant, r.rule_id);
  for (const c of deps.alerting.listChannels(tenant)) deps.alerting.deleteChannel(tenant, c.id as string);
  for (const b of deps.alerting.listBlockedIps(tenant)) deps.alerting.unblockIp(tenant, b.ip);
  const keys = deps.keys.forTenant(tenant).forgetTenant();
  const erased = await storage.erase(tenant, { metricPattern: '*' });
  const keyRows = eraseTenantKeyEvents(deps.dataDir, tenant);
  const alertingRows = eraseTenantAlerting(deps.dataDir, tenant);
  const apiKeys = deps.auth.tenants.remove(tenant);
  // Their owners deleted the rows through their own connections, without rewriting the files.
  for (const file of [AUTH_DB_FILE, PROBE_DB_FILE]) rewriteFile(join(deps.dataDir, file));
  return {
    tenant, api_keys_deleted: apiKeys, series_deleted: erased.seriesRemoved, points_deleted: erased.pointsDeleted, keys_deleted: keys,
    key_rows_deleted: keyRows, alert_rules_deleted: rules.length, alerting_rows_deleted: alertingRows, probe_targets_deleted: targets.length, backups: BACKUP_NOTICE,
  };
}

export function tenantDeletionRoutes(deps: TenantDeletionDeps): RouteDefinition[] {
  const integer = { type: 'integer' } as const;
  return [
    {
      method: 'DELETE', pattern: '/api/v1/tenants/:tenant', access: 'operator',
      schema: {
        summary: 'Deletes a tenant: its API keys, series and points, key inventory and events, alert rules, state and history, probe targets',
        description: 'The tenant `default` cannot be deleted. Backups taken before still hold the data.',
        tag: 'tenants',
        params: { tenant: { description: 'The tenant to delete', schema: { type: 'string', pattern: TENANT_NAME_PATTERN.source } } },
        responses: {
          200: {
            description: 'What was deleted',
            contentType: 'application/json',
            schema: {
              type: 'object',
              required: ['tenant', 'api_keys_deleted', 'series_deleted', 'points_deleted', 'backups'],
              properties: {
                tenant: { type: 'string' }, api_keys_deleted: integer, series_deleted: integer, points_deleted: integer, keys_deleted: integer,
                key_rows_deleted: integer, alert_rules_deleted: integer, alerting_rows_deleted: integer, probe_targets_deleted: integer, backups: { type: 'string' },
              },
            },
          },
          400: { description: 'Not a tenant name, or the tenant `default`' },
          404: { description: 'No such tenant (not registered and without keys or series)' },
          409: { description: 'A maintenance operation (backup, cleanup, compaction, erasure) is running' },
          503: { description: 'Storage is not running' },
        },
      },
      handler: async (req) => {
        const tenant = req.params.tenant ?? '';
        if (!TENANT_NAME_PATTERN.test(tenant)) throw new HttpError(400, `tenant=${JSON.stringify(tenant.slice(0, 80))} must match ${TENANT_NAME_PATTERN.source}`, { error: 'invalid tenant', parameter: 'tenant' });
        if (tenant === DEFAULT_TENANT) throw new HttpError(400, 'the tenant "default" holds the server\'s own series and the operator key; it cannot be deleted', { error: 'default cannot be deleted', parameter: 'tenant' });
        const storage = deps.storage();
        const known = deps.auth.tenants.get(tenant) !== undefined || deps.auth.apiKeys.list({ tenant }).length > 0
          || ((await storage?.previewErasure?.(tenant, { metricPattern: '*' }))?.series.length ?? 0) > 0;
        if (!known) throw new HttpError(404, `tenant ${JSON.stringify(tenant)} not found`);
        try {
          return { body: await deps.lock.run('a tenant deletion', () => deleteTenant(deps, tenant)) };
        } catch (err) {
          if (err instanceof MaintenanceBusyError) throw new HttpError(409, err.message);
          throw err;
        }
      },
    },
  ];
}

/**
 * VACUUM and an emptied -wal file for a feature database whose rows of the tenant were just
 * deleted: the deleted names and endpoints leave free pages and old -wal frames.
 */
function rewriteFile(path: string): void {
  if (!existsSync(path)) return;
  const db = openSqlite(path);
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
