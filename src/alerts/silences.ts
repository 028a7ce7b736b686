/**
 * Silences: matchers (rule, priority, tags) over a time range that keep matching alerts of
 * their tenant from being announced while leaving them visible. Expiring a silence ends it now
 * and keeps it for the record; the store prunes it after the retention period. Silences that
 * have not ended count against the tenant's `silences` quota.
 */
import { randomUUID } from 'node:crypto';
import type { Tags } from '../model/metric.js';
import { isStorableTime, timeInputMs } from '../model/time.js';
import { QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';
import type { AlertRecord } from './alert.js';
import type { AlertStore } from './alert_store.js';
import { AlertingError } from './alerting_error.js';
import { PRIORITIES, type Priority } from './rule.js';

export interface SilenceMatchers {
  rule_id?: string;
  priority?: Priority;
  /** Every key must be present on the alert with this value. */
  tags?: Tags;
}

export interface Silence {
  tenant: string;
  silence_id: string;
  matchers: SilenceMatchers;
  starts_at: number;
  ends_at: number;
  created_by: string;
  comment: string;
  created_at: number;
}

export type SilenceState = 'pending' | 'active' | 'expired';

export function silenceState(s: Silence, nowMs: number): SilenceState {
  if (nowMs < s.starts_at) return 'pending';
  return nowMs < s.ends_at ? 'active' : 'expired';
}

export function silenceMatches(s: Silence, a: AlertRecord, nowMs: number): boolean {
  if (nowMs < s.starts_at || nowMs >= s.ends_at) return false;
  const m = s.matchers;
  if (m.rule_id !== undefined && m.rule_id !== a.rule_id) return false;
  if (m.priority !== undefined && m.priority !== a.priority) return false;
  if (m.tags !== undefined) {
    for (const k in m.tags) if (a.tags[k] !== m.tags[k]) return false;
  }
  return true;
}

/** The silence as the API shows it (no tenant: the caller's own). */
export function silenceView(s: Silence, nowMs: number): Record<string, unknown> {
  return {
    silence_id: s.silence_id,
    matchers: s.matchers,
    starts_at: new Date(s.starts_at).toISOString(),
    ends_at: new Date(s.ends_at).toISOString(),
    created_by: s.created_by,
    comment: s.comment,
    created_at: new Date(s.created_at).toISOString(),
    state: silenceState(s, nowMs),
  };
}

export interface SilenceRegistryDeps {
  store(): AlertStore;
  now(): number;
  quotas: QuotaLookup;
}

export class SilenceRegistry {
  /** Tenant → silence id → silence. */
  readonly #silences = new Map<string, Map<string, Silence>>();
  readonly #deps: SilenceRegistryDeps;

  constructor(deps: SilenceRegistryDeps) {
    this.#deps = deps;
  }

  restore(): void {
    for (const s of this.#deps.store().loadSilences()) this.#of(s.tenant).set(s.silence_id, s);
  }

  clear(): void {
    this.#silences.clear();
  }

  /** Forgets silences that ended before `beforeMs` (the store prunes their rows). */
  prune(beforeMs: number): void {
    for (const own of this.#silences.values()) for (const [id, s] of own) if (s.ends_at < beforeMs) own.delete(id);
  }

  /** True when a silence of the alert's tenant matches it now. */
  isSilenced(rec: AlertRecord, now: number): boolean {
    const own = this.#silences.get(rec.tenant);
    if (own) for (const s of own.values()) if (silenceMatches(s, rec, now)) return true;
    return false;
  }

  #of(tenant: string): Map<string, Silence> {
    let m = this.#silences.get(tenant);
    if (!m) this.#silences.set(tenant, (m = new Map()));
    return m;
  }

  /**
   * Accepts `{ matchers: {rule_id?, priority?, tags?} }` or the same fields at top level, plus
   * starts_at (default now), ends_at or duration_seconds, created_by, comment.
   */
  add(tenant: string, input: unknown): Record<string, unknown> {
    const store = this.#deps.store();
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new AlertingError('silence must be an object', 400);
    const body = input as Record<string, unknown>;
    const matchers = parseMatchers((typeof body.matchers === 'object' && body.matchers !== null ? body.matchers : body) as Record<string, unknown>);
    const now = this.#deps.now();
    const startsAt = body.starts_at === undefined ? now : parseSilenceTime('starts_at', body.starts_at);
    let endsAt: number;
    if (body.ends_at !== undefined) endsAt = parseSilenceTime('ends_at', body.ends_at);
    else if (typeof body.duration_seconds === 'number' && body.duration_seconds > 0 && Number.isFinite(body.duration_seconds)) endsAt = startsAt + body.duration_seconds * 1000;
    else throw new AlertingError(`silence needs ends_at or a positive duration_seconds; got ${JSON.stringify(body.duration_seconds)}`, 400);
    if (endsAt <= startsAt) throw new AlertingError(`silence.ends_at=${new Date(endsAt).toISOString()} must be after starts_at=${new Date(startsAt).toISOString()}`, 400);
    const createdBy = body.created_by ?? 'api';
    const comment = body.comment ?? '';
    if (typeof createdBy !== 'string' || createdBy.length > 200) throw new AlertingError(`silence.created_by=${JSON.stringify(createdBy)} must be a string of at most 200 characters`, 400);
    if (typeof comment !== 'string' || comment.length > 2000) throw new AlertingError('silence.comment must be a string of at most 2000 characters', 400);
    const own = this.#of(tenant);
    let running = 0;
    for (const other of own.values()) if (other.ends_at > now) running++;
    const limit = this.#deps.quotas(tenant).silences;
    if (running >= limit) throw new QuotaExceededError(tenant, 'silences', limit, `the tenant has ${running} silences that have not ended`);
    const s: Silence = { tenant, silence_id: randomUUID(), matchers, starts_at: startsAt, ends_at: endsAt, created_by: createdBy, comment, created_at: now };
    store.saveSilence(s);
    store.appendHistory([{ tenant, at: now, event: 'silence_created', alert_id: null, rule_id: matchers.rule_id ?? null, details: { silence_id: s.silence_id, matchers } }]);
    own.set(s.silence_id, s);
    return silenceView(s, now);
  }

  list(tenant: string, includeExpired = false): Array<Record<string, unknown>> {
    const now = this.#deps.now();
    return [...(this.#silences.get(tenant)?.values() ?? [])]
      .filter((s) => includeExpired || s.ends_at > now)
      .sort((a, b) => a.starts_at - b.starts_at)
      .map((s) => silenceView(s, now));
  }

  /** Expires the silence now (kept for the record). */
  expire(tenant: string, silenceId: string): Record<string, unknown> {
    const store = this.#deps.store();
    const s = this.#silences.get(tenant)?.get(silenceId);
    if (!s) throw new AlertingError(`silence ${JSON.stringify(silenceId)} not found`, 404);
    const now = this.#deps.now();
    if (s.ends_at > now) {
      s.ends_at = Math.max(now, s.starts_at);
      store.saveSilence(s);
      store.appendHistory([{ tenant, at: now, event: 'silence_expired', alert_id: null, rule_id: s.matchers.rule_id ?? null, details: { silence_id: s.silence_id } }]);
    }
    return silenceView(s, now);
  }
}

function parseMatchers(m: Record<string, unknown>): SilenceMatchers {
  const matchers: SilenceMatchers = {};
  if (m.rule_id !== undefined) {
    if (typeof m.rule_id !== 'string' || m.rule_id === '') throw new AlertingError(`silence.rule_id=${JSON.stringify(m.rule_id)} must be a non-empty string`, 400);
    matchers.rule_id = m.rule_id;
  }
  if (m.priority !== undefined) {
    if (typeof m.priority !== 'string' || !(PRIORITIES as readonly string[]).includes(m.priority)) throw new AlertingError(`silence.priority=${JSON.stringify(m.priority)} must be one of ${PRIORITIES.join(', ')}`, 400);
    matchers.priority = m.priority as Priority;
  }
  if (m.tags !== undefined) {
    if (typeof m.tags !== 'object' || m.tags === null || Array.isArray(m.tags) || Object.values(m.tags).some((v) => typeof v !== 'string')) {
      throw new AlertingError('silence.tags must be an object of string values', 400);
    }
    matchers.tags = { ...(m.tags as Tags) };
  }
  if (Object.keys(matchers).length === 0) throw new AlertingError('silence must have at least one matcher (rule_id, priority or tags)', 400);
  return matchers;
}

/** Epoch ms or ISO-8601 (read as model/time.ts reads every time input: no offset means UTC). */
function parseSilenceTime(field: string, v: unknown): number {
  const ms = typeof v === 'number' || typeof v === 'string' ? timeInputMs(v) : undefined;
  if (ms === undefined || !isStorableTime(ms)) throw new AlertingError(`silence.${field}=${JSON.stringify(v)} must be epoch ms or an ISO-8601 time`, 400);
  return ms;
}
