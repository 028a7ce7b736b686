/**
 * What cleanup, compact and reindex print: the store's usage before and after, and what the
 * operation did; and how they run on a stopped data directory (open the store, operate,
 * close: closing flushes, compacts and vacuums the file, so the bytes after are measured then).
 */
import type { MaintainableStorage, StorageUsage } from '../model/maintainable_storage.js';
import { openCommandEncryption } from '../crypto/command_encryption.js';
import { StoreMaintenance, openStoppedStore } from '../storage/store_maintenance.js';
import { databaseFileBytes } from '../storage/sqlite/sqlite_backend.js';

export interface OperationReport<Outcome> {
  operation: 'cleanup' | 'compact' | 'reindex';
  /** Tenant the usage figures describe; undefined = the whole store. */
  tenant?: string | undefined;
  before: StorageUsage;
  after: StorageUsage;
  outcome: Outcome;
  durationMs: number;
}

/** Runs `operate` between two usage readings. */
export async function measured<Outcome>(
  operation: OperationReport<Outcome>['operation'],
  storage: MaintainableStorage,
  tenant: string | undefined,
  operate: () => Promise<Outcome>,
): Promise<OperationReport<Outcome>> {
  const started = Date.now();
  const before = await storage.usage(tenant);
  const outcome = await operate();
  const after = await storage.usage(tenant);
  return { operation, tenant, before, after, outcome, durationMs: Date.now() - started };
}

/** Opens the stopped data directory's store, runs `run` on it, closes it. */
export async function onStoppedDirectory<Outcome>(
  dataDir: string,
  run: (storage: MaintainableStorage) => Promise<OperationReport<Outcome>>,
): Promise<OperationReport<Outcome>> {
  // An encrypted directory opens with the master key of EMMS_ENCRYPTION_KEY_FILE.
  await openCommandEncryption(dataDir);
  const store = await openStoppedStore(dataDir);
  let report: OperationReport<Outcome>;
  try {
    report = await run(new StoreMaintenance(store));
  } finally {
    await store.close();
  }
  report.after = { ...report.after, bytes: databaseFileBytes(store.location) };
  return report;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** Human-readable lines: before, after, and the operation's own figures. */
export function formatReport(report: OperationReport<object>): string {
  const scope = report.tenant === undefined ? 'all tenants' : `tenant ${report.tenant}`;
  const row = (label: string, u: StorageUsage): string => `${label.padEnd(7)} series ${u.series}, points ${u.points}, chunks ${u.chunks}, ${mb(u.bytes)} on disk`;
  const details = Object.entries(report.outcome).map(([k, v]) => `${k.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)} ${String(v)}`).join(', ');
  return [
    `${report.operation} (${scope}):`,
    row('before', report.before),
    row('after', report.after),
    ...(details === '' ? [] : [`done: ${details}`]),
    `took ${(report.durationMs / 1000).toFixed(2)} s`,
  ].join('\n');
}
