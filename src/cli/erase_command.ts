/**
 * `emms erase`: the erasure requests of src/maintenance/erasure_routes.ts from the command line,
 * on a running server (`--url`, through the API, so the server's audit log records them) or on
 * a stopped data directory (`--data`: the same engine code, and an audit record appended by
 * the command). Prints what was (or, with --dry-run, would be) deleted, and that backups taken
 * before still hold the data.
 */
import { parseArgs } from 'node:util';
import { eraseAlertHistoryNaming } from '../alerts/alert_history_erasure.js';
import { AuditTrail } from '../audit/audit_trail.js';
import { eraseKeyEventsNaming } from '../keys/key_event_erasure.js';
import { BACKUP_NOTICE, selectionOf, subjectReference } from '../maintenance/erasure_routes.js';
import { TARGET_OPTIONS, TARGET_USAGE, UsageError, processIo, runCommand, targetOf, type CommandIo } from '../maintenance/command_target.js';
import type { RemoteServer } from '../maintenance/admin_client.js';
import { DEFAULT_TENANT } from '../model/tenant.js';
import { StoreMaintenance, openStoppedStore } from '../storage/store_maintenance.js';

const USAGE = `Usage: emms erase (--match GLOB [--tag K=V]... [--start T] [--end T] | --subject K=V) [--dry-run]
                  [--tenant T] (--data DIR | --url URL --token-file F)

Deletes points durably and rewrites the files so that the erased bytes are in none of them.

  --match GLOB        metric ids to delete (a glob; * for every one)
  --tag K=V           only series whose tag K is V (repeatable)
  --start T, --end T  only points in [T, END) (epoch ms, ISO-8601 or now-1h)
  --subject K=V       a data subject: every series with tag K = V, and the key events and
                      alert history naming V (the audit log records K, never V)
  --dry-run           show what would go (with --match), changing nothing
  --tenant T          the tenant (default: default)
${TARGET_USAGE}`;

function pair(text: string, option: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`${option} ${JSON.stringify(text.slice(0, 80))} must be KEY=VALUE`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

async function call(server: RemoteServer, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { authorization: `Bearer ${server.token}` };
  if (server.tenant !== undefined) headers['x-emms-tenant'] = server.tenant;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${new URL(server.url).origin}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${new URL(server.url).origin} answered ${res.status}: ${String(answer.error ?? '')}`);
  return answer;
}

export async function runEraseCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runCommand('erase', USAGE, io, async () => {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          ...TARGET_OPTIONS, match: { type: 'string' }, tag: { type: 'string', multiple: true }, start: { type: 'string' }, end: { type: 'string' },
          subject: { type: 'string' }, 'dry-run': { type: 'boolean' },
        },
        strict: true,
      }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.help === true) {
      io.stdout(`${USAGE}\n`);
      return;
    }
    if ((values.match === undefined) === (values.subject === undefined)) throw new UsageError('give either --match GLOB or --subject K=V');
    if (values.subject !== undefined && values['dry-run'] === true) throw new UsageError('--dry-run goes with --match');
    const query = new URLSearchParams();
    if (values.match !== undefined) query.set('match', values.match);
    for (const t of values.tag ?? []) query.set(`tag.${pair(t, '--tag')[0]}`, pair(t, '--tag')[1]);
    if (values.start !== undefined) query.set('start_time', values.start);
    if (values.end !== undefined) query.set('end_time', values.end);
    if (values.subject !== undefined) pair(values.subject, '--subject');
    const target = targetOf(values);
    const tenant = values.tenant ?? DEFAULT_TENANT;
    let answer: Record<string, unknown>;
    if (target.kind === 'server') {
      const server = { ...target.server, tenant };
      if (values.subject !== undefined) {
        const [tagKey, value] = pair(values.subject, '--subject');
        answer = await call(server, 'POST', '/api/v1/erasure', { tag_key: tagKey, value });
      } else {
        answer = await call(server, values['dry-run'] === true ? 'GET' : 'DELETE', `/api/v1/series${values['dry-run'] === true ? '/deletion-preview' : ''}?${query}`);
      }
    } else {
      answer = await onStopped(target.dataDir, tenant, values.subject, query, values['dry-run'] === true);
    }
    io.stdout(`${JSON.stringify(answer, null, 2)}\n`);
    if (values['dry-run'] !== true) io.stderr(`${BACKUP_NOTICE}\n`);
  });
}

/** The same requests on a stopped data directory. */
async function onStopped(dataDir: string, tenant: string, subject: string | undefined, query: URLSearchParams, dryRun: boolean): Promise<Record<string, unknown>> {
  const store = await openStoppedStore(dataDir);
  try {
    const storage = new StoreMaintenance(store);
    if (subject === undefined) {
      let selection;
      try {
        selection = selectionOf(query, true);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (dryRun) return { ...(await storage.previewErasure(tenant, selection)) };
      const outcome = await storage.erase(tenant, selection);
      record(dataDir, tenant, 'series.delete', `match=${selection.metricPattern.slice(0, 120)}`, { series: outcome.series, points: outcome.pointsDeleted });
      return { ...outcome, backups: BACKUP_NOTICE };
    }
    const [tagKey, value] = pair(subject, '--subject');
    const outcome = await storage.erase(tenant, { metricPattern: '*', tags: { [tagKey]: value } });
    const keyEvents = eraseKeyEventsNaming(dataDir, tenant, value);
    const alerts = eraseAlertHistoryNaming(dataDir, tenant, value);
    const reference = subjectReference(dataDir, tagKey, value);
    record(dataDir, tenant, 'erasure.subject', `tag_key=${tagKey}`, { reference, series: outcome.series, points: outcome.pointsDeleted, key_events: keyEvents, alert_history: alerts.historyEvents });
    return { ...outcome, key_events_deleted: keyEvents, alert_history_deleted: alerts.historyEvents, remediation_entries_deleted: alerts.remediationEntries, reference, backups: BACKUP_NOTICE };
  } finally {
    await store.close();
  }
}

function record(dataDir: string, tenant: string, action: string, target: string, detail: Record<string, string | number>): void {
  const trail = AuditTrail.openWithoutCheckpoints(dataDir);
  try {
    trail.record({ actor: 'cli:erase', tenant, source: '', requestId: '', action, target, outcome: 'ok', detail });
  } finally {
    trail.close();
  }
}

export const run = (argv: string[]): Promise<number> => runEraseCommand(argv);
