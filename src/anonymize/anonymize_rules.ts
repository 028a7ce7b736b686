/**
 * The rules of `security.anonymize` and how one tenant's rules rewrite a tag set or a key-event
 * field. A rule is named by a tag key (or key-event field: `actor`, `source_ip`, `reason`) and
 * is one of:
 *
 *   drop         the tag (field) is removed; series that differed only by it become one
 *   hmac         the value becomes a keyed pseudonym `h:<20 hex>` (pseudonym.ts)
 *   truncate_ip  an address keeps its /24 (IPv4) or /48 (IPv6) (ip_truncation.ts); a value that
 *                is not an address is pseudonymized as by `hmac`: it is never kept raw, and the
 *                point is not refused (a refused batch would make a typo in one tag lose data)
 *   keep         the value is stored as sent (to exempt a field in one tenant's override)
 *
 * Main.json, either the flat form of the issue (every value a rule) or the form with overrides:
 *
 *   "anonymize": { "source_ip": "truncate_ip", "actor": "hmac", "email": "drop" }
 *   "anonymize": { "rules": { "source_ip": "truncate_ip" },
 *                  "tenants": { "acme": { "source_ip": "keep", "user": "hmac" } } }
 *
 * A tenant's map is laid over `rules` field by field. Pure functions: the key is handed in.
 */
import { TAG_KEY_PATTERN, type Tags } from '../model/metric.js';
import { TENANT_NAME_PATTERN } from '../model/tenant.js';
import { isPseudonym, pseudonym } from './pseudonym.js';
import { truncateIp } from './ip_truncation.js';

export const ANONYMIZE_RULES = ['drop', 'hmac', 'truncate_ip', 'keep'] as const;
export type AnonymizeRule = (typeof ANONYMIZE_RULES)[number];

/** Most rules in one map, and most tenant overrides: config is read once, but stays bounded. */
export const MAX_ANONYMIZE_RULES = 256;
export const MAX_ANONYMIZE_TENANTS = 10_000;
/** Pseudonyms remembered per tenant (a few MB at most); the memo starts over when full. */
const PSEUDONYM_MEMO_ENTRIES = 65_536;

export interface AnonymizeSettings {
  /** Field → rule, for every tenant. */
  rules: Readonly<Record<string, AnonymizeRule>>;
  /** Tenant → its fields' rules, laid over `rules`. */
  tenants: Readonly<Record<string, Readonly<Record<string, AnonymizeRule>>>>;
}

export const NO_ANONYMIZATION: AnonymizeSettings = Object.freeze({ rules: Object.freeze({}), tenants: Object.freeze({}) });

/** A setting that is not valid; `field` is the full key (`security.anonymize.rules.ip`). */
export class AnonymizeConfigError extends Error {
  constructor(readonly field: string, readonly value: unknown, readonly rule: string) {
    super(`${field}=${JSON.stringify(value) ?? String(value)} ${rule}`);
    this.name = 'AnonymizeConfigError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function ruleMap(field: string, raw: unknown): Record<string, AnonymizeRule> {
  if (!isObject(raw)) throw new AnonymizeConfigError(field, raw, 'must be an object mapping tag keys to rules');
  const names = Object.keys(raw);
  if (names.length > MAX_ANONYMIZE_RULES) throw new AnonymizeConfigError(field, `(${names.length} rules)`, `must hold at most ${MAX_ANONYMIZE_RULES} rules`);
  const out: Record<string, AnonymizeRule> = Object.create(null) as Record<string, AnonymizeRule>;
  for (const name of names) {
    if (!TAG_KEY_PATTERN.test(name)) throw new AnonymizeConfigError(`${field}.${name.slice(0, 80)}`, name, `is not a tag key or key-event field: must match ${TAG_KEY_PATTERN.source}`);
    const rule = raw[name];
    if (typeof rule !== 'string' || !(ANONYMIZE_RULES as readonly string[]).includes(rule)) {
      throw new AnonymizeConfigError(`${field}.${name}`, rule, `must be one of ${ANONYMIZE_RULES.join(', ')}`);
    }
    out[name] = rule as AnonymizeRule;
  }
  return out;
}

/** Parses `security.anonymize` (either form, see the module comment). */
export function parseAnonymizeSettings(raw: unknown, field = 'security.anonymize'): AnonymizeSettings {
  if (raw === undefined || raw === null) return NO_ANONYMIZATION;
  if (!isObject(raw)) throw new AnonymizeConfigError(field, raw, 'must be an object');
  // Rules are strings, so an object value can only mean the form with overrides.
  const structured = Object.values(raw).some(isObject);
  if (!structured) return { rules: ruleMap(field, raw), tenants: {} };
  for (const name of Object.keys(raw)) {
    if (name !== 'rules' && name !== 'tenants') {
      throw new AnonymizeConfigError(`${field}.${name}`, raw[name], 'is not a setting of the form with overrides; expected rules, tenants');
    }
  }
  const rules = raw.rules === undefined ? {} : ruleMap(`${field}.rules`, raw.rules);
  const tenants: Record<string, Record<string, AnonymizeRule>> = {};
  if (raw.tenants !== undefined) {
    if (!isObject(raw.tenants)) throw new AnonymizeConfigError(`${field}.tenants`, raw.tenants, 'must be an object mapping tenant names to rule maps');
    const names = Object.keys(raw.tenants);
    if (names.length > MAX_ANONYMIZE_TENANTS) throw new AnonymizeConfigError(`${field}.tenants`, `(${names.length} tenants)`, `must hold at most ${MAX_ANONYMIZE_TENANTS} tenants`);
    for (const tenant of names) {
      if (!TENANT_NAME_PATTERN.test(tenant)) throw new AnonymizeConfigError(`${field}.tenants.${tenant.slice(0, 80)}`, tenant, `is not a tenant name: must match ${TENANT_NAME_PATTERN.source}`);
      tenants[tenant] = ruleMap(`${field}.tenants.${tenant}`, raw.tenants[tenant]);
    }
  }
  return { rules, tenants };
}

/** The settings as main.json spells them (the form with overrides when there are any). */
export function renderAnonymizeSettings(s: AnonymizeSettings): Record<string, unknown> {
  return Object.keys(s.tenants).length === 0 ? { ...s.rules } : { rules: { ...s.rules }, tenants: { ...s.tenants } };
}

/** `tenant`'s effective rules, without `keep` entries (which do nothing). */
export function rulesOf(s: AnonymizeSettings, tenant: string): Map<string, AnonymizeRule> {
  const merged = new Map<string, AnonymizeRule>(Object.entries(s.rules));
  const own = Object.prototype.hasOwnProperty.call(s.tenants, tenant) ? s.tenants[tenant] : undefined;
  if (own !== undefined) for (const [name, rule] of Object.entries(own)) merged.set(name, rule);
  for (const [name, rule] of merged) if (rule === 'keep') merged.delete(name);
  return merged;
}

/** Whether any tenant's rules need the pseudonym key (hmac, or truncate_ip's fallback). */
export function needsKey(s: AnonymizeSettings): boolean {
  const uses = (m: Readonly<Record<string, AnonymizeRule>>): boolean => Object.values(m).some((r) => r === 'hmac' || r === 'truncate_ip');
  return uses(s.rules) || Object.values(s.tenants).some(uses);
}

/**
 * One tenant's rules, applied. Built once per tenant; `tags` is called when a tag set is seen
 * for the first time (series creation), `field` for key-event fields.
 */
export class Anonymizer {
  readonly #rules: ReadonlyMap<string, AnonymizeRule>;
  readonly #key: Buffer | undefined;
  readonly #memo = new Map<string, string>();

  /** @param key the tenant's pseudonym key (tenantPseudonymKey); required when a rule is hmac or truncate_ip */
  constructor(rules: ReadonlyMap<string, AnonymizeRule>, key: Buffer | undefined) {
    for (const [name, rule] of rules) {
      if ((rule === 'hmac' || rule === 'truncate_ip') && key === undefined) throw new Error(`BUG: anonymize rule ${name}=${rule} needs a pseudonym key and none was given`);
    }
    this.#rules = rules;
    this.#key = key;
  }

  /** Whether any rule changes anything (a tenant with none costs nothing at ingest). */
  get active(): boolean {
    return this.#rules.size > 0;
  }

  /** `value` under the rule for `name`: the stored value, or undefined when the rule is drop. */
  field(name: string, value: string): string | undefined {
    const rule = this.#rules.get(name);
    if (rule === undefined) return value;
    return this.#apply(rule, value);
  }

  /**
   * `tags` with the rules applied; the same object when no rule names any of its keys (so the
   * caller can tell nothing changed by identity). The result is frozen.
   */
  tags(tags: Tags): Tags {
    let out: Record<string, string> | undefined;
    for (const k in tags) {
      const rule = this.#rules.get(k);
      if (rule === undefined) continue;
      out ??= { ...tags };
      const v = this.#apply(rule, tags[k]!);
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
    return out === undefined ? tags : Object.freeze(out);
  }

  #apply(rule: AnonymizeRule, value: string): string | undefined {
    switch (rule) {
      case 'drop':
        return undefined;
      case 'keep':
        return value;
      case 'truncate_ip':
        return truncateIp(value) ?? this.#pseudonym(value);
      case 'hmac':
        return this.#pseudonym(value);
    }
  }

  #pseudonym(value: string): string {
    if (isPseudonym(value)) return value;
    let p = this.#memo.get(value);
    if (p === undefined) {
      if (this.#memo.size >= PSEUDONYM_MEMO_ENTRIES) this.#memo.clear();
      p = pseudonym(this.#key!, value);
      this.#memo.set(value, p);
    }
    return p;
  }
}
