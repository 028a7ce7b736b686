/**
 * What an audit-trail reader produces, and how it is fed into the key service: key events in
 * the API's own shape plus the keys the trail revealed (so a first import can register them).
 */
import { MAX_KEYS_PER_REQUEST, type KeyBackend, type KeyType } from '../key_model.js';
import type { KeyEventOutcome, KeyEventType } from '../key_events.js';
import type { KeyService } from '../key_service.js';

export interface AuditKeyEvent {
  key_id: string;
  event_type: KeyEventType;
  timestamp: number;
  count: number;
  actor: string | null;
  source_ip: string | null;
  outcome: KeyEventOutcome;
  reason: string | null;
  /** Id of the audit record the event came from (Vault request.id, CloudTrail eventID); null when the record has none. */
  record_id: string | null;
}

export interface DiscoveredKey {
  key_id: string;
  backend: KeyBackend;
  /** Known when the trail shows the key's creation (or its use implies the type). */
  key_type: KeyType | null;
  algorithm: string | null;
  owner: string | null;
  /** Epoch ms of the first record that mentions the key. */
  first_seen: number;
}

export interface SkippedRecord {
  /** 1-based line (Vault) or record index (CloudTrail). */
  record: number;
  reason: string;
}

export interface AuditImport {
  events: AuditKeyEvent[];
  keys: Map<string, DiscoveredKey>;
  /** Malformed records (bad JSON, missing fields). */
  skipped: SkippedRecord[];
  /** Well-formed records that are not about keys (logins, secrets reads …). */
  ignored: number;
}

export function emptyImport(): AuditImport {
  return { events: [], keys: new Map(), skipped: [], ignored: 0 };
}

/** Records a key mention, keeping the earliest time and the most specific type/algorithm. */
export function noteKey(out: AuditImport, key: Omit<DiscoveredKey, 'first_seen'>, at: number): void {
  const known = out.keys.get(key.key_id);
  if (known === undefined) {
    out.keys.set(key.key_id, { ...key, first_seen: at });
    return;
  }
  if (at < known.first_seen) known.first_seen = at;
  if (known.key_type === null) known.key_type = key.key_type;
  if (known.algorithm === null) known.algorithm = key.algorithm;
  if (known.owner === null) known.owner = key.owner;
}

export interface ImportSummary {
  registered: number;
  events: number;
  /** Events of records an earlier import already brought in (not counted again). */
  duplicates: number;
  skipped: number;
  ignored: number;
  violations: number;
}

/** Events per call into the key service: bounded so one import never holds a huge batch. */
export const IMPORT_BATCH_EVENTS = 10_000;

/**
 * Imports into the tenant of `service` (a KeyService view: `keys.forTenant(tenant)`).
 * Registers the keys the trail revealed that the inventory lacks (unless `registerUnknown`
 * is false, in which case their events are refused by the service), MAX_KEYS_PER_REQUEST at
 * a time, each lot all or nothing (a lot past the tenant's `keys` quota throws
 * QuotaExceededError before any event is ingested); then ingests the events in time order,
 * IMPORT_BATCH_EVENTS at a time. Records the tenant imported before from the same `source`
 * (by record id) are skipped, so importing a file twice counts nothing twice.
 */
export async function importAudit(service: KeyService, data: AuditImport, registerUnknown: boolean, source: string): Promise<ImportSummary> {
  const ids = new Set<string>();
  for (const e of data.events) if (e.record_id !== null) ids.add(e.record_id);
  const seen = service.importedAmong(source, ids);
  const fresh = data.events.filter((e) => e.record_id === null || !seen.has(e.record_id));
  const freshKeys = new Set(fresh.map((e) => e.key_id));
  let registered = 0;
  if (registerUnknown) {
    const unknown = [...data.keys.values()].filter((k) => !service.hasKey(k.key_id) && freshKeys.has(k.key_id)).map((k) => ({
      key_id: k.key_id,
      key_type: k.key_type ?? 'encryption',
      // Unknown algorithms stay visible as such: an allowed_algorithms policy flags them.
      algorithm: k.algorithm ?? 'UNKNOWN',
      owner: k.owner ?? 'unknown',
      backend: k.backend,
      created_at: k.first_seen,
    }));
    for (let i = 0; i < unknown.length; i += MAX_KEYS_PER_REQUEST) {
      registered += service.registerKeys(unknown.slice(i, i + MAX_KEYS_PER_REQUEST)).length;
    }
  }
  const events = fresh.sort((a, b) => a.timestamp - b.timestamp);
  let violations = 0;
  for (let i = 0; i < events.length; i += IMPORT_BATCH_EVENTS) {
    const batch = events.slice(i, i + IMPORT_BATCH_EVENTS);
    const r = await service.ingestEvents(batch.map(({ record_id: _recordId, ...event }) => event));
    violations += r.violations;
    service.markImported(source, batch.flatMap((e) => (e.record_id === null ? [] : [e.record_id])));
  }
  return { registered, events: events.length, duplicates: data.events.length - events.length, skipped: data.skipped.length, ignored: data.ignored, violations };
}
