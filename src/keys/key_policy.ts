/**
 * Key policies: the rules of main.json's `key_policies` section, checked on every event batch
 * and periodically. Two kinds of rule:
 *
 * - conditions of a key (too old, rotation overdue, algorithm not allowed or too weak,
 *   operation budget spent): true for a while; recorded once when they become true and again
 *   only after they cleared, so a periodic check does not repeat the same violation forever;
 * - offending uses (an event on a revoked/expired/compromised key, an event from a source
 *   outside the allowed networks): recorded for every offending event.
 *
 * main.json example (every field optional; defaults shown in DEFAULT_KEY_POLICY_JSON):
 * ```json
 * "key_policies": {
 *   "max_age_days": 730,
 *   "default_rotation_period_days": 365,
 *   "allowed_algorithms": ["AES-256-GCM", "RSA-3072", "ECDSA-P256", "Ed25519", "HMAC-SHA256"],
 *   "forbidden_algorithms": ["3DES", "DES", "RC4", "HMAC-SHA1", "HMAC-MD5"],
 *   "min_key_bits": { "RSA": 2048, "AES": 128, "ECDSA": 256 },
 *   "operation_budgets": [{ "algorithms": ["AES*GCM*"], "event_types": ["encrypt"], "max_operations": 4294967296 }],
 *   "allowed_networks": ["10.0.0.0/8", "127.0.0.1/32", "::1/128"],
 *   "check_interval_seconds": 60
 * }
 * ```
 */
import { BlockList, isIP } from 'node:net';
import { describeValue } from '../model/metric.js';
import { Glob, GlobError, MAX_GLOB_CHARS } from '../text/glob.js';
import { algorithmStrength, compactAlgorithmName } from './algorithm_strength.js';
import { KEY_EVENT_TYPES, KEY_USE_EVENTS, type KeyEvent, type KeyEventType } from './key_events.js';
import { isRotationOverdue, keyAgeDays, UNUSABLE_KEY_STATES, type KeyRecord } from './key_model.js';

export const POLICY_RULES = [
  'max_age', 'rotation_overdue', 'algorithm_not_allowed', 'weak_algorithm', 'operation_budget',
  'inactive_key_use', 'source_network', 'reported',
] as const;
export type PolicyRule = (typeof POLICY_RULES)[number];

/** Rules that describe a lasting condition of a key (deduplicated while they hold). */
export const CONDITION_RULES: ReadonlySet<PolicyRule> = new Set<PolicyRule>([
  'max_age', 'rotation_overdue', 'algorithm_not_allowed', 'weak_algorithm', 'operation_budget',
]);

export interface PolicyFinding {
  rule: PolicyRule;
  reason: string;
}

export interface OperationBudget {
  /**
   * Globs (`*`, `?`) over compacted algorithm names (case and `-_/.` separators ignored),
   * matched in linear time: they come from configuration, and a backtracking RegExp built
   * from them could be made to run for seconds.
   */
  algorithms: Glob[];
  eventTypes: KeyEventType[];
  maxOperations: number;
}

export interface KeyPolicy {
  maxAgeDays: number | null;
  defaultRotationPeriodDays: number | null;
  /** Compacted names; null allows any algorithm that is not forbidden or too weak. */
  allowedAlgorithms: string[] | null;
  /** Compacted names or families (`3DES`, `DES`, `RC4`, `HMACSHA1`). */
  forbiddenAlgorithms: string[];
  minKeyBits: Record<string, number>;
  operationBudgets: OperationBudget[];
  /** As configured, for display; `allowedNetworkList` does the matching. */
  allowedNetworks: string[] | null;
  allowedNetworkList: BlockList | null;
  checkIntervalMs: number;
}

/**
 * Defaults follow NIST SP 800-131A (no 3DES/DES, RSA ≥ 2048, no SHA-1 in HMAC for new keys)
 * and SP 800-38D §8.3: with random 96-bit nonces one AES-GCM key should see at most 2^32
 * encryptions.
 */
export const DEFAULT_KEY_POLICY_JSON = {
  max_age_days: null,
  default_rotation_period_days: null,
  allowed_algorithms: null,
  forbidden_algorithms: ['3DES', 'DES', 'RC4', 'HMAC-SHA1', 'HMAC-MD5'],
  min_key_bits: { RSA: 2048, AES: 128, ECDSA: 256 },
  operation_budgets: [{ algorithms: ['AES*GCM*', 'SYMMETRIC_DEFAULT'], event_types: ['encrypt'], max_operations: 2 ** 32 }],
  allowed_networks: null,
  check_interval_seconds: 60,
} as const;

export class KeyPolicyConfigError extends Error {
  constructor(message: string, readonly field: string, readonly value: unknown) {
    super(message);
    this.name = 'KeyPolicyConfigError';
  }
}

function fail(path: string, value: unknown, rule: string): never {
  throw new KeyPolicyConfigError(`${path}=${describeValue(value)} ${rule}`, path, value);
}

function positiveOrNull(path: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(path, value, 'must be a positive number or null');
  return value;
}

function stringList(path: string, value: unknown): string[] {
  if (!Array.isArray(value)) fail(path, value, 'must be an array of strings');
  return value.map((v, i) => {
    if (typeof v !== 'string' || v.length === 0) fail(`${path}[${i}]`, v, 'must be a non-empty string');
    return v;
  });
}

const KNOWN_FIELDS = new Set(Object.keys(DEFAULT_KEY_POLICY_JSON));

/** Reads main.json's `key_policies` section (undefined: all defaults). */
export function parseKeyPolicy(section: unknown, path = 'key_policies'): KeyPolicy {
  const s = section === undefined ? {} : section;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) fail(path, s, 'must be an object');
  const obj = s as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!KNOWN_FIELDS.has(k)) fail(`${path}.${k}`, obj[k], `is not a known setting (known: ${[...KNOWN_FIELDS].join(', ')})`);
  }
  const get = <K extends keyof typeof DEFAULT_KEY_POLICY_JSON>(k: K): unknown => (obj[k] === undefined ? DEFAULT_KEY_POLICY_JSON[k] : obj[k]);

  const allowed = get('allowed_algorithms');
  const minBitsRaw = get('min_key_bits');
  if (typeof minBitsRaw !== 'object' || minBitsRaw === null || Array.isArray(minBitsRaw)) fail(`${path}.min_key_bits`, minBitsRaw, 'must be an object of family → bits');
  const minKeyBits: Record<string, number> = {};
  for (const [family, bits] of Object.entries(minBitsRaw)) {
    if (typeof bits !== 'number' || !Number.isInteger(bits) || bits <= 0) fail(`${path}.min_key_bits.${family}`, bits, 'must be a positive integer number of bits');
    minKeyBits[family.toUpperCase()] = bits;
  }

  const budgetsRaw = get('operation_budgets');
  if (!Array.isArray(budgetsRaw)) fail(`${path}.operation_budgets`, budgetsRaw, 'must be an array');
  const operationBudgets = budgetsRaw.map((b, i): OperationBudget => {
    const bp = `${path}.operation_budgets[${i}]`;
    if (typeof b !== 'object' || b === null) fail(bp, b, 'must be an object with algorithms, event_types, max_operations');
    const rec = b as Record<string, unknown>;
    const eventTypes = stringList(`${bp}.event_types`, rec.event_types).map((t, j) => {
      if (!(KEY_EVENT_TYPES as readonly string[]).includes(t)) fail(`${bp}.event_types[${j}]`, t, `must be one of ${KEY_EVENT_TYPES.join(', ')}`);
      return t as KeyEventType;
    });
    const max = rec.max_operations;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > Number.MAX_SAFE_INTEGER) fail(`${bp}.max_operations`, max, 'must be a positive integer');
    const algorithms = stringList(`${bp}.algorithms`, rec.algorithms).map((g, j) => compactGlob(`${bp}.algorithms[${j}]`, g));
    return { algorithms, eventTypes, maxOperations: max };
  });

  const networksRaw = get('allowed_networks');
  let allowedNetworks: string[] | null = null;
  let allowedNetworkList: BlockList | null = null;
  if (networksRaw !== null) {
    allowedNetworks = stringList(`${path}.allowed_networks`, networksRaw);
    allowedNetworkList = new BlockList();
    allowedNetworks.forEach((cidr, i) => addCidr(allowedNetworkList!, cidr, `${path}.allowed_networks[${i}]`));
  }

  const interval = get('check_interval_seconds');
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 1 || interval > 86_400) {
    fail(`${path}.check_interval_seconds`, interval, 'must be a number of seconds in [1, 86400]');
  }

  return {
    maxAgeDays: positiveOrNull(`${path}.max_age_days`, get('max_age_days')),
    defaultRotationPeriodDays: positiveOrNull(`${path}.default_rotation_period_days`, get('default_rotation_period_days')),
    // Each allowed name matches its exact spelling and any spelling of the same family, size
    // and mode, so `AES-256-GCM` also allows Vault's `aes256-gcm96`.
    allowedAlgorithms: allowed === null ? null : stringList(`${path}.allowed_algorithms`, allowed).flatMap((a) => {
      const sig = strengthSignature(a);
      return sig === '' ? [compactAlgorithmName(a)] : [compactAlgorithmName(a), sig];
    }),
    forbiddenAlgorithms: stringList(`${path}.forbidden_algorithms`, get('forbidden_algorithms')).map(compactAlgorithmName),
    minKeyBits,
    operationBudgets,
    allowedNetworks,
    allowedNetworkList,
    checkIntervalMs: interval * 1000,
  };
}

/** `AES/256/GCM`-like identity of a recognised algorithm; '' when the family is unknown. */
function strengthSignature(algorithm: string): string {
  const s = algorithmStrength(algorithm);
  if (s.family === 'UNKNOWN') return '';
  return `${s.family}/${String(s.bits)}/${String(s.mode)}/${String(s.hash)}`;
}

function compactGlob(path: string, pattern: string): Glob {
  try {
    return Glob.compile(pattern.split('*').map(compactAlgorithmName).join('*'));
  } catch (err) {
    if (err instanceof GlobError) fail(path, pattern, `must be a non-empty glob (* and ?) of at most ${MAX_GLOB_CHARS} characters`);
    throw err;
  }
}

function addCidr(list: BlockList, cidr: string, path: string): void {
  const [address, prefixText] = cidr.split('/');
  const family = address === undefined ? 0 : isIP(address);
  if (address === undefined || family === 0) fail(path, cidr, 'must be an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/8)');
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const maxPrefix = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix) fail(path, cidr, `must have a prefix length in [0, ${maxPrefix}]`);
  list.addSubnet(address, prefix, type);
}

/**
 * Per-policy memo of answers that depend only on a string (algorithm, source address): an
 * event batch asks the same few questions thousands of times, and BlockList.check allocates
 * a SocketAddress per call (5 % of ingest time in bench/key_events.bench.ts before this).
 */
interface PolicyMemo {
  algorithm: Map<string, PolicyFinding | null>;
  budget: Map<string, OperationBudget | null>;
  source: Map<string, boolean>;
}
const memos = new WeakMap<KeyPolicy, PolicyMemo>();
/** Bound on remembered source addresses; the memo restarts when full. */
const MAX_MEMO_SOURCES = 65_536;

function memoOf(policy: KeyPolicy): PolicyMemo {
  let m = memos.get(policy);
  if (m === undefined) {
    m = { algorithm: new Map(), budget: new Map(), source: new Map() };
    memos.set(policy, m);
  }
  return m;
}

/** Whether `ip` lies in the allowed networks (always true when no list is configured). */
export function isAllowedSource(policy: KeyPolicy, ip: string): boolean {
  if (policy.allowedNetworkList === null) return true;
  const memo = memoOf(policy).source;
  let ok = memo.get(ip);
  if (ok === undefined) {
    if (memo.size >= MAX_MEMO_SOURCES) memo.clear();
    ok = checkSource(policy.allowedNetworkList, ip);
    memo.set(ip, ok);
  }
  return ok;
}

function checkSource(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  if (list.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return true;
  // An IPv4-mapped IPv6 address (::ffff:10.1.2.3, what dual-stack sockets report) is
  // matched against the IPv4 list too.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped !== null && list.check(mapped[1]!, 'ipv4');
}

/** The budget that applies to a key's algorithm, if any (the first that matches). */
export function budgetFor(policy: KeyPolicy, algorithm: string): OperationBudget | null {
  const memo = memoOf(policy).budget;
  let found = memo.get(algorithm);
  if (found === undefined) {
    const name = compactAlgorithmName(algorithm);
    found = policy.operationBudgets.find((b) => b.algorithms.some((g) => g.matches(name))) ?? null;
    memo.set(algorithm, found);
  }
  return found;
}

/** Why the algorithm breaks policy, or null. */
export function algorithmFinding(policy: KeyPolicy, algorithm: string): PolicyFinding | null {
  const memo = memoOf(policy).algorithm;
  let found = memo.get(algorithm);
  if (found === undefined) {
    found = findAlgorithmProblem(policy, algorithm);
    memo.set(algorithm, found);
  }
  return found;
}

function findAlgorithmProblem(policy: KeyPolicy, algorithm: string): PolicyFinding | null {
  const name = compactAlgorithmName(algorithm);
  const strength = algorithmStrength(algorithm);
  const hmacName = strength.family === 'HMAC' && strength.hash !== null ? `HMAC${strength.hash}` : null;
  if (policy.forbiddenAlgorithms.includes(name) || policy.forbiddenAlgorithms.includes(strength.family) ||
      (hmacName !== null && policy.forbiddenAlgorithms.includes(hmacName))) {
    return { rule: 'weak_algorithm', reason: `algorithm ${algorithm} is forbidden (${strength.family}${hmacName !== null ? ` with ${strength.hash}` : ''})` };
  }
  const minBits = policy.minKeyBits[strength.family];
  if (minBits !== undefined && strength.bits !== null && strength.bits < minBits) {
    return { rule: 'weak_algorithm', reason: `algorithm ${algorithm} has ${strength.bits}-bit keys; ${strength.family} needs at least ${minBits}` };
  }
  if (policy.allowedAlgorithms !== null && !policy.allowedAlgorithms.includes(name) && !policy.allowedAlgorithms.includes(strengthSignature(algorithm))) {
    return { rule: 'algorithm_not_allowed', reason: `algorithm ${algorithm} is not in allowed_algorithms` };
  }
  return null;
}

/** Conditions of an active key that break policy now. Retired keys (rotated, revoked …) are not checked. */
export function keyConditionFindings(policy: KeyPolicy, key: KeyRecord, nowMs: number): PolicyFinding[] {
  if (key.state !== 'active') return [];
  const findings: PolicyFinding[] = [];
  const age = keyAgeDays(key, nowMs);
  if (policy.maxAgeDays !== null && age > policy.maxAgeDays) {
    findings.push({ rule: 'max_age', reason: `key is ${age.toFixed(1)} days old; max_age_days is ${policy.maxAgeDays}` });
  }
  if (isRotationOverdue(key, nowMs, policy.defaultRotationPeriodDays)) {
    const period = key.rotation_period_days ?? policy.defaultRotationPeriodDays;
    findings.push({ rule: 'rotation_overdue', reason: `key not rotated for more than its rotation period of ${String(period)} days` });
  }
  const alg = algorithmFinding(policy, key.algorithm);
  if (alg !== null) findings.push(alg);
  const budget = budgetFor(policy, key.algorithm);
  if (budget !== null && key.operations_since_rotation > budget.maxOperations) {
    findings.push({
      rule: 'operation_budget',
      reason: `${key.operations_since_rotation} ${budget.eventTypes.join('/')} operations since last rotation exceed the budget of ${budget.maxOperations} for ${key.algorithm}`,
    });
  }
  return findings;
}

/** Offences of one event against the key as it was when the event happened. */
export function eventUseFindings(policy: KeyPolicy, key: KeyRecord, event: KeyEvent): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  if (KEY_USE_EVENTS.has(event.event_type) && UNUSABLE_KEY_STATES.has(key.state)) {
    findings.push({ rule: 'inactive_key_use', reason: `${event.event_type} on a ${key.state} key` });
  }
  if (event.source_ip !== null && !isAllowedSource(policy, event.source_ip)) {
    findings.push({ rule: 'source_network', reason: `${event.event_type} from ${event.source_ip}, outside allowed_networks ${policy.allowedNetworks!.join(', ')}` });
  }
  return findings;
}
