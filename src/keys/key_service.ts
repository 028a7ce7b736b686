/**
 * The key infrastructure feature, for every tenant of one server: the inventory of registered
 * keys, key events turned into ordinary series, state changes that follow the events, and
 * policy checks (the work itself is in tenant_keys.ts).
 *
 * Tenancy follows the engine's model (MetricsSystem.forTenant): a KeyService is bound to one
 * tenant, and `forTenant(t)` hands out the view of another, sharing keys.db, the policy, the
 * clock and the periodic evaluation. Every inventory and event method acts on the view's
 * tenant only; another tenant's key is "not registered". Points go to
 * `engine.forTenant(tenant)`, keys.db rows carry the tenant.
 *
 * Lifecycle: `KeyService.open(engine, options)` loads keys.db (every tenant) and recovers the
 * running counter totals from the engine; it returns the view of `engine.tenant`. Then any
 * number of calls on any view; `start()` runs the periodic evaluation of every tenant each
 * `policy.checkIntervalMs`; `close()` stops it and closes keys.db. start(), evaluate() and
 * close() act on the whole service whichever view they are called on. The engine stays owned
 * by the caller.
 */
import { join } from 'node:path';
import { HttpError, roleAtLeast, type Principal } from '../http/route.js';
import type { MetricsSystem } from '../model/api.js';
import { describeValue } from '../model/metric.js';
import { TENANT_NAME_PATTERN } from '../model/tenant.js';
import { fixedQuotas, QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';
import { validateKeyEventBatch, type KeyEvent } from './key_events.js';
import {
  applyKeyPatch, KeyValidationError, MAX_KEYS_PER_REQUEST, MS_PER_DAY, validateNewKey, type KeyRecord,
} from './key_model.js';
import { parseKeyPolicy, type KeyPolicy } from './key_policy.js';
import { KEYS_DB_FILE, META_MIN_BACKFILL_TS } from './key_schema.js';
import { KeyStore, type ViolationFilter, type ViolationRecord } from './key_store.js';
import { compactAlgorithmName } from './algorithm_strength.js';
import { TenantKeys, type EvaluationResult, type KeyServiceShared } from './tenant_keys.js';

export type { EvaluationResult } from './tenant_keys.js';

export interface KeyServiceOptions {
  /** Parsed `key_policies` section; default: parseKeyPolicy(undefined). */
  policy?: KeyPolicy;
  /** keys.db location; default `<engine.dataDirectory>/keys.db`. */
  path?: string;
  /** Clock (epoch ms), injectable for tests. */
  now?: () => number;
  /**
   * Window within which a batch's events of one series share a point (the last event's time).
   * Default 1000; 1 keeps one point per distinct millisecond.
   */
  resolutionMs?: number;
  /** Quotas per tenant (`keys`: keys in the tenant's inventory); default fixedQuotas(). */
  quotas?: QuotaLookup;
  /**
   * A tenant's key-event field rewrite (security.anonymize: `actor`, `source_ip`, `reason`),
   * applied to every event right after validation, before policies, violation records and
   * derived series see it; undefined (dropped) becomes null. Default: fields kept as sent.
   */
  anonymizeField?: (tenant: string) => ((name: string, value: string) => string | undefined) | undefined;
}

/** Key-event fields that security.anonymize rules apply to (the others are ids, types, counts, times). */
export const ANONYMIZED_EVENT_FIELDS = ['actor', 'source_ip', 'reason'] as const;

function anonymizeEvents(events: KeyEvent[], rewrite: (name: string, value: string) => string | undefined): void {
  for (const e of events) {
    for (const name of ANONYMIZED_EVENT_FIELDS) {
      const v = e[name];
      if (v !== null) e[name] = rewrite(name, v) ?? null;
    }
  }
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

export class KeyNotFoundError extends Error {
  constructor(readonly keyId: string) {
    super(`key_id=${describeValue(keyId)} is not a registered key`);
    this.name = 'KeyNotFoundError';
  }
}

export class KeyConflictError extends Error {
  constructor(readonly keyId: string) {
    super(`key_id=${JSON.stringify(keyId)} is already registered (use PATCH /api/v1/keys/{key_id} to change it)`);
    this.name = 'KeyConflictError';
  }
}

/** What every view of one service shares. */
class KeyServiceCore implements KeyServiceShared {
  readonly tenants = new Map<string, TenantKeys>();
  /** One view per tenant asked for (KeyService.#viewOf). */
  readonly views = new Map<string, KeyService>();
  timer: NodeJS.Timeout | null = null;
  closed = false;

  constructor(
    readonly engine: MetricsSystem,
    readonly store: KeyStore,
    readonly policy: KeyPolicy,
    readonly now: () => number,
    readonly resolutionMs: number,
    readonly quotas: QuotaLookup,
    /** min_backfill_ts per tenant as loaded; read when a tenant's state is created. */
    readonly minBackfill: Map<string, number>,
    readonly anonymizeField: KeyServiceOptions['anonymizeField'] = undefined,
  ) {}

  stateOf(tenant: string): TenantKeys {
    let state = this.tenants.get(tenant);
    if (state === undefined) {
      const engine = tenant === this.engine.tenant ? this.engine : this.engine.forTenant(tenant);
      state = new TenantKeys(tenant, engine, this, this.minBackfill.get(tenant) ?? null);
      this.tenants.set(tenant, state);
    }
    return state;
  }
}

export class KeyService {
  readonly #core: KeyServiceCore;
  /** The tenant whose keys this view reads and writes. */
  readonly tenant: string;
  #state: TenantKeys | undefined;

  private constructor(core: KeyServiceCore, tenant: string) {
    this.#core = core;
    this.tenant = tenant;
  }

  static #viewOf(core: KeyServiceCore, tenant: string): KeyService {
    let view = core.views.get(tenant);
    if (view === undefined) {
      if (typeof tenant !== 'string' || !TENANT_NAME_PATTERN.test(tenant)) {
        throw new RangeError(`tenant=${JSON.stringify(tenant)?.slice(0, 200)} must match ${TENANT_NAME_PATTERN.source}`);
      }
      view = new KeyService(core, tenant);
      core.views.set(tenant, view);
    }
    return view;
  }

  static async open(engine: MetricsSystem, options: KeyServiceOptions = {}): Promise<KeyService> {
    const resolutionMs = options.resolutionMs ?? 1000;
    if (!Number.isInteger(resolutionMs) || resolutionMs < 1) throw new RangeError(`options.resolutionMs=${resolutionMs} must be a positive integer`);
    const store = new KeyStore(options.path ?? join(engine.dataDirectory, KEYS_DB_FILE));
    try {
      const core = new KeyServiceCore(
        engine, store, options.policy ?? parseKeyPolicy(undefined), options.now ?? Date.now, resolutionMs,
        options.quotas ?? fixedQuotas(), store.metaByTenant(META_MIN_BACKFILL_TS), options.anonymizeField,
      );
      for (const { tenant, record } of store.loadKeys()) core.stateOf(tenant).add(record);
      for (const o of store.loadOpenConditions()) core.tenants.get(o.tenant)?.keys.get(o.key_id)?.open.set(o.rule, o.since);
      // Tenant by tenant: one engine query each (two dozen after a backfill), and only for
      // tenants that have keys.
      for (const state of core.tenants.values()) await state.recoverTotals();
      return KeyService.#viewOf(core, engine.tenant);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /** The view of `tenant` (cached; cheap). RangeError for a name outside TENANT_NAME_PATTERN. */
  forTenant(tenant: string): KeyService {
    return tenant === this.tenant ? this : KeyService.#viewOf(this.#core, tenant);
  }

  get policy(): KeyPolicy {
    return this.#core.policy;
  }

  /** Tenants that have at least one key. */
  tenants(): string[] {
    return [...this.#core.tenants.values()].filter((s) => s.keys.size > 0).map((s) => s.tenant);
  }

  /**
   * Tenant deletion: forgets this tenant's keys in memory. The rows go with the tenant's other
   * key-inventory rows (eraseTenantKeyEvents in key_event_erasure.ts).
   */
  forgetTenant(): number {
    const keys = this.#core.tenants.get(this.tenant)?.keys.size ?? 0;
    this.#core.tenants.delete(this.tenant);
    this.#state = undefined;
    return keys;
  }

  #tenantState(): TenantKeys {
    if (this.#state === undefined) this.#state = this.#core.stateOf(this.tenant);
    return this.#state;
  }

  #open(): TenantKeys {
    if (this.#core.closed) throw new Error('key service is closed');
    return this.#tenantState();
  }

  // ---- inventory -------------------------------------------------------------------------

  #checkQuota(state: TenantKeys, adding: number): void {
    const limit = this.#core.quotas(this.tenant).keys;
    if (state.keys.size + adding > limit) {
      throw new QuotaExceededError(this.tenant, 'keys', limit, `${state.keys.size} keys registered, ${adding} more refused`);
    }
  }

  registerKey(body: unknown): KeyRecord {
    const state = this.#open();
    const key = validateNewKey(body, this.#core.now());
    if (state.keys.has(key.key_id)) throw new KeyConflictError(key.key_id);
    this.#checkQuota(state, 1);
    this.#core.store.commit(this.tenant, { keys: [key], violations: [], openedConditions: [], closedConditions: [] });
    state.add(key);
    return copy(key);
  }

  /**
   * Registers up to MAX_KEYS_PER_REQUEST keys in one keys.db transaction; all or nothing. A
   * bad entry throws a KeyValidationError whose message starts with `keys[i]:`.
   */
  registerKeys(bodies: readonly unknown[]): KeyRecord[] {
    const state = this.#open();
    if (bodies.length > MAX_KEYS_PER_REQUEST) {
      throw new KeyValidationError(`keys=array(${bodies.length}) must hold at most ${MAX_KEYS_PER_REQUEST} keys per request`, 'keys', bodies.length);
    }
    const now = this.#core.now();
    const seen = new Set<string>();
    const keys = bodies.map((body, i) => {
      let key: KeyRecord;
      try {
        key = validateNewKey(body, now);
      } catch (err) {
        if (err instanceof KeyValidationError) throw new KeyValidationError(`keys[${i}]: ${err.message}`, `keys[${i}].${err.field}`, err.value);
        throw err;
      }
      if (state.keys.has(key.key_id) || seen.has(key.key_id)) throw new KeyConflictError(key.key_id);
      seen.add(key.key_id);
      return key;
    });
    this.#checkQuota(state, keys.length);
    this.#core.store.commit(this.tenant, { keys, violations: [], openedConditions: [], closedConditions: [] });
    for (const k of keys) state.add(k);
    return keys.map(copy);
  }

  updateKey(keyId: string, body: unknown): KeyRecord {
    const state = this.#open();
    const rt = state.keys.get(keyId);
    if (rt === undefined) throw new KeyNotFoundError(keyId);
    const next = applyKeyPatch(rt.record, body, this.#core.now());
    this.#core.store.commit(this.tenant, { keys: [next], violations: [], openedConditions: [], closedConditions: [] });
    state.replace(rt, next);
    return copy(next);
  }

  hasKey(keyId: string): boolean {
    return this.#tenantState().keys.has(keyId);
  }

  getKey(keyId: string): KeyRecord | undefined {
    const rt = this.#tenantState().keys.get(keyId);
    return rt === undefined ? undefined : copy(rt.record);
  }

  listKeys(filter: KeyListFilter = {}): KeyRecord[] {
    const now = this.#core.now();
    const alg = filter.algorithm === undefined ? undefined : compactAlgorithmName(filter.algorithm);
    const out: KeyRecord[] = [];
    for (const { record: k } of this.#tenantState().keys.values()) {
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

  /** Keys in this tenant's inventory. */
  get size(): number {
    return this.#tenantState().keys.size;
  }

  /** This tenant's policy violations, newest first. */
  violations(filter: ViolationFilter = {}): ViolationRecord[] {
    this.#open();
    return this.#core.store.violations(this.tenant, filter);
  }

  /** Audit-trail record ids of `source` this tenant already imported (so a re-run import counts nothing twice). */
  importedAmong(source: string, recordIds: Iterable<string>): Set<string> {
    this.#open();
    return this.#core.store.importedAmong(this.tenant, source, recordIds);
  }

  markImported(source: string, recordIds: Iterable<string>): void {
    this.#open();
    this.#core.store.markImported(this.tenant, source, recordIds);
  }

  /** Running total of a derived counter (tests and the CLI summary). */
  total(metricId: string, keyId: string): number {
    return this.#tenantState().total(metricId, keyId);
  }

  // ---- events ----------------------------------------------------------------------------

  /**
   * Validates and applies a batch of key events of this tenant's keys (the body of POST
   * /api/v1/keys/events and the `key_events` WebSocket frame). Refuses the whole batch on the
   * first bad event, naming `key_events[i].field` and the value; resolves once the derived
   * points are durable.
   */
  ingestEvents(items: unknown): Promise<{ accepted: number; violations: number }> {
    let state: TenantKeys;
    let events: KeyEvent[];
    const now = this.#core.now();
    try {
      state = this.#open();
      events = validateKeyEventBatch(items, now, (id) => state.keys.has(id));
      // The one point every event source passes (HTTP, the stream, the Vault and CloudTrail
      // importers): nothing after this holds a raw actor, address or reason.
      const rewrite = this.#core.anonymizeField?.(this.tenant);
      if (rewrite !== undefined) anonymizeEvents(events, rewrite);
    } catch (err) {
      return Promise.reject(err);
    }
    return state.serialized(() => state.applyEvents(events, this.#core.now()));
  }

  // ---- the whole service -----------------------------------------------------------------

  /**
   * Evaluates every tenant that has keys (see TenantKeys.evaluate): expiry, policy conditions,
   * gauges. Tenants run side by side, each after its own batch in flight; a tenant that fails
   * does not stop the others, and the first failure is thrown once all have finished.
   */
  async evaluate(): Promise<EvaluationResult & { tenants: number }> {
    const states = [...this.#core.tenants.values()].filter((s) => s.keys.size > 0);
    const outcomes = await Promise.allSettled(states.map((s) => s.serialized(() => s.evaluate(this.#core.now()))));
    const total = { tenants: states.length, keys: 0, expired: 0, violations: 0, points: 0 };
    const failed: string[] = [];
    let firstError: unknown;
    outcomes.forEach((o, i) => {
      if (o.status === 'rejected') {
        failed.push(states[i]!.tenant);
        firstError ??= o.reason;
        return;
      }
      total.keys += o.value.keys;
      total.expired += o.value.expired;
      total.violations += o.value.violations;
      total.points += o.value.points;
    });
    if (failed.length > 0) {
      const detail = firstError instanceof Error ? firstError.message : String(firstError);
      throw new Error(`key evaluation failed for ${failed.length} tenant(s) (${failed.slice(0, 10).join(', ')}): ${detail}`, { cause: firstError });
    }
    return total;
  }

  /** Runs `evaluate()` every policy.checkIntervalMs; a cycle never overlaps the previous one. */
  start(onError: (err: unknown) => void = (err) => process.emitWarning(`key evaluation failed: ${String(err)}`)): void {
    const core = this.#core;
    if (core.timer !== null || core.closed) return;
    let running = false;
    core.timer = setInterval(() => {
      if (running) return;
      running = true;
      this.evaluate().catch(onError).finally(() => {
        running = false;
      });
    }, core.policy.checkIntervalMs);
    core.timer.unref();
  }

  /** Stops the periodic evaluation, waits for batches in flight, saves budget counters and closes keys.db. */
  async close(): Promise<void> {
    const core = this.#core;
    if (core.closed) return;
    core.closed = true;
    if (core.timer !== null) clearInterval(core.timer);
    core.timer = null;
    await Promise.all([...core.tenants.values()].map((s) => s.idle()));
    const now = core.now();
    for (const s of core.tenants.values()) s.flush(now);
    core.store.close();
  }
}

function copy(k: KeyRecord): KeyRecord {
  return { ...k, tags: { ...k.tags } };
}

/** What the server tells a stream frame handler about the frame (src/server's FrameContext). */
export interface KeyEventFrameContext {
  /** The connection's authenticated caller; absent when the server could not establish one. */
  principal?: Principal | undefined;
  remoteAddress: string;
  seq: unknown;
}

/**
 * The WebSocket `key_events` frame handler: `{seq, key_events: [...]}` hands its array here.
 * The events go to the tenant of the connection's principal; a connection without one, or
 * whose role is below writer, is refused (the server answers with a nack).
 */
export function keyEventIngestor(keys: KeyService): (items: unknown[], ctx: KeyEventFrameContext) => Promise<{ accepted: number }> {
  return async (items, ctx) => {
    const principal = ctx.principal;
    if (principal === undefined) throw new HttpError(401, 'key_events frame refused: the stream connection carries no credentials');
    if (!roleAtLeast(principal.role, 'writer')) {
      throw new HttpError(403, `key_events frame refused: role=${principal.role} of ${principal.id} may not ingest key events (needs writer)`);
    }
    const { accepted } = await keys.forTenant(principal.tenant).ingestEvents(items);
    return { accepted };
  };
}
