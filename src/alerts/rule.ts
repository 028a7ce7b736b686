/**
 * Alert rules: their shape (the seed's snake_case fields, which are also the HTTP API's JSON),
 * defaults, and validation. A refused rule throws RuleValidationError naming the field, the bad
 * value and what is allowed, so `POST /api/v1/alerts/rules` can answer 400 with that message.
 */
import { randomUUID } from 'node:crypto';
import { describeValue, TAG_KEY_PATTERN, type Tags } from '../model/metric.js';
import { Glob, GlobError } from '../text/glob.js';
import { LinearRegex, RegexError } from '../text/linear_regex.js';
import { MAX_BLOCK_SECONDS } from './ip_blocklist.js';
import { isHttpUrl, REDACTED, redactUrl } from './redact.js';

export const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** Aggregations over the trailing window; `last` reads the newest point of each series. */
export const RULE_AGGREGATIONS = ['last', 'avg', 'min', 'max', 'sum', 'count', 'rate'] as const;
export type RuleAggregation = (typeof RULE_AGGREGATIONS)[number];

export const DETECTOR_METHODS = ['auto', 'iforest', 'zscore', 'seasonal', 'changepoint'] as const;

/** How metric_pattern reads: a glob (`*`, `?`, as queries take) or a fully matched RE2 regular expression. */
export const PATTERN_MODES = ['regex', 'glob'] as const;
export type PatternMode = (typeof PATTERN_MODES)[number];

export interface EscalationLevel {
  /** Seconds since the alert fired, while unacknowledged, before this level applies. */
  after_seconds: number;
  channels: string[];
  /** Priority of the alert from this level on; default: one step above the previous one. */
  priority?: Priority;
}

export type RemediationAction =
  /** POST the alert JSON to a URL. */
  | { type: 'webhook'; url: string }
  /**
   * Run an executable named in the alerting configuration (allow-list) with the alert JSON on
   * stdin. Only rules of the configuration file (`alerting.rules`) may carry it.
   */
  | { type: 'command'; command: string }
  /** Deny the source address (tag `ip_tag`, default `source_ip`) at EMMS's own API. */
  | { type: 'block_ip'; duration_seconds: number; ip_tag?: string }
  /** Raise collection frequency and anomaly sensitivity for the alert's series. */
  | { type: 'enhanced_monitoring'; duration_seconds: number };

export const REMEDIATION_TYPES = ['webhook', 'command', 'block_ip', 'enhanced_monitoring'] as const;
export type RemediationType = (typeof REMEDIATION_TYPES)[number];

export interface AlertRule {
  rule_id: string;
  name: string;
  description: string;
  /** Metric ids the rule watches: a glob (`system.cpu.*`) or, with pattern_mode regex, a fully matched regular expression. */
  metric_pattern: string;
  /**
   * `glob` (default, as queries) or `regex` (RE2 syntax, linear time). Rules stored before the
   * default changed carry `regex` explicitly, or no mode at all, which reads as `regex`.
   */
  pattern_mode: PatternMode;
  /** null: anomaly-only rule (requires use_anomaly_detection). */
  threshold_value: number | null;
  comparison: Comparison;
  /** The condition must hold this long before the alert fires. */
  duration_seconds: number;
  priority: Priority;
  /** Fire on the streaming anomaly score; with a threshold too, both must hold. */
  use_anomaly_detection: boolean;
  /** In [0, 1]; higher = more anomalies. */
  ml_sensitivity: number;
  anomaly_method: (typeof DETECTOR_METHODS)[number];
  /** Exact tag filters. */
  tags: Tags;
  aggregation: RuleAggregation;
  /** Trailing window of the aggregation (ignored for `last`). */
  window_seconds: number;
  /** null: one alert per series; [] one alert for all matching series; else per tag values. */
  group_by: string[] | null;
  channels: string[];
  escalation: EscalationLevel[];
  remediation: RemediationAction[];
  labels: Record<string, string>;
  /** Values may use {{value}}, {{threshold}}, {{metric_id}}, {{tags.<key>}}, {{rule_name}}. */
  annotations: Record<string, string>;
  enabled: boolean;
  /** Flap damping: a firing alert resolves only after the condition was false this long. */
  resolve_after_seconds: number;
  /**
   * Failure prediction: when set, the condition is "the forecast crosses threshold_value (by
   * comparison) within horizon_seconds", not the current value (forecast_rule.ts).
   */
  forecast: ForecastCondition | null;
}

export const FORECAST_RULE_METHODS = ['auto', 'holt_winters', 'linear', 'damped_trend'] as const;
/** `expected`: the forecast's mean path crosses; `earliest`: its pessimistic interval bound does. */
export const FORECAST_FIRE_ON = ['expected', 'earliest'] as const;

export interface ForecastCondition {
  horizon_seconds: number;
  /** Bucket size of the history and of the forecast; default 300. */
  interval_seconds: number;
  /** History the forecast is fitted on; default 1000 buckets. */
  lookback_seconds: number;
  method: (typeof FORECAST_RULE_METHODS)[number];
  /** Interval coverage, default 0.95. */
  coverage: number;
  fire_on: (typeof FORECAST_FIRE_ON)[number];
}

/** What callers hand in: name and metric_pattern are required, everything else defaults. */
export type AlertRuleInput = Partial<AlertRule> & { name: string; metric_pattern: string };

export class RuleValidationError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly value: unknown,
  ) {
    super(message);
    this.name = 'RuleValidationError';
  }
}

export const RULE_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
const MAX_DURATION_SECONDS = 366 * 24 * 3600;

export interface RuleValidationContext {
  /** Ids of configured notification channels; a rule naming another one is refused. */
  knownChannels: ReadonlySet<string>;
  /** Used when the input has no resolve_after_seconds. */
  defaultResolveAfterSeconds: number;
  /**
   * Set only for rules of the configuration file: `command` actions are accepted when the
   * command is one this returns true for (the remediation.commands allow-list). API rules
   * never get it, so they cannot carry commands at all.
   */
  isAllowedCommand?: (name: string) => boolean;
}

function fail(field: string, value: unknown, rule: string): never {
  throw new RuleValidationError(`rule.${field}=${describeValue(value)} ${rule}`, field, value);
}

/** The rule as API answers show it: remediation webhook URLs redacted. */
export function ruleView(rule: AlertRule): AlertRule {
  if (!rule.remediation.some((a) => a.type === 'webhook')) return rule;
  return { ...rule, remediation: rule.remediation.map((a) => (a.type === 'webhook' ? { ...a, url: redactUrl(a.url) } : a)) };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonNegativeSeconds(field: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_DURATION_SECONDS) {
    fail(field, v, `must be a number of seconds in [0, ${MAX_DURATION_SECONDS}]`);
  }
  return v;
}

function stringMap(field: string, v: unknown, checkKeys: boolean): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v)) fail(field, v, 'must be an object of string values');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (checkKeys && !TAG_KEY_PATTERN.test(k)) fail(`${field}.${k}`, k, `is not a valid key: must match ${TAG_KEY_PATTERN.source}`);
    if (typeof val !== 'string') fail(`${field}.${k}`, val, 'must be a string');
    out[k] = val;
  }
  return out;
}

function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    fail(field, v, `must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

function channelList(field: string, v: unknown, ctx: RuleValidationContext): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(field, v, 'must be an array of channel ids');
  return v.map((c, i) => {
    if (typeof c !== 'string' || !ctx.knownChannels.has(c)) {
      const known = [...ctx.knownChannels].join(', ') || 'none configured';
      fail(`${field}[${i}]`, c, `is not a configured notification channel (known: ${known})`);
    }
    return c;
  });
}

export interface MetricPatternMatcher {
  matches(metricId: string): boolean;
}

/**
 * Compiles a metric pattern: regex mode on RE2 (linear time, so `((a+))+b` against a long id
 * costs what any pattern costs), glob mode on Glob. Throws RegexError or GlobError naming it.
 */
export function compileMetricPattern(pattern: string, mode: PatternMode = 'regex'): MetricPatternMatcher {
  return mode === 'glob' ? Glob.compile(pattern) : LinearRegex.compile(pattern);
}

/** Next priority up, capped at CRITICAL. */
export function raisePriority(p: Priority): Priority {
  const i = PRIORITIES.indexOf(p);
  return PRIORITIES[Math.min(PRIORITIES.length - 1, i + 1)]!;
}

export function priorityRank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

function validateEscalation(v: unknown, ctx: RuleValidationContext): EscalationLevel[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail('escalation', v, 'must be an array of {after_seconds, channels, priority?}');
  let previous = -1;
  return v.map((level, i) => {
    const f = `escalation[${i}]`;
    if (!isPlainObject(level)) fail(f, level, 'must be an object {after_seconds, channels, priority?}');
    const after = level.after_seconds;
    if (typeof after !== 'number' || !Number.isFinite(after) || after <= 0 || after > MAX_DURATION_SECONDS) {
      fail(`${f}.after_seconds`, after, `must be a number of seconds in (0, ${MAX_DURATION_SECONDS}]`);
    }
    if (after <= previous) fail(`${f}.after_seconds`, after, `must be greater than the previous level's ${previous}`);
    previous = after;
    const out: EscalationLevel = { after_seconds: after, channels: channelList(`${f}.channels`, level.channels, ctx) };
    if (level.priority !== undefined) out.priority = oneOf(`${f}.priority`, level.priority, PRIORITIES, 'HIGH');
    return out;
  });
}

function validateRemediation(v: unknown, ctx: RuleValidationContext): RemediationAction[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail('remediation', v, 'must be an array of actions');
  return v.map((action, i): RemediationAction => {
    const f = `remediation[${i}]`;
    if (!isPlainObject(action)) fail(f, action, 'must be an object with a type');
    const type = oneOf(`${f}.type`, action.type, REMEDIATION_TYPES, 'webhook');
    switch (type) {
      case 'webhook': {
        const url = action.url;
        if (!isHttpUrl(url)) fail(`${f}.url`, typeof url === 'string' ? redactUrl(url) : url, 'must be an http(s) URL');
        if (url.includes(REDACTED)) fail(`${f}.url`, redactUrl(url), `holds the placeholder ${REDACTED} of a redacted answer; send the full URL`);
        return { type, url };
      }
      case 'command': {
        if (ctx.isAllowedCommand === undefined) {
          fail(`${f}.type`, 'command', 'is only accepted in rules of the configuration file (alerting.rules); API rules may use webhook, block_ip or enhanced_monitoring');
        }
        const command = action.command;
        if (typeof command !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(command)) {
          fail(`${f}.command`, command, 'must name a command of the alerting configuration ([A-Za-z0-9_.-]{1,64})');
        }
        if (!ctx.isAllowedCommand(command)) fail(`${f}.command`, command, 'is not in alerting.remediation.commands');
        return { type, command };
      }
      case 'block_ip': {
        const out: RemediationAction = {
          type,
          duration_seconds: positiveDuration(`${f}.duration_seconds`, action.duration_seconds, 3600, MAX_BLOCK_SECONDS),
        };
        if (action.ip_tag !== undefined) {
          if (typeof action.ip_tag !== 'string' || !TAG_KEY_PATTERN.test(action.ip_tag)) {
            fail(`${f}.ip_tag`, action.ip_tag, `must be a tag key matching ${TAG_KEY_PATTERN.source}`);
          }
          out.ip_tag = action.ip_tag;
        }
        return out;
      }
      case 'enhanced_monitoring':
        return { type, duration_seconds: positiveDuration(`${f}.duration_seconds`, action.duration_seconds, 3600) };
    }
  });
}

function positiveDuration(field: string, v: unknown, fallback: number, max = MAX_DURATION_SECONDS): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) {
    fail(field, v, `must be a number of seconds in (0, ${max}]`);
  }
  return v;
}

/**
 * Validates a rule and fills in defaults. `existing` is the stored rule for updates (PUT): its
 * fields are the defaults, so a partial update changes only what it names.
 */
export function validateRule(input: unknown, ctx: RuleValidationContext, existing?: AlertRule): AlertRule {
  if (!isPlainObject(input)) fail('', input, 'must be an object');
  const base: Partial<AlertRule> = existing ?? {};
  const pick = <K extends keyof AlertRule>(k: K): unknown => (input[k] !== undefined ? input[k] : base[k]);

  const ruleIdRaw = existing ? existing.rule_id : input.rule_id ?? randomUUID();
  if (existing && input.rule_id !== undefined && input.rule_id !== existing.rule_id) {
    fail('rule_id', input.rule_id, `cannot change (the rule is ${JSON.stringify(existing.rule_id)})`);
  }
  if (typeof ruleIdRaw !== 'string' || !RULE_ID_PATTERN.test(ruleIdRaw)) fail('rule_id', ruleIdRaw, `must match ${RULE_ID_PATTERN.source}`);

  const name = pick('name');
  if (typeof name !== 'string' || name.trim() === '' || name.length > 200) fail('name', name, 'must be a non-empty string of at most 200 characters');

  const description = pick('description') ?? '';
  if (typeof description !== 'string') fail('description', description, 'must be a string');

  const pattern = pick('metric_pattern');
  const mode = oneOf('pattern_mode', pick('pattern_mode'), PATTERN_MODES, defaultPatternMode(pattern));
  if (typeof pattern !== 'string' || pattern === '' || pattern.length > 1000) fail('metric_pattern', pattern, `must be a non-empty ${mode === 'glob' ? 'glob' : 'regular expression'} of at most 1000 characters`);
  try {
    compileMetricPattern(pattern, mode);
  } catch (err) {
    if (!(err instanceof RegexError || err instanceof GlobError)) throw err;
    const reason = err.message.slice(err.message.indexOf(' ') + 1);
    fail('metric_pattern', pattern, mode === 'glob' ? `is not a valid glob: ${reason}` : `is not a valid regular expression: ${reason}`);
  }

  const useAnomaly = pick('use_anomaly_detection') ?? false;
  if (typeof useAnomaly !== 'boolean') fail('use_anomaly_detection', useAnomaly, 'must be a boolean');

  let threshold = pick('threshold_value');
  if (threshold === undefined) threshold = null;
  if (threshold !== null && (typeof threshold !== 'number' || !Number.isFinite(threshold))) {
    fail('threshold_value', threshold, 'must be a finite number (or null for an anomaly-only rule)');
  }
  if (threshold === null && !useAnomaly) fail('threshold_value', threshold, 'is required unless use_anomaly_detection is true');

  const sensitivity = pick('ml_sensitivity') ?? 0.5;
  if (typeof sensitivity !== 'number' || !(sensitivity >= 0 && sensitivity <= 1)) fail('ml_sensitivity', sensitivity, 'must be a number in [0, 1]');

  const aggregation = oneOf('aggregation', pick('aggregation'), RULE_AGGREGATIONS, 'last');
  const window = nonNegativeSeconds('window_seconds', pick('window_seconds'), 300);
  if (aggregation !== 'last' && window <= 0) fail('window_seconds', window, `must be > 0 for aggregation ${aggregation}`);

  let groupBy = pick('group_by');
  if (groupBy === undefined) groupBy = null;
  if (groupBy !== null) {
    if (!Array.isArray(groupBy)) fail('group_by', groupBy, 'must be null or an array of tag keys');
    groupBy.forEach((k, i) => {
      if (typeof k !== 'string' || !TAG_KEY_PATTERN.test(k)) fail(`group_by[${i}]`, k, `must be a tag key matching ${TAG_KEY_PATTERN.source}`);
    });
  }

  const enabled = pick('enabled') ?? true;
  if (typeof enabled !== 'boolean') fail('enabled', enabled, 'must be a boolean');

  return {
    rule_id: ruleIdRaw,
    name,
    description,
    metric_pattern: pattern,
    pattern_mode: mode,
    threshold_value: threshold as number | null,
    comparison: oneOf('comparison', pick('comparison'), COMPARISONS, '>'),
    duration_seconds: nonNegativeSeconds('duration_seconds', pick('duration_seconds'), 0),
    priority: oneOf('priority', pick('priority'), PRIORITIES, 'MEDIUM'),
    use_anomaly_detection: useAnomaly,
    ml_sensitivity: sensitivity,
    anomaly_method: oneOf('anomaly_method', pick('anomaly_method'), DETECTOR_METHODS, 'auto'),
    tags: stringMap('tags', pick('tags'), true),
    aggregation,
    window_seconds: window,
    group_by: groupBy as string[] | null,
    channels: channelList('channels', pick('channels'), ctx),
    escalation: validateEscalation(pick('escalation'), ctx),
    remediation: validateRemediation(pick('remediation'), ctx),
    labels: stringMap('labels', pick('labels'), true),
    annotations: stringMap('annotations', pick('annotations'), false),
    enabled,
    resolve_after_seconds: nonNegativeSeconds('resolve_after_seconds', pick('resolve_after_seconds'), ctx.defaultResolveAfterSeconds),
    forecast: validateForecast(pick('forecast'), threshold as number | null, pick('comparison'), useAnomaly, groupBy as string[] | null),
  };
}

/** Backslash escapes, groups, alternation, anchors, `+` and classes: regex syntax no glob uses. */
const REGEX_ONLY_SYNTAX = /[\\()|+^$[\]{}]/;

/**
 * A pattern without pattern_mode is a glob, as queries take, unless it uses syntax only a
 * regular expression has (`system\.cpu\..*`, `(a|b)`): rule patterns were regexes before they
 * were globs, and a rule written (in a configuration file, a script, a client) for that meaning
 * keeps it rather than becoming a glob that matches nothing. The answer carries the mode read.
 */
export function defaultPatternMode(pattern: unknown): PatternMode {
  return typeof pattern === 'string' && REGEX_ONLY_SYNTAX.test(pattern) ? 'regex' : 'glob';
}

/** Buckets a forecast rule may read or predict per series and cycle. */
export const MAX_FORECAST_RULE_BUCKETS = 20_000;

function validateForecast(v: unknown, threshold: number | null, comparison: unknown, useAnomaly: boolean, groupBy: string[] | null): ForecastCondition | null {
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v)) fail('forecast', v, 'must be null or an object {horizon_seconds, interval_seconds?, lookback_seconds?, method?, coverage?, fire_on?}');
  const known = new Set(['horizon_seconds', 'interval_seconds', 'lookback_seconds', 'method', 'coverage', 'fire_on']);
  for (const k of Object.keys(v)) if (!known.has(k)) fail(`forecast.${k}`, v[k], `is not a forecast field (known: ${[...known].join(', ')})`);
  if (threshold === null) fail('threshold_value', threshold, 'is required for a forecast rule (the level whose crossing is predicted)');
  if (comparison !== undefined && !['>', '>=', '<', '<='].includes(comparison as string)) fail('comparison', comparison, 'must be >, >=, < or <= for a forecast rule');
  if (useAnomaly) fail('use_anomaly_detection', useAnomaly, 'cannot be combined with forecast');
  if (groupBy !== null) fail('group_by', groupBy, 'must be null for a forecast rule (each series is forecast on its own)');
  const interval = positiveDuration('forecast.interval_seconds', v.interval_seconds, 300, 86_400);
  const horizon = positiveDuration('forecast.horizon_seconds', v.horizon_seconds, NaN);
  if (Number.isNaN(horizon)) fail('forecast.horizon_seconds', v.horizon_seconds, 'is required: how far ahead to predict, in seconds');
  const lookback = positiveDuration('forecast.lookback_seconds', v.lookback_seconds, 1000 * interval);
  for (const [field, seconds] of [['forecast.horizon_seconds', horizon], ['forecast.lookback_seconds', lookback]] as const) {
    if (seconds / interval > MAX_FORECAST_RULE_BUCKETS) fail(field, seconds, `is more than ${MAX_FORECAST_RULE_BUCKETS} intervals of ${interval} s`);
  }
  if (lookback < 3 * interval) fail('forecast.lookback_seconds', lookback, `must hold at least 3 intervals of ${interval} s`);
  const coverage = v.coverage ?? 0.95;
  if (typeof coverage !== 'number' || !(coverage >= 0.5 && coverage <= 0.999)) fail('forecast.coverage', coverage, 'must be a number in [0.5, 0.999]');
  return {
    horizon_seconds: horizon, interval_seconds: interval, lookback_seconds: lookback,
    method: oneOf('forecast.method', v.method, FORECAST_RULE_METHODS, 'auto'), coverage, fire_on: oneOf('forecast.fire_on', v.fire_on, FORECAST_FIRE_ON, 'expected'),
  };
}

/** The comparison as a function; `==`/`!=` are exact, as in the seed. */
export function compare(op: Comparison, value: number, threshold: number): boolean {
  switch (op) {
    case '>': return value > threshold;
    case '>=': return value >= threshold;
    case '<': return value < threshold;
    case '<=': return value <= threshold;
    case '==': return value === threshold;
    case '!=': return value !== threshold;
  }
}
