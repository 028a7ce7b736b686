/**
 * One tenant's key inventory in memory and what happens to it: events turned into derived
 * series, state changes that follow the events, policy checks, and the periodic evaluation.
 * KeyService (key_service.ts) holds one TenantKeys per tenant and validates what comes in;
 * this file applies it. Every point goes to the tenant's own engine view, every keys.db row
 * carries the tenant.
 *
 * Counters are cumulative (Prometheus semantics): each point of `crypto.key.encryption_ops`
 * for a key is the total of encrypt operations on that key so far, so `last`/`max` gives
 * the count and `rate` the operations per second. Totals are not stored in keys.db: at open
 * they are recovered from the engine as the largest stored value of each (metric, key_id),
 * exact because a total only grows in write order. The newest point of a series holds that
 * value unless points were later written behind it (an import of older events); the oldest
 * such timestamp is kept in keys.db, and only the range from it onwards is scanned for a
 * larger value, so a restart reads one point per series in the usual case. Events of one
 * batch are applied in timestamp order; within a batch, events of one series in the same
 * `resolutionMs` window (default 1 s) share one point, stamped with the last of them: a hot
 * key costs one point per second, not one per event, and the counts stay exact.
 *
 * Batches of one tenant are applied one at a time (a promise chain per tenant): each batch's
 * totals build on the previous batch's, and a batch the engine refuses is rolled back out of
 * the totals before the next starts. Tenants do not wait for each other. Key state changes
 * are committed to keys.db before the points are written: the events happened even if the
 * engine write fails. A retried batch re-applies its state changes harmlessly, but its
 * budgeted operations count twice towards the key's budget.
 */
import type { MetricsSystem } from '../model/api.js';
import { MAX_TIMESTAMP_MS, type Tags } from '../model/metric.js';
import { EVENT_COUNTER_INDEX, KEY_COUNTER_METRICS, KEY_GAUGE_METRICS, type KeyEvent } from './key_events.js';
import { daysUntilExpiry, isRotationOverdue, keyAgeDays, type KeyRecord, type KeyState } from './key_model.js';
import { budgetFor, eventUseFindings, keyConditionFindings, type KeyPolicy, type PolicyFinding } from './key_policy.js';
import { META_MIN_BACKFILL_TS } from './key_schema.js';
import type { KeyStore, ViolationRecord } from './key_store.js';
import { PointBatch } from './point_batch.js';

export interface EvaluationResult {
  keys: number;
  expired: number;
  violations: number;
  points: number;
}

/** What every tenant's state shares (owned by KeyService). */
export interface KeyServiceShared {
  readonly store: KeyStore;
  readonly policy: KeyPolicy;
  readonly resolutionMs: number;
}

/** States an event can never leave: a compromised key stays compromised. */
const TERMINAL: ReadonlySet<KeyState> = new Set<KeyState>(['revoked', 'compromised']);
const COUNTERS = KEY_COUNTER_METRICS.length;
const COUNTER_INDEX: ReadonlyMap<string, number> = new Map(KEY_COUNTER_METRICS.map((m, i) => [m, i]));
/** Every derived series (counters and gauges) in one pattern: one engine query per tenant at open. */
const KEY_SERIES_PATTERN = 'crypto.key.*';
const VIOLATION_COUNTER = EVENT_COUNTER_INDEX.policy_violation;
const EXPIRED_COUNTER = EVENT_COUNTER_INDEX.expired;
/**
 * Budget counters (operations_since_rotation) are written to keys.db at most this often
 * unless the batch commits anyway: per-batch upserts of every used key cost a third of ingest
 * time in bench/key_events.bench.ts. A crash loses at most this much budget counting, which
 * is immaterial against budgets of 2^32 operations.
 */
const BUDGET_FLUSH_MS = 1000;

/** A registered key and its working state. */
export interface KeyRuntime {
  record: KeyRecord;
  /** Small integer identity of this key in its tenant, in this process; series ids derive from it. */
  ordinal: number;
  /** Tags of the key's derived series (rebuilt when the record changes). */
  tags: Tags;
  /** Running total per counter, indexed like KEY_COUNTER_METRICS. */
  totals: Float64Array;
  /** Newest timestamp written per counter (−Infinity: none), to notice backfill. */
  newestTs: Float64Array;
  /** Open policy conditions: rule → since (epoch ms). */
  open: Map<string, number>;
}

interface BatchChanges {
  batch: PointBatch;
  /** Totals before each change, for rollback, as parallel columns (no tuple per event). */
  undoKeys: KeyRuntime[];
  undoCounters: number[];
  undoValues: number[];
  violations: ViolationRecord[];
  changed: Set<KeyRuntime>;
  opened: Array<{ keyId: string; rule: string; since: number }>;
  closed: Array<{ keyId: string; rule: string }>;
}

function newChanges(resolutionMs: number): BatchChanges {
  return { batch: new PointBatch(resolutionMs), undoKeys: [], undoCounters: [], undoValues: [], violations: [], changed: new Set(), opened: [], closed: [] };
}

export class TenantKeys {
  readonly keys = new Map<string, KeyRuntime>();
  readonly #shared: KeyServiceShared;
  readonly #budgetDirty = new Set<KeyRuntime>();
  /** Oldest timestamp ever written behind a series' newest point; null: never. */
  #minBackfillTs: number | null;
  #minBackfillDirty = false;
  #lastBudgetFlush = 0;
  #nextOrdinal = 0;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(readonly tenant: string, readonly engine: MetricsSystem, shared: KeyServiceShared, minBackfillTs: number | null) {
    this.#shared = shared;
    this.#minBackfillTs = minBackfillTs;
  }

  add(record: KeyRecord): KeyRuntime {
    const rt: KeyRuntime = {
      record, ordinal: this.#nextOrdinal++, tags: seriesTags(record), totals: new Float64Array(COUNTERS),
      newestTs: new Float64Array(COUNTERS).fill(-Infinity), open: new Map(),
    };
    this.keys.set(record.key_id, rt);
    return rt;
  }

  /** Replaces a key's record after a PATCH (its series tags follow). */
  replace(rt: KeyRuntime, record: KeyRecord): void {
    rt.record = record;
    rt.tags = seriesTags(record);
  }

  /** Running totals from what the engine stored (see the file comment). */
  async recoverTotals(): Promise<void> {
    // A key has several series when a PATCH changed its tags; the largest value wins.
    for (const p of await this.engine.latest(KEY_SERIES_PATTERN)) {
      const i = COUNTER_INDEX.get(p.metricId);
      const rt = i === undefined || p.tags.key_id === undefined ? undefined : this.keys.get(p.tags.key_id);
      if (rt === undefined) continue;
      if (p.value > rt.totals[i!]!) rt.totals[i!] = p.value;
      if (p.timestamp > rt.newestTs[i!]!) rt.newestTs[i!] = p.timestamp;
    }
    if (this.#minBackfillTs === null) return;
    for (let i = 0; i < COUNTERS; i++) {
      // Points written behind the newest one all lie at or after minBackfillTs.
      const perKey = await this.engine.queryAggregated({
        metricPattern: KEY_COUNTER_METRICS[i]!, startTime: this.#minBackfillTs, endTime: MAX_TIMESTAMP_MS,
        aggregation: 'max', interval: '1w', groupBy: ['key_id'],
      });
      for (const s of perKey) {
        const rt = s.tags.key_id === undefined ? undefined : this.keys.get(s.tags.key_id);
        if (rt === undefined) continue;
        for (const v of s.values) if (v > rt.totals[i]!) rt.totals[i] = v;
      }
    }
  }

  total(metricId: string, keyId: string): number {
    const i = COUNTER_INDEX.get(metricId);
    const rt = this.keys.get(keyId);
    return i === undefined || rt === undefined ? 0 : rt.totals[i]!;
  }

  /** Runs `work` after this tenant's previous batch or check settled. */
  serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work, work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when the batch or check in flight has settled. */
  idle(): Promise<unknown> {
    return this.#chain;
  }

  // ---- events ----------------------------------------------------------------------------

  /** Adds to a running total and appends the new total as a point; remembers the old one for rollback. */
  #count(c: BatchChanges, rt: KeyRuntime, counter: number, timestamp: number, n: number): void {
    const before = rt.totals[counter]!;
    c.undoKeys.push(rt);
    c.undoCounters.push(counter);
    c.undoValues.push(before);
    const after = before + n;
    rt.totals[counter] = after;
    if (timestamp >= rt.newestTs[counter]!) rt.newestTs[counter] = timestamp;
    else if (this.#minBackfillTs === null || timestamp < this.#minBackfillTs) {
      this.#minBackfillTs = timestamp;
      this.#minBackfillDirty = true;
    }
    c.batch.counter(rt.ordinal * COUNTERS + counter, KEY_COUNTER_METRICS[counter]!, rt.tags, timestamp, after);
  }

  /** Applies validated events of keys of this tenant; call through serialized(). */
  async applyEvents(events: KeyEvent[], now: number): Promise<{ accepted: number; violations: number }> {
    const policy = this.#shared.policy;
    const ordered = isSortedByTime(events) ? events : [...events].sort((a, b) => a.timestamp - b.timestamp);
    const c = newChanges(this.#shared.resolutionMs);
    const lastEvent = new Map<KeyRuntime, KeyEvent>();

    for (const e of ordered) {
      const rt = this.keys.get(e.key_id)!;
      lastEvent.set(rt, e);
      this.#count(c, rt, EVENT_COUNTER_INDEX[e.event_type], e.timestamp, e.count);
      if (e.event_type === 'unauthorized_access' && e.source_ip !== null) c.batch.authFailure(e.source_ip, e.timestamp, e.count);
      for (const f of eventUseFindings(policy, rt.record, e)) {
        c.violations.push(violationOf(rt.record.key_id, f, e.timestamp, e.count, e));
        this.#count(c, rt, VIOLATION_COUNTER, e.timestamp, e.count);
      }
      if (e.event_type === 'policy_violation') {
        c.violations.push(violationOf(rt.record.key_id, { rule: 'reported', reason: e.reason ?? 'reported by client' }, e.timestamp, e.count, e));
      }
      this.#applyStateChange(rt, e, now, c);
    }
    for (const [rt, e] of lastEvent) this.#checkConditions(rt, now, e.timestamp, e, c);

    try {
      this.#persist(c, now);
      await this.engine.collectMetrics(c.batch.points);
    } catch (err) {
      rollback(c);
      throw err;
    }
    return { accepted: events.length, violations: c.violations.length };
  }

  /** Commits the batch's key changes (and, every BUDGET_FLUSH_MS, the budget counters) to keys.db. */
  #persist(c: BatchChanges, now: number, flushBudgets = false): void {
    const keys: KeyRecord[] = [];
    for (const rt of c.changed) {
      keys.push(rt.record);
      this.#budgetDirty.delete(rt);
    }
    if (flushBudgets || (this.#budgetDirty.size > 0 && now - this.#lastBudgetFlush >= BUDGET_FLUSH_MS)) {
      for (const rt of this.#budgetDirty) keys.push(rt.record);
      this.#budgetDirty.clear();
      this.#lastBudgetFlush = now;
    }
    const meta: Array<[string, number]> = [];
    if (this.#minBackfillDirty && this.#minBackfillTs !== null) meta.push([META_MIN_BACKFILL_TS, this.#minBackfillTs]);
    if (keys.length === 0 && c.violations.length === 0 && c.opened.length === 0 && c.closed.length === 0 && meta.length === 0) return;
    this.#shared.store.commit(this.tenant, { keys, violations: c.violations, openedConditions: c.opened, closedConditions: c.closed, meta });
    this.#minBackfillDirty = false;
  }

  /** Saves budget counters not yet written (at close). */
  flush(now: number): void {
    this.#persist(newChanges(this.#shared.resolutionMs), now, true);
  }

  #applyStateChange(rt: KeyRuntime, e: KeyEvent, now: number, c: BatchChanges): void {
    const key = rt.record;
    const budget = budgetFor(this.#shared.policy, key.algorithm);
    if (budget !== null && e.outcome === 'success' && budget.eventTypes.includes(e.event_type)) {
      key.operations_since_rotation += e.count;
      this.#budgetDirty.add(rt);
    }
    let changed = false;
    let next: KeyState = key.state;
    switch (e.event_type) {
      case 'created':
        // The event tells the real creation time of a key registered before or after it.
        if (key.created_at !== e.timestamp && (key.expires_at === null || e.timestamp < key.expires_at)) {
          key.created_at = e.timestamp;
          changed = true;
        }
        if (!TERMINAL.has(key.state)) next = 'active';
        break;
      case 'rotated':
        // A rotation gives the same key_id new material (Vault transit, KMS automatic
        // rotation): the key stays active, its age for rotation and budget restarts.
        if (key.last_rotated_at === null || e.timestamp > key.last_rotated_at) key.last_rotated_at = e.timestamp;
        key.operations_since_rotation = 0;
        changed = true;
        break;
      case 'expired':
        if (!TERMINAL.has(key.state)) next = 'expired';
        break;
      case 'revoked':
        if (key.state !== 'compromised') next = 'revoked';
        break;
      default:
        break;
    }
    if (next !== key.state) {
      key.state = next;
      changed = true;
    }
    if (changed) {
      key.updated_at = now;
      c.changed.add(rt);
    }
  }

  #checkConditions(rt: KeyRuntime, now: number, at: number, event: KeyEvent | null, c: BatchChanges): void {
    const findings = keyConditionFindings(this.#shared.policy, rt.record, now);
    if (findings.length === 0 && rt.open.size === 0) return;
    const keyId = rt.record.key_id;
    for (const f of findings) {
      if (rt.open.has(f.rule)) continue;
      rt.open.set(f.rule, at);
      c.opened.push({ keyId, rule: f.rule, since: at });
      c.violations.push(violationOf(keyId, f, at, 1, event));
      this.#count(c, rt, VIOLATION_COUNTER, at, 1);
    }
    for (const rule of [...rt.open.keys()]) {
      if (findings.some((f) => f.rule === rule)) continue;
      rt.open.delete(rule);
      c.closed.push({ keyId, rule });
    }
  }

  // ---- periodic evaluation ---------------------------------------------------------------

  /**
   * Expires keys past their expires_at (counted as `expired` events), records policy
   * conditions that became true, and writes the gauges: age_days, days_until_expiry,
   * rotation_overdue per key and `crypto.key.active` per algorithm. Call through serialized().
   */
  async evaluate(now: number): Promise<EvaluationResult> {
    const policy = this.#shared.policy;
    const c = newChanges(this.#shared.resolutionMs);
    const activeByAlgorithm = new Map<string, number>();
    let expired = 0;

    for (const rt of this.keys.values()) {
      const key = rt.record;
      if (key.state === 'active' && key.expires_at !== null && key.expires_at <= now) {
        key.state = 'expired';
        key.updated_at = now;
        c.changed.add(rt);
        expired++;
        this.#count(c, rt, EXPIRED_COUNTER, key.expires_at, 1);
      }
      this.#checkConditions(rt, now, now, null, c);
      activeByAlgorithm.set(key.algorithm, (activeByAlgorithm.get(key.algorithm) ?? 0) + (key.state === 'active' ? 1 : 0));
      c.batch.gauge(KEY_GAUGE_METRICS.ageDays, rt.tags, now, keyAgeDays(key, now));
      const untilExpiry = daysUntilExpiry(key, now);
      if (untilExpiry !== null) c.batch.gauge(KEY_GAUGE_METRICS.daysUntilExpiry, rt.tags, now, untilExpiry);
      const overdue = key.state === 'active' && isRotationOverdue(key, now, policy.defaultRotationPeriodDays);
      c.batch.gauge(KEY_GAUGE_METRICS.rotationOverdue, rt.tags, now, overdue ? 1 : 0);
    }
    for (const [algorithm, n] of activeByAlgorithm) c.batch.gauge(KEY_GAUGE_METRICS.activeByAlgorithm, { algorithm }, now, n);
    try {
      this.#persist(c, now, true);
      if (c.batch.points.length > 0) await this.engine.collectMetrics(c.batch.points);
    } catch (err) {
      rollback(c);
      throw err;
    }
    return { keys: this.keys.size, expired, violations: c.violations.length, points: c.batch.points.length };
  }
}

function seriesTags(k: KeyRecord): Tags {
  return { key_id: k.key_id, key_type: k.key_type, algorithm: k.algorithm, backend: k.backend, owner: k.owner };
}

function rollback(c: BatchChanges): void {
  for (let i = c.undoKeys.length - 1; i >= 0; i--) c.undoKeys[i]!.totals[c.undoCounters[i]!] = c.undoValues[i]!;
}

function isSortedByTime(events: readonly KeyEvent[]): boolean {
  for (let i = 1; i < events.length; i++) if (events[i]!.timestamp < events[i - 1]!.timestamp) return false;
  return true;
}

function violationOf(keyId: string, f: PolicyFinding, timestamp: number, count: number, e: KeyEvent | null): ViolationRecord {
  return {
    key_id: keyId,
    rule: f.rule,
    reason: f.reason,
    timestamp,
    count,
    event_type: e?.event_type ?? null,
    actor: e?.actor ?? null,
    source_ip: e?.source_ip ?? null,
  };
}
