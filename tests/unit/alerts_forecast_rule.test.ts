import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { AggregatedQuery, SeriesResult } from '../../src/model/api.js';
import { parseInterval } from '../../src/model/interval.js';
import { defaultPatternMode, validateRule, RuleValidationError } from '../../src/alerts/rule.js';
import { forecastVerdict } from '../../src/alerts/forecast_rule.js';
import { ALERTS_DB_FILE, T_RULES } from '../../src/alerts/alert_schema.js';
import { cycleAt, harness, T0, type Harness } from './alerts_test_kit.js';
import { alertRoutes } from '../../src/alerts/alert_routes.js';
import { checkRequest } from '../../src/http/strict_params.js';
import { HttpError } from '../../src/http/route.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

const MIN = 60_000;
const HOUR = 3_600_000;

/** The in-memory system keeps raw points only: averages them into the buckets a forecast rule asks for. */
function withAggregation(h: Harness): void {
  h.system.queryAggregated = async (q: AggregatedQuery): Promise<SeriesResult[]> => {
    const step = parseInterval(q.interval);
    return (await h.system.queryMetrics(q)).map((s) => {
      const sums = new Map<number, { sum: number; n: number }>();
      for (let i = 0; i < s.timestamps.length; i++) {
        const b = Math.floor(s.timestamps[i]! / step) * step;
        const e = sums.get(b) ?? { sum: 0, n: 0 };
        e.sum += s.values[i]!;
        e.n++;
        sums.set(b, e);
      }
      const keys = [...sums.keys()].sort((a, b) => a - b);
      return { ...s, timestamps: Float64Array.from(keys), values: Float64Array.from(keys, (k) => sums.get(k)!.sum / sums.get(k)!.n) };
    });
  };
}

/** Disk usage every 5 minutes from `from` to `to` (exclusive), `level(t)` plus a little noise. */
function disk(h: Harness, host: string, from: number, to: number, level: (t: number) => number, rng: SeededRandom): void {
  for (let t = from; t < to; t += 5 * MIN) h.system.add('disk.used_percent', { host }, t, level(t) + 0.2 * rng.normal());
}

const RULE = {
  rule_id: 'disk-full-soon', name: 'Disk will be full', metric_pattern: 'disk.used_percent', threshold_value: 95, comparison: '>',
  duration_seconds: 0, resolve_after_seconds: 0,
  forecast: { horizon_seconds: 6 * 3600, interval_seconds: 300, lookback_seconds: 4 * 3600 },
};

describe('forecast alert rules (failure prediction)', () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
    withAggregation(h);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  for (const method of ['linear', 'auto'] as const) {
    it(`${method}: fires when usage will pass 95% within 6 h, with the crossing range, and resolves after a clean-up`, async () => {
      const rng = new SeededRandom(3);
      // +1 point per hour: 90% now, 95% in about 5 hours. Host b stays flat at 50%.
      disk(h, 'a', T0 - 48 * HOUR, T0, (t) => 90 + (t - T0) / HOUR, rng);
      disk(h, 'b', T0 - 48 * HOUR, T0, () => 50, rng);
      h.alerting.addRule('default', { ...RULE, forecast: { ...RULE.forecast, method } });
      await cycleAt(h, 0);
      const firing = h.alerting.listAlerts('default').filter((a) => a.state === 'firing');
      expect(firing.map((a) => a.series.tags.host)).toEqual(['a']);
      const ann = firing[0]!.annotations;
      const expected = Date.parse(ann.forecast_expected_crossing!);
      const earliest = Date.parse(ann.forecast_earliest_crossing!);
      expect(expected).toBeGreaterThan(T0 + 3 * HOUR);
      expect(expected).toBeLessThan(T0 + 7 * HOUR);
      expect(earliest).toBeLessThanOrEqual(expected);
      if (ann.forecast_latest_crossing !== 'beyond horizon') expect(Date.parse(ann.forecast_latest_crossing!)).toBeGreaterThanOrEqual(expected);
      expect(['linear', 'damped_trend', 'holt_winters', 'seasonal_naive']).toContain(ann.forecast_method);
      expect(firing[0]!.value).toBeGreaterThan(95);
      expect(h.ops.events('firing')).toHaveLength(1);

      // Someone cleans the disk up an hour later; four hours on, the forecast is flat at 40%.
      disk(h, 'a', T0, T0 + HOUR, (t) => 90 + (t - T0) / HOUR, rng);
      disk(h, 'a', T0 + HOUR, T0 + 5 * HOUR, () => 40, rng);
      disk(h, 'b', T0, T0 + 5 * HOUR, () => 50, rng);
      await cycleAt(h, 5 * 3600);
      expect(h.alerting.listAlerts('default').filter((a) => a.state === 'firing')).toEqual([]);
      expect(h.ops.events('resolved')).toHaveLength(1);
    });
  }

  it('the rules route schema accepts a forecast condition and names an unknown forecast field', () => {
    const post = alertRoutes(h.alerting).find((r) => r.method === 'POST' && r.pattern === '/api/v1/alerts/rules')!;
    expect(() => checkRequest(post, new URLSearchParams(), RULE)).not.toThrow();
    let refused: unknown;
    try {
      checkRequest(post, new URLSearchParams(), { ...RULE, forecast: { horizon_seconds: 60, horizon: 1 } });
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(HttpError);
    expect(JSON.stringify((refused as HttpError).body)).toMatch(/horizon/);
  });

  it('recomputes a forecast once per bucket, not every cycle', async () => {
    const rng = new SeededRandom(4);
    disk(h, 'a', T0 - 6 * HOUR, T0, () => 50, rng);
    h.alerting.addRule('default', RULE);
    let calls = 0;
    const inner = h.system.queryAggregated.bind(h.system);
    h.system.queryAggregated = async (q) => {
      calls++;
      return inner(q);
    };
    await cycleAt(h, 0);
    await cycleAt(h, 15);
    await cycleAt(h, 30);
    expect(calls).toBe(1);
    await cycleAt(h, 300);
    expect(calls).toBe(2);
    expect(h.alerting.listAlerts('default')).toEqual([]);
  });

  it('a stored rule from before pattern modes keeps its regex meaning; new patterns are globs', async () => {
    h.alerting.addRule('default', { rule_id: 'old', name: 'old', metric_pattern: 'disk\\.used_.*', threshold_value: 80 });
    h.alerting.addRule('default', { rule_id: 'new', name: 'new', metric_pattern: 'disk.used*', threshold_value: 80 });
    expect(h.alerting.getRule('default', 'old')!.pattern_mode).toBe('regex');
    expect(h.alerting.getRule('default', 'new')!.pattern_mode).toBe('glob');
    await h.alerting.stop();
    // As an older EMMS wrote it: no pattern_mode, no forecast.
    const db = new Database(join(h.dir, ALERTS_DB_FILE));
    db.prepare(`UPDATE ${T_RULES} SET body = json_remove(body, '$.pattern_mode', '$.forecast') WHERE rule_id = 'old'`).run();
    db.close();
    await h.reopen();
    const old = h.alerting.getRule('default', 'old')!;
    expect(old.pattern_mode).toBe('regex');
    h.system.add('disk.used_percent', { host: 'a' }, T0, 90);
    await cycleAt(h, 0);
    expect(h.alerting.listAlerts('default').map((a) => a.rule_id).sort()).toEqual(['new', 'old']);
  });
});

describe('forecast rule validation and verdicts', () => {
  const ctx = { knownChannels: new Set<string>(), defaultResolveAfterSeconds: 0 };
  const refuse = (input: Record<string, unknown>, field: string): void => {
    try {
      validateRule({ ...RULE, ...input }, ctx);
      expect.unreachable(`accepted ${JSON.stringify(input)}`);
    } catch (err) {
      expect(err).toBeInstanceOf(RuleValidationError);
      expect((err as RuleValidationError).field).toBe(field);
    }
  };

  it('fills defaults and refuses what a forecast rule cannot do, naming the field', () => {
    const r = validateRule({ ...RULE, forecast: { horizon_seconds: 3600 } }, ctx);
    expect(r.forecast).toEqual({ horizon_seconds: 3600, interval_seconds: 300, lookback_seconds: 300_000, method: 'auto', coverage: 0.95, fire_on: 'expected' });
    expect(validateRule({ ...RULE, forecast: undefined }, ctx).forecast).toBeNull();
    refuse({ forecast: { interval_seconds: 60 } }, 'forecast.horizon_seconds');
    refuse({ forecast: { horizon_seconds: 3600, lookback_seconds: 600 } }, 'forecast.lookback_seconds');
    refuse({ forecast: { horizon_seconds: 3600 * 24 * 365 } }, 'forecast.horizon_seconds');
    refuse({ forecast: { horizon_seconds: 3600, method: 'prophet' } }, 'forecast.method');
    refuse({ forecast: { horizon_seconds: 3600, coverage: 1 } }, 'forecast.coverage');
    refuse({ forecast: { horizon_seconds: 3600, horizon: '6h' } }, 'forecast.horizon');
    refuse({ forecast: 'soon' }, 'forecast');
    refuse({ comparison: '==' }, 'comparison');
    refuse({ threshold_value: null, use_anomaly_detection: true }, 'threshold_value');
    refuse({ use_anomaly_detection: true }, 'use_anomaly_detection');
    refuse({ group_by: ['host'] }, 'group_by');
  });

  it('reads a pattern as a glob unless it has syntax only a regex has', () => {
    expect(['cpu*', 'system.cpu.*', 'a?b', 'disk.used_percent'].map(defaultPatternMode)).toEqual(['glob', 'glob', 'glob', 'glob']);
    expect(['system\\.cpu', '(a|b)', 'x+', '^a$', '[ab]', 'a{2}'].map(defaultPatternMode)).toEqual(['regex', 'regex', 'regex', 'regex', 'regex', 'regex']);
    expect(validateRule({ name: 'r', metric_pattern: 'system\\.cpu', pattern_mode: 'glob', threshold_value: 1 }, ctx).pattern_mode).toBe('glob');
  });

  it('judges a falling series against <, with fire_on earliest firing before the mean path crosses', () => {
    const rule = validateRule({ ...RULE, threshold_value: 10, comparison: '<', forecast: { horizon_seconds: 3600, fire_on: 'earliest' } }, ctx);
    const n = 100;
    const t = Float64Array.from({ length: n }, (_, i) => T0 + i * 5 * MIN);
    const rng = new SeededRandom(9);
    const v = Float64Array.from({ length: n }, (_, i) => 60 - 0.5 * i + rng.normal());
    const verdict = forecastVerdict(rule, rule.forecast!, t, v, 0)!;
    // Last value ≈ 10.5 falling 0.5 per bucket: the mean path crosses 10 at once or nearly.
    expect(verdict.crosses).toBe(true);
    expect(verdict.earliestAt).not.toBeNull();
    expect(verdict.earliestAt!).toBeLessThanOrEqual(verdict.expectedAt ?? Infinity);
    expect(verdict.value).toBeLessThan(10);
    expect(forecastVerdict(rule, rule.forecast!, t.subarray(0, 2), v.subarray(0, 2), 0)).toBeUndefined();
  });
});
