/**
 * Erasure on request (docs/security.md "Erasure"), for a tenant admin over the request's tenant:
 *
 * - `GET /api/v1/series/deletion-preview?match=&tag.<k>=&start_time=&end_time=`: what a
 *   deletion with the same selector would remove (series and point counts), changing nothing.
 *   A path of its own: `GET /api/v1/series` is the listing, and a `dry_run` flag on DELETE
 *   would make a destructive verb's safety depend on spelling one parameter right.
 * - `DELETE /api/v1/series?…`: deletes those points durably (src/storage/point_erasure.ts) and
 *   scrubs the files. `match` is required: deleting everything must be said (`match=*`).
 * - `POST /api/v1/erasure {tag_key, value}`: a data subject. Every series whose tag
 *   `tag_key` is `value`, the key-event records and the alert history naming the value. The
 *   audit record names tag_key and the counts, never the value: it carries an HMAC of it under
 *   the data directory's `erasure.key`, so an operator holding the key can answer "was this
 *   subject erased, when?" without the log holding the subject.
 *
 * Every answer says that backups taken before the erasure still hold the data and that a
 * restore brings it back (no erasure ledger is re-applied; README and docs/security.md).
 */
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { eraseAlertHistoryNaming } from '../alerts/alert_history_erasure.js';
import type { AuditEvent } from '../audit/audit_record.js';
import { openKeyFile } from '../crypto/key_file.js';
import { TIME_FORMAT } from '../http/common_schemas.js';
import { HttpError, principalOf, tenantOf, type HttpRequest, type JsonSchema, type RouteDefinition, type RouteSchema } from '../http/route.js';
import { eraseKeyEventsNaming } from '../keys/key_event_erasure.js';
import { REQUEST_ID_HEADER } from '../logging/request_log.js';
import type { ErasureSelection, MaintainableStorage } from '../model/maintainable_storage.js';
import { describeValue, MAX_TAG_VALUE_CHARS, TAG_KEY_PATTERN } from '../model/metric.js';
import { timeInputMs, isQueryTime } from '../model/time.js';
import { compileGlob } from '../query/selection.js';
import { MaintenanceBusyError, type MaintenanceLock } from './maintenance_lock.js';

export const ERASURE_KEY_FILE = 'erasure.key';

/** Said in every answer and in the CLI's output: erasure cannot reach copies made before it. */
export const BACKUP_NOTICE = 'Backups taken before this erasure still hold the erased data, and restoring one brings it back: '
  + 'delete or re-take those backups (docs/security.md, "Erasure and backups").';

export interface ErasureRouteDeps {
  dataDir: string;
  storage: () => MaintainableStorage | undefined;
  /** Shared with backups and the other maintenance commands: a backup must not copy half an erasure. */
  lock: MaintenanceLock;
  /** Appends to the audit log. */
  audit?: ((event: AuditEvent) => void) | undefined;
  /**
   * The stored form of a field's value under the tenant's `security.anonymize` rules (undefined:
   * the rule drops the field). Absent when no rules are configured. A subject is named by the
   * raw value a person knows; with an `hmac` or `truncate_ip` rule only its stored form is on disk.
   */
  storedFormOf?: ((tenant: string) => ((field: string, value: string) => string | undefined) | undefined) | undefined;
}

/** The values to erase a subject by: the raw value, and its stored form when an anonymization rule rewrites it. */
function subjectForms(deps: ErasureRouteDeps, tenant: string, tagKey: string, value: string): string[] {
  const rewrite = deps.storedFormOf?.(tenant);
  if (rewrite === undefined) return [value];
  const stored = rewrite(tagKey, value);
  return stored === undefined || stored === value ? [value] : [value, stored];
}

function bad(parameter: string, value: unknown, rule: string): never {
  const message = `${parameter}=${describeValue(value)} ${rule}`;
  throw new HttpError(400, message, { error: message, parameter });
}

function storageOf(deps: ErasureRouteDeps): MaintainableStorage & Required<Pick<MaintainableStorage, 'erase' | 'previewErasure'>> {
  const storage = deps.storage();
  if (storage === undefined) throw new HttpError(503, 'storage is not running');
  if (storage.erase === undefined || storage.previewErasure === undefined) throw new HttpError(501, `the ${storage.backend} storage back-end cannot erase points`);
  return storage as MaintainableStorage & Required<Pick<MaintainableStorage, 'erase' | 'previewErasure'>>;
}

function timeParameter(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const ms = timeInputMs(text);
  if (ms === undefined || !isQueryTime(ms)) bad(name, text, 'must be epoch milliseconds, an ISO-8601 time or a relative time such as now-1h');
  return ms;
}

/** The selector of the preview and DELETE routes (the strict parameter check has run). */
export function selectionOf(query: URLSearchParams, matchRequired: boolean): ErasureSelection {
  const match = query.get('match');
  if (match === null && matchRequired) bad('match', undefined, 'is required: name the metric ids to delete (a glob; `*` deletes every series of the selection)');
  const metricPattern = match ?? '*';
  try {
    compileGlob(metricPattern);
  } catch {
    bad('match', metricPattern, 'must be a glob over metric ids (`*` any run, `?` one character) of at most 512 characters');
  }
  let tags: Record<string, string> | undefined;
  for (const [name, value] of query) {
    if (!name.startsWith('tag.')) continue;
    if (name.length === 4) bad(name, value, 'needs a tag key after `tag.`');
    (tags ??= {})[name.slice(4)] = value;
  }
  const startMs = timeParameter(query, 'start_time');
  const endMs = timeParameter(query, 'end_time');
  if (startMs !== undefined && endMs !== undefined && endMs <= startMs) bad('end_time', query.get('end_time'), `must be after start_time=${JSON.stringify(query.get('start_time'))}`);
  return { metricPattern, tags, startMs, endMs };
}

async function exclusive<T>(lock: MaintenanceLock, run: () => Promise<T>): Promise<T> {
  try {
    return await lock.run('an erasure', run);
  } catch (err) {
    if (err instanceof MaintenanceBusyError) throw new HttpError(409, err.message);
    throw err;
  }
}

/** HMAC-SHA256 of a subject under the data directory's erasure key (created on first use), 32 hex digits. */
export function subjectReference(dataDir: string, tagKey: string, value: string): string {
  const key = openKeyFile(join(dataDir, ERASURE_KEY_FILE), { purpose: 'erasure reference', create: true });
  return createHmac('sha256', key).update('emms-erasure-subject\n').update(tagKey).update('\n').update(value).digest('hex').slice(0, 32);
}

function subjectOf(body: unknown): { tagKey: string; value: string } {
  const b = (body ?? {}) as { tag_key?: unknown; value?: unknown };
  if (typeof b.tag_key !== 'string' || !TAG_KEY_PATTERN.test(b.tag_key)) bad('tag_key', b.tag_key, `must be a tag key (${TAG_KEY_PATTERN.source})`);
  // The value is a subject's data: errors never echo it.
  if (typeof b.value !== 'string' || b.value.length === 0 || b.value.length > MAX_TAG_VALUE_CHARS) {
    throw new HttpError(400, `value must be a string of 1 to ${MAX_TAG_VALUE_CHARS} characters`, { error: 'value is invalid', parameter: 'value' });
  }
  return { tagKey: b.tag_key, value: b.value };
}

const ERROR: JsonSchema = { type: 'object', required: ['error'], properties: { error: { type: 'string' }, parameter: { type: 'string' } } };
const SELECTOR_QUERY = {
  match: { description: 'Glob over metric ids (`*` any run, `?` one character); required on DELETE', schema: { type: 'string', maxLength: 512 } },
  'tag.{key}': { description: 'Exact tag filter, repeatable: only series whose tag <key> has this value', schema: { type: 'string' } },
  start_time: { description: 'Earliest point deleted (inclusive); default: the oldest', schema: { type: 'string', format: TIME_FORMAT } },
  end_time: { description: 'End of the range (exclusive, as in queries); default: the newest', schema: { type: 'string', format: TIME_FORMAT } },
} as const;
const SCRUB: JsonSchema = {
  type: 'object',
  properties: { complete: { type: 'boolean' }, duration_ms: { type: 'integer' }, file_bytes_after: { type: 'integer' } },
};
const COMMON_ERRORS = {
  400: { description: 'A parameter is invalid (named in `parameter`)', contentType: 'application/json', schema: ERROR },
  409: { description: 'Another maintenance operation (backup, cleanup, compaction, erasure) is running', contentType: 'application/json', schema: ERROR },
  503: { description: 'Storage is not running', contentType: 'application/json', schema: ERROR },
} as const;

function outcomeBody(o: Awaited<ReturnType<NonNullable<MaintainableStorage['erase']>>>): Record<string, unknown> {
  return {
    series: o.series, points_deleted: o.pointsDeleted, series_removed: o.seriesRemoved, chunks_deleted: o.chunksDeleted, chunks_rewritten: o.chunksRewritten,
    scrub: { complete: o.scrub.complete, duration_ms: o.scrub.durationMs, file_bytes_after: o.scrub.fileBytesAfter },
  };
}

function schema(summary: string, description: string, body: JsonSchema, extra: Partial<RouteSchema> = {}): RouteSchema {
  return { summary, description, tag: 'erasure', ...extra, responses: { 200: { description: 'Success', contentType: 'application/json', schema: body }, ...COMMON_ERRORS } };
}

const DELETION_BODY: JsonSchema = {
  type: 'object',
  required: ['series', 'points_deleted', 'series_removed', 'scrub', 'backups'],
  properties: {
    series: { type: 'integer' }, points_deleted: { type: 'integer' }, series_removed: { type: 'integer' },
    chunks_deleted: { type: 'integer' }, chunks_rewritten: { type: 'integer' }, scrub: SCRUB, backups: { type: 'string' },
  },
};

export function erasureRoutes(deps: ErasureRouteDeps): RouteDefinition[] {
  const audit = (req: HttpRequest, action: string, target: string, detail: Record<string, string | number | boolean>): void => {
    deps.audit?.({ actor: principalOf(req).id, tenant: tenantOf(req), source: req.remoteAddress, requestId: req.headers[REQUEST_ID_HEADER] ?? '', action, target, outcome: 'ok', detail });
  };
  return [
    {
      method: 'GET', pattern: '/api/v1/series/deletion-preview', access: 'admin',
      schema: schema('What DELETE /api/v1/series with the same parameters would remove', 'Changes nothing. Point counts include overwritten duplicates not yet merged by compaction.', {
        type: 'object',
        required: ['series', 'points', 'truncated'],
        properties: {
          series: { type: 'array', items: { type: 'object', properties: { metric_id: { type: 'string' }, tags: { type: 'object', additionalProperties: { type: 'string' } }, points: { type: 'integer' } } } },
          points: { type: 'integer' },
          truncated: { type: 'boolean' },
        },
      }, { query: SELECTOR_QUERY }),
      handler: async (req) => {
        const selection = selectionOf(req.query, false);
        const preview = await storageOf(deps).previewErasure(tenantOf(req), selection);
        const shown = preview.series.slice(0, 10_000);
        return { body: { series: shown.map((s) => ({ metric_id: s.metricId, tags: s.tags, points: s.points })), points: preview.points, truncated: shown.length < preview.series.length } };
      },
    },
    {
      method: 'DELETE', pattern: '/api/v1/series', access: 'admin',
      schema: schema('Deletes the selected points durably and scrubs them from every file of the store', 'Answered once the deletion is committed (it survives a kill) and the files are rewritten. Series left without points are removed.', DELETION_BODY, { query: SELECTOR_QUERY }),
      handler: async (req) => {
        const selection = selectionOf(req.query, true);
        const storage = storageOf(deps);
        const outcome = await exclusive(deps.lock, () => storage.erase(tenantOf(req), selection));
        // Tag keys but not their values: a selector's values may name a person.
        audit(req, 'series.delete', `match=${selection.metricPattern.slice(0, 120)}`, {
          tag_keys: Object.keys(selection.tags ?? {}).join(',').slice(0, 200), series: outcome.series, points: outcome.pointsDeleted, series_removed: outcome.seriesRemoved,
        });
        return { body: { ...outcomeBody(outcome), backups: BACKUP_NOTICE } };
      },
    },
    {
      method: 'POST', pattern: '/api/v1/erasure', access: 'admin',
      schema: schema('Erases a data subject: every series whose tag has the value, and the key events and alert history naming it', 'The audit log records tag_key, the counts and an HMAC reference of the value, never the value.', {
        ...DELETION_BODY,
        required: ['series', 'points_deleted', 'key_events_deleted', 'alert_history_deleted', 'reference', 'backups'],
        properties: {
          ...(DELETION_BODY.properties as Record<string, JsonSchema>),
          key_events_deleted: { type: 'integer' }, alert_history_deleted: { type: 'integer' }, remediation_entries_deleted: { type: 'integer' },
          reference: { type: 'string', description: 'HMAC-SHA256 (under erasure.key) of tag_key and value: the audit record carries the same' },
        },
      }, {
        body: [{
          contentType: 'application/json',
          required: true,
          schema: {
            type: 'object', additionalProperties: false, required: ['tag_key', 'value'],
            properties: { tag_key: { type: 'string', pattern: TAG_KEY_PATTERN.source }, value: { type: 'string', minLength: 1, maxLength: MAX_TAG_VALUE_CHARS } },
          },
        }],
      }),
      handler: async (req) => {
        const { tagKey, value } = subjectOf(req.body);
        const tenant = tenantOf(req);
        const storage = storageOf(deps);
        const forms = subjectForms(deps, tenant, tagKey, value);
        const result = await exclusive(deps.lock, async () => {
          // The stored form (last) is what series carry when a rule rewrites the tag.
          const series = await storage.erase(tenant, { metricPattern: '*', tags: { [tagKey]: forms[forms.length - 1]! } });
          let keyEvents = 0;
          let historyEvents = 0;
          let remediationEntries = 0;
          for (const form of forms) {
            keyEvents += eraseKeyEventsNaming(deps.dataDir, tenant, form);
            const alerts = eraseAlertHistoryNaming(deps.dataDir, tenant, form);
            historyEvents += alerts.historyEvents;
            remediationEntries += alerts.remediationEntries;
          }
          return { series, keyEvents, alerts: { historyEvents, remediationEntries } };
        });
        const reference = subjectReference(deps.dataDir, tagKey, value);
        audit(req, 'erasure.subject', `tag_key=${tagKey}`, {
          reference, series: result.series.series, points: result.series.pointsDeleted, key_events: result.keyEvents,
          alert_history: result.alerts.historyEvents, remediation_entries: result.alerts.remediationEntries,
        });
        return {
          body: {
            ...outcomeBody(result.series), key_events_deleted: result.keyEvents, alert_history_deleted: result.alerts.historyEvents,
            remediation_entries_deleted: result.alerts.remediationEntries, reference, backups: BACKUP_NOTICE,
          },
        };
      },
    },
  ];
}
