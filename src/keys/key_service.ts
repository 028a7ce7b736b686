/**
 * The key infrastructure feature: the inventory of registered keys, key events turned into
 * ordinary series, state changes that follow the events, and policy checks.
 *
 * Lifecycle: `KeyService.open(system, options)` loads keys.db and recovers the running
 * counter totals from the engine; then any number of calls; `start()` runs the periodic
 * evaluation (auto-expiry, policy conditions, gauges) every `policy.checkIntervalMs`;
 * `close()` stops it and closes keys.db. The engine stays owned by the caller.
 *
 * Counters are cumulative (Prometheus semantics): each point of `crypto.key.encryption_ops`
 * for a key is the total of encrypt operations on that key so far, so `last`/`max` gives
 * the count and `rate` the operations per second. Totals are not stored in keys.db: at open
 * they are recovered from the engine as the largest stored value of each (metric, key_id),
 * exact because a total only grows in write order. The newest point of a series holds that
 * value unless points were later written behind it (an import of older events); the oldest
 * such timestamp is kept in keys.db, and only the range from it onwards is scanned for a
 * larger value, so a restart reads one point per series in the usual case. Events of one batch are applied in timestamp
 * order; within a batch, events of one series in the same `resolutionMs` window (default
 * 1 s) share one point, stamped with the last of them: a hot key costs one point per second,
 * not one per event, and the counts stay exact.
 *
 * Batches are applied one at a time (a promise chain): each batch's totals build on the
 * previous batch's, and a batch the engine refuses is rolled back out of the totals before the
 * next starts. Key state changes are committed to keys.db before the points are written: the
 * events happened even if the engine write fails. A retried batch re-applies its state
 * changes harmlessly, but its budgeted operations count twice towards the key's budget.
 */
import { join } from 'node:path';
import type { MetricsSystem } from '../model/api.js';
import type { MetricDataPoint, Tags } from '../model/metric.js';
import {
  EVENT_COUNTER_INDEX, KEY_COUNTER_METRICS, KEY_GAUGE_METRICS, validateKeyEventBatch,
  type KeyEvent,
} from './key_events.js';
import {
  applyKeyPatch, daysUntilExpiry, isRotationOverdue, keyAgeDays, KeyValidationError, MS_PER_DAY, validateNewKey,
  type KeyRecord, type KeyState,
} from './key_model.js';
import { budgetFor, eventUseFindings, keyConditionFindings, parseKeyPolicy, type KeyPolicy, type PolicyFinding } from './key_policy.js';
import { KEYS_DB_FILE, META_MIN_BACKFILL_TS } from './key_schema.js';
import { KeyStore, type ViolationRecord } from './key_store.js';
import { compactAlgorithmName } from './algorithm_strength.js';

export interface KeyServiceOptions {
  /** Parsed `key_policies` section; default: parseKeyPolicy(undefined). */
  policy?: KeyPolicy;
  /** keys.db location; default `<system.dataDirectory>/keys.db`. */
  path?: string;
  /** Clock (epoch ms), injectable for tests. */
  now?: () => number;
  /**
   * Window within which a batch's events of one series share a point (the last event's time).
   * Default 1000; 1 keeps one point per distinct millisecond.
   */
  resolutionMs?: number;
}

export interface KeyListFilter {
  state?: string;
  algorithm?: string;
  owner?: string;
  backend?: string;
  key_type?: string;
  /** Keys whose expires_at lies in [now, now + days]. */
  expiringWithinDays?: number;
}

export interface EvaluationResult {
  keys: number;
  expired: number;
  violations: number;
  points: number;
}

export class KeyNotFoundError extends Error {
  constructor(readonly keyId: string) {
    super(`key_id=${JSON.stringify(keyId)} is not a registered key`);
    this.name = 'KeyNotFoundError';
  }
}

export class KeyConflictError extends Error {
  constructor(readonly keyId: string) {
    super(`key_id=${JSON.stringify(keyId)} is already registered (use PATCH /api/v1/keys/{key_id} to change it)`);
    this.name = 'KeyConflictError';
  }
}

/** States an event can never leave: a compromised key stays compromised. */
const TERMINAL: ReadonlySet<KeyState> = new Set<KeyState>(['revoked', 'compromised']);
const MAX_TIME_MS = Date.UTC(2200, 0, 1);
const COUNTERS = KEY_COUNTER_METRICS.length;
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
interface KeyRuntime {
  record: KeyRecord;
  /** Small integer identity of this key in this process; series ids derive from it. */
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

/** The points of one batch; counter points of one series within `resolutionMs` share one. */
class PointBatch {
  readonly points: MetricDataPoint[] = [];
  readonly #last = new Map<number, MetricDataPoint>();
  constructor(readonly resolutionMs: number) {}

  counter(seriesId: number, metricId: string, tags: Tags, timestamp: number, value: number): void {
    const last = this.#last.get(seriesId);
    if (last !== undefined && Math.floor((last.timestamp as number) / this.resolutionMs) === Math.floor(timestamp / this.resolutionMs) && timestamp >= (last.timestamp as number)) {
      last.timestamp = timestamp;
      last.value = value;
      return;
    }
    const p: MetricDataPoint = { metricId, metricType: 'counter', tags, timestamp, value };
    this.#last.set(seriesId, p);
    this.points.push(p);
  }

  gauge(metricId: string, tags: Tags, timestamp: number, value: number): void {
    this.points.push({ metricId, metricType: 'gauge', tags, timestamp, value });
  }

  readonly #failures = new Map<string, MetricDataPoint>();

  /**
   * One point of `security.auth.failures{source_ip}` per address and millisecond, holding how
   * many failures it stands for: the predefined Authentication Failures rule sums these over
   * 5 minutes per address, and its block_ip remediation reads the address from the tag. Equal
   * timestamps are summed here because a second point at the same time would replace the first.
   */
  authFailure(sourceIp: string, timestamp: number, n: number): void {
    const key = `${sourceIp} ${timestamp}`;
    const existing = this.#failures.get(key);
    if (existing !== undefined) {
      existing.value += n;
      return;
    }
    const p: MetricDataPoint = { metricId: AUTH_FAILURES_METRIC, metricType: 'gauge', tags: { source_ip: sourceIp }, timestamp, value: n };
    this.#failures.set(key, p);
    this.points.push(p);
  }
}

/** Failed authentications per source address, fed by unauthorized_access key events. */
export const AUTH_FAILURES_METRIC = 'security.auth.failures';

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

export class KeyService {
  readonly #system: MetricsSystem;
  readonly #store: KeyStore;
  readonly #now: () => number;
  readonly #resolutionMs: number;
  readonly #keys = new Map<string, KeyRuntime>();
  readonly #budgetDirty = new Set<KeyRuntime>();
  /** Oldest timestamp ever written behind a series' newest point; null: never. */
  #minBackfillTs: number | null = null;
  #minBackfillDirty = false;
  #lastBudgetFlush = 0;
  #nextOrdinal = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly policy: KeyPolicy;

  private constructor(system: MetricsSystem, store: KeyStore, policy: KeyPolicy, now: () => number, resolutionMs: number) {
    this.#system = system;
    this.#store = store;
    this.policy = policy;
    this.#now = now;
    this.#resolutionMs = resolutionMs;
  }

  static async open(system: MetricsSystem, options: KeyServiceOptions = {}): Promise<KeyService> {
    const resolutionMs = options.resolutionMs ?? 1000;
    if (!Number.isInteger(resolutionMs) || resolutionMs < 1) throw new RangeError(`options.resolutionMs=${resolutionMs} must be a positive integer`);
    const store = new KeyStore(options.path ?? join(system.dataDirectory, KEYS_DB_FILE));
    const service = new KeyService(system, store, options.policy ?? parseKeyPolicy(undefined), options.now ?? Date.now, resolutionMs);
    try {
      for (const k of store.loadKeys()) service.#addRuntime(k);
      for (const o of store.loadOpenConditions()) service.#keys.get(o.key_id)?.open.set(o.rule, o.since);
      await service.#recoverTotals();
    } catch (err) {
      store.close();
      throw err;
    }
    return service;
  }

  #addRuntime(record: KeyRecord): KeyRuntime {
    const rt: KeyRuntime = {
      record, ordinal: this.#nextOrdinal++, tags: seriesTags(record), totals: new Float64Array(COUNTERS),
      newestTs: new Float64Array(COUNTERS).fill(-Infinity), open: new Map(),
    };
    this.#keys.set(record.key_id, rt);
    return rt;
  }

  async #recoverTotals(): Promise<void> {
    this.#minBackfillTs = this.#store.meta(META_MIN_BACKFILL_TS);
    for (let i = 0; i < COUNTERS; i++) {
      const metricPattern = KEY_COUNTER_METRICS[i]!;
      // A key has several series when a PATCH changed its tags; the largest value wins.
      for (const p of await this.#system.latest(metricPattern)) {
        const rt = p.tags.key_id === undefined ? undefined : this.#keys.get(p.tags.key_id);
        if (rt === undefined) continue;
        if (p.value > rt.totals[i]!) rt.totals[i] = p.value;
        if (p.timestamp > rt.newestTs[i]!) rt.newestTs[i] = p.timestamp;
      }
      if (this.#minBackfillTs === null) continue;
      // Points written behind the newest one all lie at or after minBackfillTs.
      const perKey = await this.#system.queryAggregated({
        metricPattern, startTime: this.#minBackfillTs, endTime: MAX_TIME_MS, aggregation: 'max', interval: '1w', groupBy: ['key_id'],
      });
      for (const s of perKey) {
        const rt = s.tags.key_id === undefined ? undefined : this.#keys.get(s.tags.key_id);
        if (rt === undefined) continue;
        for (const v of s.values) if (v > rt.totals[i]!) rt.totals[i] = v;
      }
    }
  }

  // ---- inventory -------------------------------------------------------------------------

  registerKey(body: unknown): KeyRecord {
    const key = validateNewKey(body, this.#now());
    if (this.#keys.has(key.key_id)) throw new KeyConflictError(key.key_id);
    this.#store.commit({ keys: [key], violations: [], openedConditions: [], closedConditions: [] });
    this.#addRuntime(key);
    return copy(key);
  }

  /**
   * Registers many keys in one keys.db transaction; all or nothing. A bad entry throws a
   * KeyValidationError whose message starts with `keys[i]:`.
   */
  registerKeys(bodies: readonly unknown[]): KeyRecord[] {
    const now = this.#now();
    const seen = new Set<string>();
    const keys = bodies.map((body, i) => {
      let key: KeyRecord;
      try {
        key = validateNewKey(body, now);
      } catch (err) {
        if (err instanceof KeyValidationError) throw new KeyValidationError(`keys[${i}]: ${err.message}`, `keys[${i}].${err.field}`, err.value);
        throw err;
      }
      if (this.#keys.has(key.key_id) || seen.has(key.key_id)) throw new KeyConflictError(key.key_id);
      seen.add(key.key_id);
      return key;
    });
    this.#store.commit({ keys, violations: [], openedConditions: [], closedConditions: [] });
    for (const k of keys) this.#addRuntime(k);
    return keys.map(copy);
  }

  updateKey(keyId: string, body: unknown): KeyRecord {
    const rt = this.#keys.get(keyId);
    if (rt === undefined) throw new KeyNotFoundError(keyId);
    const next = applyKeyPatch(rt.record, body, this.#now());
    this.#store.commit({ keys: [next], violations: [], openedConditions: [], closedConditions: [] });
    rt.record = next;
    rt.tags = seriesTags(next);
    return copy(next);
  }

  hasKey(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  getKey(keyId: string): KeyRecord | undefined {
    const rt = this.#keys.get(keyId);
    return rt === undefined ? undefined : copy(rt.record);
  }

  listKeys(filter: KeyListFilter = {}): KeyRecord[] {
    const now = this.#now();
    const alg = filter.algorithm === undefined ? undefined : compactAlgorithmName(filter.algorithm);
    const out: KeyRecord[] = [];
    for (const { record: k } of this.#keys.values()) {
      if (filter.state !== undefined && k.state !== filter.state) continue;
      if (alg !== undefined && compactAlgorithmName(k.algorithm) !== alg) continue;
      if (filter.owner !== undefined && k.owner !== filter.owner) continue;
      if (filter.backend !== undefined && k.backend !== filter.backend) continue;
      if (filter.key_type !== undefined && k.key_type !== filter.key_type) continue;
      if (filter.expiringWithinDays !== undefined) {
        if (k.expires_at === null || k.expires_at < now || k.expires_at > now + filter.expiringWithinDays * MS_PER_DAY) continue;
      }
      out.push(copy(k));
    }
    out.sort((a, b) => (a.key_id < b.key_id ? -1 : a.key_id > b.key_id ? 1 : 0));
    return out;
  }

  get size(): number {
    return this.#keys.size;
  }

  violations(filter: { keyId?: string; rule?: string; limit?: number } = {}): ViolationRecord[] {
    return this.#store.violations(filter);
  }

  /** Audit-trail record ids of `source` already imported (so a re-run import counts nothing twice). */
  importedAmong(source: string, recordIds: Iterable<string>): Set<string> {
    return this.#store.importedAmong(source, recordIds);
  }

  markImported(source: string, recordIds: Iterable<string>): void {
    this.#store.markImported(source, recordIds);
  }

  /** Running total of a derived counter (tests and the CLI summary). */
  total(metricId: string, keyId: string): number {
    const i = KEY_COUNTER_METRICS.indexOf(metricId);
    const rt = this.#keys.get(keyId);
    return i < 0 || rt === undefined ? 0 : rt.totals[i]!;
  }

  // ---- events ----------------------------------------------------------------------------

  /**
   * Validates and applies a batch of key events (the body of POST /api/v1/keys/events and the
   * `key_events` WebSocket frame). Refuses the whole batch on the first bad event, naming
   * `key_events[i].field` and the value; resolves once the derived points are durable.
   */
  ingestEvents(items: unknown): Promise<{ accepted: number; violations: number }> {
    if (this.#closed) return Promise.reject(new Error('key service is closed'));
    let events: KeyEvent[];
    try {
      events = validateKeyEventBatch(items, this.#now(), (id) => this.#keys.has(id));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serialized(() => this.#applyEvents(events));
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work, work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

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

  async #applyEvents(events: KeyEvent[]): Promise<{ accepted: number; violations: number }> {
    const now = this.#now();
    const ordered = isSortedByTime(events) ? events : [...events].sort((a, b) => a.timestamp - b.timestamp);
    const c = newChanges(this.#resolutionMs);
    const lastEvent = new Map<KeyRuntime, KeyEvent>();

    for (const e of ordered) {
      const rt = this.#keys.get(e.key_id)!;
      lastEvent.set(rt, e);
      this.#count(c, rt, EVENT_COUNTER_INDEX[e.event_type], e.timestamp, e.count);
      if (e.event_type === 'unauthorized_access' && e.source_ip !== null) c.batch.authFailure(e.source_ip, e.timestamp, e.count);
      const findings = eventUseFindings(this.policy, rt.record, e);
      for (const f of findings) {
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
      await this.#system.collectMetrics(c.batch.points);
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
    this.#store.commit({ keys, violations: c.violations, openedConditions: c.opened, closedConditions: c.closed, meta });
    this.#minBackfillDirty = false;
  }

  #applyStateChange(rt: KeyRuntime, e: KeyEvent, now: number, c: BatchChanges): void {
    const key = rt.record;
    const budget = budgetFor(this.policy, key.algorithm);
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
    const findings = keyConditionFindings(this.policy, rt.record, now);
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
   * rotation_overdue per key and `crypto.key.active` per algorithm.
   */
  evaluate(): Promise<EvaluationResult> {
    return this.#serialized(() => this.#evaluate());
  }

  async #evaluate(): Promise<EvaluationResult> {
    const now = this.#now();
    const c = newChanges(this.#resolutionMs);
    const activeByAlgorithm = new Map<string, number>();
    let expired = 0;

    for (const rt of this.#keys.values()) {
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
      const overdue = key.state === 'active' && isRotationOverdue(key, now, this.policy.defaultRotationPeriodDays);
      c.batch.gauge(KEY_GAUGE_METRICS.rotationOverdue, rt.tags, now, overdue ? 1 : 0);
    }
    for (const [algorithm, n] of activeByAlgorithm) c.batch.gauge(KEY_GAUGE_METRICS.activeByAlgorithm, { algorithm }, now, n);
    try {
      this.#persist(c, now, true);
      if (c.batch.points.length > 0) await this.#system.collectMetrics(c.batch.points);
    } catch (err) {
      rollback(c);
      throw err;
    }
    return { keys: this.#keys.size, expired, violations: c.violations.length, points: c.batch.points.length };
  }

  /** Runs `evaluate()` every policy.checkIntervalMs; a cycle never overlaps the previous one. */
  start(onError: (err: unknown) => void = (err) => process.emitWarning(`key evaluation failed: ${String(err)}`)): void {
    if (this.#timer !== null || this.#closed) return;
    let running = false;
    this.#timer = setInterval(() => {
      if (running) return;
      running = true;
      this.evaluate().catch(onError).finally(() => {
        running = false;
      });
    }, this.policy.checkIntervalMs);
    this.#timer.unref();
  }

  /** Stops the periodic evaluation, waits for the batch in flight, saves budget counters and closes keys.db. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#chain;
    this.#persist(newChanges(this.#resolutionMs), this.#now(), true);
    this.#store.close();
  }
}

function seriesTags(k: KeyRecord): Tags {
  return { key_id: k.key_id, key_type: k.key_type, algorithm: k.algorithm, backend: k.backend, owner: k.owner };
}

function copy(k: KeyRecord): KeyRecord {
  return { ...k, tags: { ...k.tags } };
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

/** The WebSocket `key_events` frame handler: `{seq, key_events: [...]}` hands its array here. */
export function keyEventIngestor(service: KeyService): (items: unknown[]) => Promise<{ accepted: number }> {
  return async (items) => {
    const { accepted } = await service.ingestEvents(items);
    return { accepted };
  };
}

