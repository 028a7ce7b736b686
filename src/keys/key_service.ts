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
 * they are recovered as the largest stored value of each (metric, key_id), which is exact
 * because a total only grows in write order. Events of one batch are applied in timestamp
 * order; within a batch several events of one series at the same millisecond become one point.
 *
 * Batches are applied one at a time (a promise chain): each batch's totals build on the
 * previous batch's, and a batch the engine refuses is rolled back out of the totals before the
 * next starts. Key state changes are committed to keys.db before the points are written: the
 * events happened even if the engine write fails, and a retried batch re-applies them idempotently.
 */
import { join } from 'node:path';
import type { ColumnarSeries, MetricsSystem } from '../model/api.js';
import type { Tags } from '../model/metric.js';
import {
  EVENT_COUNTER_METRIC, KEY_COUNTER_METRICS, KEY_GAUGE_METRICS, validateKeyEventBatch,
  type KeyEvent,
} from './key_events.js';
import {
  applyKeyPatch, daysUntilExpiry, isRotationOverdue, keyAgeDays, MS_PER_DAY, validateKeyId, validateNewKey,
  type KeyRecord, type KeyState,
} from './key_model.js';
import { budgetFor, eventUseFindings, keyConditionFindings, parseKeyPolicy, type KeyPolicy, type OperationBudget, type PolicyFinding } from './key_policy.js';
import { KEYS_DB_FILE } from './key_schema.js';
import { KeyStore, type ViolationRecord } from './key_store.js';
import { compactAlgorithmName } from './algorithm_strength.js';

export interface KeyServiceOptions {
  /** Parsed `key_policies` section; default: parseKeyPolicy(undefined). */
  policy?: KeyPolicy;
  /** keys.db location; default `<system.dataDirectory>/keys.db`. */
  path?: string;
  /** Clock (epoch ms), injectable for tests. */
  now?: () => number;
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
const SEP = '\u0000';
const MAX_TIME_MS = Date.UTC(2200, 0, 1);

/** Accumulates the points of one batch as columns, one entry per series. */
class SeriesBatch {
  readonly #series = new Map<string, { metricId: string; metricType: 'counter' | 'gauge'; tags: Tags; timestamps: number[]; values: number[] }>();
  points = 0;

  /** Coalesces with the series' previous point when it has the same timestamp (last value wins). */
  add(seriesKey: string, metricId: string, metricType: 'counter' | 'gauge', tags: Tags, timestamp: number, value: number): void {
    let s = this.#series.get(seriesKey);
    if (s === undefined) {
      s = { metricId, metricType, tags, timestamps: [], values: [] };
      this.#series.set(seriesKey, s);
    }
    const last = s.timestamps.length - 1;
    if (last >= 0 && s.timestamps[last] === timestamp) {
      s.values[last] = value;
      return;
    }
    s.timestamps.push(timestamp);
    s.values.push(value);
    this.points++;
  }

  columns(): ColumnarSeries[] {
    return [...this.#series.values()];
  }
}

export class KeyService {
  readonly #system: MetricsSystem;
  readonly #store: KeyStore;
  readonly #now: () => number;
  readonly #keys = new Map<string, KeyRecord>();
  /** `${metric}\0${key_id}` → running total. */
  readonly #totals = new Map<string, number>();
  /** `${key_id}\0${rule}` of conditions currently recorded as violated. */
  readonly #open = new Map<string, number>();
  /** Tags of the derived series of a key, built once per key version. */
  readonly #seriesTags = new Map<string, Tags>();
  readonly #budgetByAlgorithm = new Map<string, OperationBudget | null>();
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly policy: KeyPolicy;

  private constructor(system: MetricsSystem, store: KeyStore, policy: KeyPolicy, now: () => number) {
    this.#system = system;
    this.#store = store;
    this.policy = policy;
    this.#now = now;
  }

  static async open(system: MetricsSystem, options: KeyServiceOptions = {}): Promise<KeyService> {
    const store = new KeyStore(options.path ?? join(system.dataDirectory, KEYS_DB_FILE));
    const service = new KeyService(system, store, options.policy ?? parseKeyPolicy(undefined), options.now ?? Date.now);
    try {
      for (const k of store.loadKeys()) service.#keys.set(k.key_id, k);
      for (const o of store.loadOpenConditions()) service.#open.set(o.key_id + SEP + o.rule, o.since);
      await service.#recoverTotals();
    } catch (err) {
      store.close();
      throw err;
    }
    return service;
  }

  async #recoverTotals(): Promise<void> {
    for (const metric of KEY_COUNTER_METRICS) {
      // Largest, not newest: an import of older events writes larger totals at older times.
      // Grouping by key_id merges the series a key had before a PATCH changed its tags.
      const perKey = await this.#system.queryAggregated({
        metricPattern: metric, startTime: 0, endTime: MAX_TIME_MS, aggregation: 'max', interval: '1w', groupBy: ['key_id'],
      });
      for (const s of perKey) {
        const keyId = s.tags.key_id;
        if (keyId === undefined) continue;
        let max = 0;
        for (const v of s.values) if (v > max) max = v;
        this.#totals.set(metric + SEP + keyId, max);
      }
    }
  }

  // ---- inventory -------------------------------------------------------------------------

  registerKey(body: unknown): KeyRecord {
    const key = validateNewKey(body, this.#now());
    if (this.#keys.has(key.key_id)) throw new KeyConflictError(key.key_id);
    this.#store.commit({ keys: [key], violations: [], openedConditions: [], closedConditions: [] });
    this.#keys.set(key.key_id, key);
    return { ...key };
  }

  updateKey(keyId: string, body: unknown): KeyRecord {
    const current = this.#keys.get(keyId);
    if (current === undefined) throw new KeyNotFoundError(keyId);
    const next = applyKeyPatch(current, body, this.#now());
    this.#store.commit({ keys: [next], violations: [], openedConditions: [], closedConditions: [] });
    this.#keys.set(keyId, next);
    this.#seriesTags.delete(keyId);
    return { ...next };
  }

  hasKey(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  getKey(keyId: string): KeyRecord | undefined {
    const k = this.#keys.get(keyId);
    return k === undefined ? undefined : { ...k, tags: { ...k.tags } };
  }

  listKeys(filter: KeyListFilter = {}): KeyRecord[] {
    const now = this.#now();
    const alg = filter.algorithm === undefined ? undefined : compactAlgorithmName(filter.algorithm);
    const out: KeyRecord[] = [];
    for (const k of this.#keys.values()) {
      if (filter.state !== undefined && k.state !== filter.state) continue;
      if (alg !== undefined && compactAlgorithmName(k.algorithm) !== alg) continue;
      if (filter.owner !== undefined && k.owner !== filter.owner) continue;
      if (filter.backend !== undefined && k.backend !== filter.backend) continue;
      if (filter.key_type !== undefined && k.key_type !== filter.key_type) continue;
      if (filter.expiringWithinDays !== undefined) {
        if (k.expires_at === null || k.expires_at < now || k.expires_at > now + filter.expiringWithinDays * MS_PER_DAY) continue;
      }
      out.push({ ...k, tags: { ...k.tags } });
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

  /** Running total of a derived counter (tests and the CLI summary). */
  total(metricId: string, keyId: string): number {
    return this.#totals.get(metricId + SEP + keyId) ?? 0;
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

  #tagsOf(key: KeyRecord): Tags {
    let tags = this.#seriesTags.get(key.key_id);
    if (tags === undefined) {
      tags = { key_id: key.key_id, key_type: key.key_type, algorithm: key.algorithm, backend: key.backend, owner: key.owner };
      this.#seriesTags.set(key.key_id, tags);
    }
    return tags;
  }

  #budgetOf(key: KeyRecord): OperationBudget | null {
    let b = this.#budgetByAlgorithm.get(key.algorithm);
    if (b === undefined) {
      b = budgetFor(this.policy, key.algorithm);
      this.#budgetByAlgorithm.set(key.algorithm, b);
    }
    return b;
  }

  /** Adds to a running total and appends the new total as a point; remembers the old one for rollback. */
  #count(batch: SeriesBatch, undo: Map<string, number>, metricId: string, key: KeyRecord, timestamp: number, n: number): void {
    const k = metricId + SEP + key.key_id;
    const before = this.#totals.get(k) ?? 0;
    if (!undo.has(k)) undo.set(k, before);
    const after = before + n;
    this.#totals.set(k, after);
    batch.add(k + SEP + key.algorithm + SEP + key.owner, metricId, 'counter', this.#tagsOf(key), timestamp, after);
  }

  async #applyEvents(events: KeyEvent[]): Promise<{ accepted: number; violations: number }> {
    const now = this.#now();
    const ordered = isSortedByTime(events) ? events : [...events].sort((a, b) => a.timestamp - b.timestamp);
    const batch = new SeriesBatch();
    const undo = new Map<string, number>();
    const violations: ViolationRecord[] = [];
    const changed = new Map<string, KeyRecord>();
    const lastEventAt = new Map<string, KeyEvent>();

    for (const e of ordered) {
      const key = this.#keys.get(e.key_id)!;
      lastEventAt.set(e.key_id, e);
      this.#count(batch, undo, EVENT_COUNTER_METRIC[e.event_type], key, e.timestamp, e.count);
      for (const f of eventUseFindings(this.policy, key, e)) {
        violations.push(violationOf(key.key_id, f, e.timestamp, e.count, e));
        this.#count(batch, undo, EVENT_COUNTER_METRIC.policy_violation, key, e.timestamp, e.count);
      }
      if (e.event_type === 'policy_violation') {
        violations.push(violationOf(key.key_id, { rule: 'reported', reason: e.reason ?? 'reported by client' }, e.timestamp, e.count, e));
      }
      if (this.#applyStateChange(key, e, now)) changed.set(key.key_id, key);
    }

    const opened: Array<{ keyId: string; rule: string; since: number }> = [];
    const closed: Array<{ keyId: string; rule: string }> = [];
    for (const [keyId, e] of lastEventAt) {
      const key = this.#keys.get(keyId)!;
      this.#checkConditions(key, now, e.timestamp, e, batch, undo, violations, opened, closed);
    }

    this.#store.commit({ keys: changed.values(), violations, openedConditions: opened, closedConditions: closed });
    try {
      await this.#system.collectSeries(batch.columns());
    } catch (err) {
      for (const [k, before] of undo) this.#totals.set(k, before);
      throw err;
    }
    return { accepted: events.length, violations: violations.length };
  }

  /** Returns whether the key record changed. */
  #applyStateChange(key: KeyRecord, e: KeyEvent, now: number): boolean {
    const budget = this.#budgetOf(key);
    let changed = false;
    if (budget !== null && e.outcome === 'success' && budget.eventTypes.includes(e.event_type)) {
      key.operations_since_rotation += e.count;
      changed = true;
    }
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
    if (changed) key.updated_at = now;
    return changed;
  }

  #checkConditions(
    key: KeyRecord, now: number, at: number, event: KeyEvent | null, batch: SeriesBatch, undo: Map<string, number>,
    violations: ViolationRecord[], opened: Array<{ keyId: string; rule: string; since: number }>, closed: Array<{ keyId: string; rule: string }>,
  ): void {
    const findings = keyConditionFindings(this.policy, key, now);
    const holding = new Set<string>();
    for (const f of findings) {
      const ok = key.key_id + SEP + f.rule;
      holding.add(ok);
      if (this.#open.has(ok)) continue;
      this.#open.set(ok, at);
      opened.push({ keyId: key.key_id, rule: f.rule, since: at });
      violations.push(violationOf(key.key_id, f, at, 1, event));
      this.#count(batch, undo, EVENT_COUNTER_METRIC.policy_violation, key, at, 1);
    }
    for (const ok of this.#open.keys()) {
      if (!ok.startsWith(key.key_id + SEP) || holding.has(ok)) continue;
      this.#open.delete(ok);
      closed.push({ keyId: key.key_id, rule: ok.slice(key.key_id.length + 1) });
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
    const batch = new SeriesBatch();
    const undo = new Map<string, number>();
    const violations: ViolationRecord[] = [];
    const opened: Array<{ keyId: string; rule: string; since: number }> = [];
    const closed: Array<{ keyId: string; rule: string }> = [];
    const changed: KeyRecord[] = [];
    const activeByAlgorithm = new Map<string, number>();
    let expired = 0;

    for (const key of this.#keys.values()) {
      if (key.state === 'active' && key.expires_at !== null && key.expires_at <= now) {
        key.state = 'expired';
        key.updated_at = now;
        changed.push(key);
        expired++;
        this.#count(batch, undo, EVENT_COUNTER_METRIC.expired, key, key.expires_at, 1);
      }
      this.#checkConditions(key, now, now, null, batch, undo, violations, opened, closed);
      if (!activeByAlgorithm.has(key.algorithm)) activeByAlgorithm.set(key.algorithm, 0);
      if (key.state === 'active') activeByAlgorithm.set(key.algorithm, activeByAlgorithm.get(key.algorithm)! + 1);
      const tags = this.#tagsOf(key);
      const base = key.key_id + SEP + key.algorithm + SEP + key.owner + SEP;
      batch.add(base + 'age', KEY_GAUGE_METRICS.ageDays, 'gauge', tags, now, keyAgeDays(key, now));
      const untilExpiry = daysUntilExpiry(key, now);
      if (untilExpiry !== null) batch.add(base + 'exp', KEY_GAUGE_METRICS.daysUntilExpiry, 'gauge', tags, now, untilExpiry);
      const overdue = key.state === 'active' && isRotationOverdue(key, now, this.policy.defaultRotationPeriodDays);
      batch.add(base + 'rot', KEY_GAUGE_METRICS.rotationOverdue, 'gauge', tags, now, overdue ? 1 : 0);
    }
    for (const [algorithm, n] of activeByAlgorithm) {
      batch.add(`active${SEP}${algorithm}`, KEY_GAUGE_METRICS.activeByAlgorithm, 'gauge', { algorithm }, now, n);
    }
    this.#store.commit({ keys: changed, violations, openedConditions: opened, closedConditions: closed });
    const columns = batch.columns();
    try {
      if (columns.length > 0) await this.#system.collectSeries(columns);
    } catch (err) {
      for (const [k, before] of undo) this.#totals.set(k, before);
      throw err;
    }
    return { keys: this.#keys.size, expired, violations: violations.length, points: batch.points };
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

  /** Stops the periodic evaluation, waits for the batch in flight and closes keys.db. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#chain;
    this.#store.close();
  }
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

export { validateKeyId };
