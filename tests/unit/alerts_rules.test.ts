import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { PREDEFINED_RULES } from '../../src/alerts/predefined_rules.js';
import { compare, compileMetricPattern, raisePriority, validateRule, RuleValidationError, type Comparison } from '../../src/alerts/rule.js';
import { coveringGlobs, globForPattern, literalOfPattern } from '../../src/alerts/watched_series.js';
import { aggregateWindow } from '../../src/alerts/window_aggregate.js';
import { lowerBound } from '../../src/core/sorted_search.js';
import { cycleAt, harness, T0, type Harness } from './alerts_test_kit.js';

const ctx = { knownChannels: new Set(['ops', 'oncall']), defaultResolveAfterSeconds: 0 };
const base = { name: 'r', metric_pattern: 'a\\.b', threshold_value: 1 };

function refusal(input: unknown): RuleValidationError {
  try {
    validateRule(input, ctx);
  } catch (err) {
    expect(err).toBeInstanceOf(RuleValidationError);
    return err as RuleValidationError;
  }
  throw new Error('rule was accepted');
}

describe('rule validation', () => {
  it('fills the seed defaults', () => {
    const r = validateRule(base, ctx);
    expect(r).toMatchObject({
      comparison: '>', duration_seconds: 0, priority: 'MEDIUM', use_anomaly_detection: false, ml_sensitivity: 0.5,
      aggregation: 'last', group_by: null, channels: [], escalation: [], remediation: [], enabled: true, tags: {},
    });
    expect(r.rule_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    [{ ...base, metric_pattern: 'a(b' }, 'metric_pattern', /not a valid regular expression/],
    [{ ...base, metric_pattern: 'a(?=b)' }, 'metric_pattern', /no backreferences or lookaround/],
    [{ ...base, metric_pattern: 'a*'.repeat(300), pattern_mode: 'glob' }, 'metric_pattern', /not a valid glob: must be a non-empty string of at most 512/],
    [{ ...base, pattern_mode: 'wildcard' }, 'pattern_mode', /must be one of regex, glob/],
    [{ ...base, comparison: '=>' }, 'comparison', /must be one of >, >=, <, <=, ==, !=/],
    [{ ...base, priority: 'URGENT' }, 'priority', /must be one of LOW, MEDIUM, HIGH, CRITICAL/],
    [{ ...base, duration_seconds: -5 }, 'duration_seconds', /=-5 must be a number of seconds/],
    [{ ...base, channels: ['ops', 'pager'] }, 'channels[1]', /"pager" is not a configured notification channel \(known: ops, oncall\)/],
    [{ ...base, threshold_value: undefined }, 'threshold_value', /required unless use_anomaly_detection/],
    [{ ...base, ml_sensitivity: 2 }, 'ml_sensitivity', /in \[0, 1\]/],
    [{ ...base, aggregation: 'median' }, 'aggregation', /must be one of last, avg/],
    [{ ...base, group_by: ['bad-key'] }, 'group_by[0]', /tag key/],
    [{ ...base, escalation: [{ after_seconds: 60, channels: ['nope'] }] }, 'escalation[0].channels[0]', /not a configured/],
    [{ ...base, escalation: [{ after_seconds: 60, channels: [] }, { after_seconds: 30, channels: [] }] }, 'escalation[1].after_seconds', /greater than the previous/],
    [{ ...base, remediation: [{ type: 'reboot' }] }, 'remediation[0].type', /must be one of webhook, command, block_ip, enhanced_monitoring/],
    [{ ...base, remediation: [{ type: 'command', command: 'isolate' }] }, 'remediation[0].type', /only accepted in rules of the configuration file \(alerting.rules\)/],
    [{ ...base, remediation: [{ type: 'block_ip', duration_seconds: 366 * 86400 }] }, 'remediation[0].duration_seconds', /in \(0, 604800\]/],
    [{ ...base, remediation: [{ type: 'webhook', url: 'https://[redacted]@hooks.example/x' }] }, 'remediation[0].url', /placeholder \[redacted\]/],
    [{ ...base, remediation: [{ type: 'webhook', url: 'ftp://x' }] }, 'remediation[0].url', /http\(s\) URL/],
    [{ ...base, rule_id: 'has space' }, 'rule_id', /must match/],
    [{ ...base, metric_pattern: '(a)\\1' }, 'metric_pattern', /backreferences/],
    [{ ...base, tags: { host: 5 } }, 'tags.host', /must be a string/],
  ])('refuses %j naming %s', (input, field, message) => {
    const err = refusal(input);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`rule.${field}=`);
  });

  it('accepts an anomaly-only rule without threshold and keeps unchanged fields on update', () => {
    const r = validateRule({ ...base, threshold_value: null, use_anomaly_detection: true, rule_id: 'x' }, ctx);
    expect(r.threshold_value).toBeNull();
    const u = validateRule({ priority: 'LOW' }, ctx, r);
    expect(u).toEqual({ ...r, priority: 'LOW' });
    expect(() => validateRule({ rule_id: 'y' }, ctx, r)).toThrow(/rule.rule_id="y" cannot change/);
  });

  it('accepts command actions only with the configuration allow-list, and only its names', () => {
    const allowed = new Map([['isolate', '/usr/local/bin/isolate']]);
    const configCtx = { ...ctx, isAllowedCommand: (n: string) => allowed.has(n) };
    const r = validateRule({ ...base, remediation: [{ type: 'command', command: 'isolate' }] }, configCtx);
    expect(r.remediation).toEqual([{ type: 'command', command: 'isolate' }]);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(() => validateRule({ ...base, remediation: [{ type: 'command', command: name }] }, configCtx)).toThrow(/is not in alerting.remediation.commands/);
    }
  });

  it('accepts nested quantifiers, which run on RE2 in linear time, and globs', () => {
    expect(validateRule({ ...base, metric_pattern: '((a+))+b' }, ctx).pattern_mode).toBe('regex');
    expect(validateRule({ ...base, metric_pattern: '*a*a*a*a*a*a*a*b', pattern_mode: 'glob' }, ctx).pattern_mode).toBe('glob');
  });

  it('validates every predefined rule', () => {
    for (const r of PREDEFINED_RULES) expect(validateRule(r, ctx).enabled).toBe(true);
    expect(PREDEFINED_RULES.map((r) => [r.name, r.priority])).toEqual([
      ['High CPU Usage', 'HIGH'], ['Memory Exhaustion', 'CRITICAL'], ['Authentication Failures', 'CRITICAL'], ['Key Access Anomalies', 'HIGH'],
    ]);
  });

  it('compares like the operators and raises priorities up to CRITICAL', () => {
    const ops: Record<Comparison, (a: number, b: number) => boolean> = {
      '>': (a, b) => a > b, '>=': (a, b) => a >= b, '<': (a, b) => a < b, '<=': (a, b) => a <= b, '==': (a, b) => a === b, '!=': (a, b) => a !== b,
    };
    fc.assert(fc.property(fc.constantFrom(...(Object.keys(ops) as Comparison[])), fc.double(), fc.double(), (op, a, b) => compare(op, a, b) === ops[op](a, b)));
    expect(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].map((p) => raisePriority(p as never))).toEqual(['MEDIUM', 'HIGH', 'CRITICAL', 'CRITICAL']);
  });
});

describe('pattern helpers', () => {
  it('detects literal patterns', () => {
    expect(literalOfPattern('system\\.cpu\\.usage_total')).toBe('system.cpu.usage_total');
    expect(literalOfPattern('a-b:c_d')).toBe('a-b:c_d');
    expect(literalOfPattern('custom\\.metric\\..*')).toBeNull();
    expect(literalOfPattern('a.b')).toBeNull(); // unescaped dot is any character
  });

  it('derives globs that select a superset of what the regex matches', () => {
    expect(globForPattern('custom\\.metric\\..*')).toBe('custom.metric.*');
    expect(globForPattern('system\\.cpu\\.usage_total')).toBe('system.cpu.usage_total');
    expect(globForPattern('abc?d')).toBe('ab*');
    expect(globForPattern('a|b')).toBe('*');
    const ids = fc.stringMatching(/^[a-c][a-c.]{0,6}$/);
    const patterns = fc.constantFrom('a.*', 'ab?c', 'a\\.b+', 'b(a|c)', '[ab]c', 'c\\.a\\.b', 'a{2}b', 'ab*c', '.*');
    fc.assert(
      fc.property(patterns, ids, (p, id) => {
        const glob = globForPattern(p);
        const globRe = new RegExp('^' + glob.replace(/\./g, '\\.').replace(/\*/g, '.*') + '$');
        return !compileMetricPattern(p).matches(id) || globRe.test(id);
      }),
    );
  });

  it('reads glob-mode patterns as globs', () => {
    expect(literalOfPattern('system.cpu.usage_total', 'glob')).toBe('system.cpu.usage_total');
    expect(literalOfPattern('system.cpu.*', 'glob')).toBeNull();
    expect(globForPattern('system.?pu.*', 'glob')).toBe('system.?pu.*');
    const m = compileMetricPattern('system.*.usage_?', 'glob');
    expect(['system.cpu.usage_1', 'system.mem.usage_x', 'system.cpu.usage_10', 'systemXcpu.usage_1'].map((id) => m.matches(id))).toEqual([true, true, false, false]);
  });

  it('merges globs into the fewest covering ones', () => {
    expect(coveringGlobs(['a.b', 'a.*', 'a.c.d', 'b.x', 'b.x'], 10)).toEqual(['a.*', 'b.x']);
    expect(coveringGlobs(['a', '*'], 10)).toEqual(['*']);
    expect(coveringGlobs(['a', 'b', 'c'], 2)).toEqual(['*']);
  });
});

describe('window aggregation', () => {
  it('matches a direct computation on random series', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { maxLength: 60 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 500 }), (pts, to, win) => {
        pts.sort((a, b) => a[0] - b[0]);
        const ts = Float64Array.from(pts.map((p) => p[0]));
        const vs = Float64Array.from(pts.map((p) => p[1]));
        const inside = pts.filter((p) => p[0] >= to - win && p[0] <= to).map((p) => p[1]);
        const got = (a: Parameters<typeof aggregateWindow>[4]): number => aggregateWindow(ts, vs, to - win, to, a);
        if (inside.length === 0) return ['sum', 'avg', 'count', 'last'].every((a) => Number.isNaN(got(a as never)));
        const sum = inside.reduce((s, v) => s + v, 0);
        return (
          got('count') === inside.length &&
          Math.abs(got('sum') - sum) <= 1e-6 * Math.max(1, Math.abs(sum)) + 1e-3 &&
          got('min') === Math.min(...inside) &&
          got('max') === Math.max(...inside) &&
          got('last') === inside[inside.length - 1]
        );
      }),
    );
    expect(lowerBound(Float64Array.from([1, 2, 2, 3]), 2)).toBe(1);
  });
});

describe('predefined rules in a new database', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.cleanup();
  });

  it('installs them enabled, lets them be switched off, and does not reinstall deleted ones', async () => {
    h = harness({ predefinedRules: true });
    expect(h.alerting.listRules('default').map((r) => r.rule_id)).toEqual(PREDEFINED_RULES.map((r) => r.rule_id));
    h.system.add('system.memory.usage_percent', { host: 'db1' }, T0, 97);
    await cycleAt(h, 0);
    await cycleAt(h, 300);
    expect(h.alerting.listAlerts('default', { state: 'firing' }).map((a) => [a.name, a.priority])).toEqual([['Memory Exhaustion', 'CRITICAL']]);
    h.alerting.updateRule('default', 'predefined.high_cpu_usage', { enabled: false });
    h.alerting.deleteRule('default', 'predefined.memory_exhaustion');
    await h.reopen({ predefinedRules: true });
    const rules = h.alerting.listRules('default');
    expect(rules.map((r) => r.rule_id)).not.toContain('predefined.memory_exhaustion');
    expect(rules.find((r) => r.rule_id === 'predefined.high_cpu_usage')!.enabled).toBe(false);
  });

  it('blocks the source address of an authentication-failure burst', async () => {
    h = harness({ predefinedRules: true });
    for (let i = 0; i < 11; i++) h.system.add('security.auth.failures', { source_ip: '203.0.113.9', host: 'api' }, T0 + i * 1000, 1);
    await cycleAt(h, 20);
    const firing = h.alerting.listAlerts('default', { state: 'firing' });
    expect(firing.map((a) => [a.name, a.value, a.series.tags])).toEqual([['Authentication Failures', 11, { source_ip: '203.0.113.9' }]]);
    expect(h.alerting.ipBlocklist.isBlocked('203.0.113.9', T0 + 21_000)).toBe(true);
    expect(h.alerting.ipBlocklist.isBlocked('::ffff:203.0.113.9', T0 + 21_000)).toBe(true);
    expect(h.alerting.ipBlocklist.isBlocked('203.0.113.9', T0 + 20_000 + 3_600_000)).toBe(false);
    // Blocks outlive a restart (re-applied from the blocked_ips table).
    await h.reopen({ predefinedRules: true });
    expect(h.alerting.ipBlocklist.isBlocked('203.0.113.9', T0 + 30_000)).toBe(true);
  });
});
