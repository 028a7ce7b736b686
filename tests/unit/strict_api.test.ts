/**
 * The strict request check (src/http/strict_params.ts) and its pieces: "did you mean" hints,
 * durations that need a unit, relative times, and one 400 listing every problem with the
 * defaults. In-process: the checker is called as the HTTP handler calls it.
 */
import { describe, expect, it } from 'vitest';
import { durationSchema, enumSchema, integerSchema, jsonBody, param, strictObject, STRING, STRING_LIST, TAG_FILTER_PARAMS, timeSchema } from '../../src/http/common_schemas.js';
import { didYouMean, editDistance } from '../../src/http/did_you_mean.js';
import { HttpError, type RouteDefinition, type RouteSchema } from '../../src/http/route.js';
import { checkerOf, checkRequest, MAX_PROBLEMS, problemsError } from '../../src/http/strict_params.js';
import { durationProblem, parseInterval } from '../../src/model/interval.js';
import { parseTimeInput, relativeTimeMs, timeInputMs } from '../../src/model/time.js';
import { cleanIntervalError, queryFromSearchParams } from '../../src/server/query_request.js';
import { MetricValidationError } from '../../src/model/metric.js';
import { ANALYTICS_SCHEMAS } from '../../src/analytics/analytics_route_schemas.js';
import { domainChecked } from '../../src/http/common_schemas.js';

const SCHEMA: RouteSchema = {
  summary: 's', tag: 't',
  query: {
    metric_id: param('m', STRING, true),
    horizon: param('h', durationSchema()),
    limit: param('l', integerSchema(1, 100, { default: 10 })),
    start: param('s', timeSchema()),
    expired: param('e', { type: 'boolean', default: false }),
    patterns: { description: 'p', schema: STRING_LIST, explode: false },
    'match[]': param('m', STRING_LIST),
    state: param('s', enumSchema(['a', 'b'])),
    ...TAG_FILTER_PARAMS,
    'label.<name>': param('l', STRING),
  },
  body: jsonBody(strictObject({ rule_id: STRING, threshold_value: { type: 'number' }, escalation: { type: 'array', items: strictObject({ after_seconds: { type: 'number' } }) } }, ['rule_id'])),
  responses: { 200: { description: 'ok' } },
};

const check = (q: string, body?: unknown, checkBody = body !== undefined) => checkerOf(SCHEMA).check(new URLSearchParams(q), body, checkBody);

describe('did you mean', () => {
  it('folds case and separators, then allows a few edits', () => {
    expect(didYouMean('metricId', ['metric_id', 'value'])).toBe('metric_id');
    expect(didYouMean('expiring_within', ['expiring_within_days', 'state'])).toBe('expiring_within_days');
    expect(didYouMean('lmit', ['limit', 'state'])).toBe('limit');
    expect(didYouMean('labels', ['tags', 'value'])).toBeUndefined();
    expect(didYouMean('', ['a'])).toBeUndefined();
    expect(didYouMean('x'.repeat(100), ['x'])).toBeUndefined();
    expect(didYouMean('abc', ['y'.repeat(100)])).toBeUndefined();
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('durations and times', () => {
  it('needs a unit and says which', () => {
    expect(() => parseInterval('24')).toThrow('interval="24" must be a number followed by ms, s, m, h, d or w; it has no unit: write 24h, 24m or 24s');
    expect(durationProblem('5x')).toBe('must be a number followed by ms, s, m, h, d or w (e.g. 30s, 5m, 1h)');
  });

  it('reads now, now-1h and now+15m at a given now', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(relativeTimeMs('now', now)).toBe(now);
    expect(relativeTimeMs('now-1h', now)).toBe(now - 3_600_000);
    expect(relativeTimeMs('now - 15m', now)).toBe(now - 900_000);
    expect(relativeTimeMs('NOW+1d', now)).toBe(now + 86_400_000);
    expect(relativeTimeMs('now-1', now)).toBeUndefined();
    expect(relativeTimeMs('yesterday', now)).toBeUndefined();
    expect(timeInputMs('now-1h', now)).toBe(now - 3_600_000);
    expect(timeInputMs('now-99999w', now)).toBeUndefined();
    expect(timeInputMs('nowish', now)).toBeUndefined();
    expect(Math.abs(parseTimeInput('now-1m', 'startTime', 0) - (Date.now() - 60_000))).toBeLessThan(5_000);
    expect(() => parseTimeInput('soon', 'startTime', 0)).toThrow('or a relative time such as now-1h');
  });

  it('accepts relative times in /api/v1/query', () => {
    const q = queryFromSearchParams(new URLSearchParams('metric_pattern=a&start_time=now-1h&end_time=now'), { maxSeries: 10, maxPoints: 10 });
    expect(Math.abs((q.startTime as number) - (Date.now() - 3_600_000))).toBeLessThan(5_000);
  });

  it('says interval, not options.intervalMs, when buckets overflow', () => {
    const engine = new MetricValidationError('interval="1ms": options.intervalMs=1 over [options.startMs=0, options.endMs=99999999999) makes 99999999999 buckets; at most 10000000', -1, 'interval', '1ms');
    const cleaned = cleanIntervalError(engine) as HttpError;
    expect(cleaned).toBeInstanceOf(HttpError);
    expect(cleaned.message).toBe('interval="1ms" makes 99999999999 buckets over the range queried; at most 10000000 (use a longer interval, or a shorter range with start_time and end_time)');
    expect(cleaned.message).not.toContain('options.');
    const other = new MetricValidationError('interval="x" is bad', -1, 'interval', 'x');
    expect(cleanIntervalError(other)).toBe(other);
  });
});

describe('the strict checker', () => {
  it('passes a correct request', () => {
    expect(check('metric_id=a&horizon=24h&limit=5&start=now-1h&expired=true&patterns=a,b&match[]=x&match[]=y&tag.host=h&label.dc=x', { rule_id: 'r', escalation: [{ after_seconds: 1 }] })).toEqual([]);
  });

  it('names unknown parameters with a hint, missing ones, and invalid values with their default, in one answer', () => {
    const problems = check('metricId=a&horizon=24&limit=x&start=yesterday&expiring_within=30&state=c&tag.=x');
    expect(problems.map((p) => [p.name, p.problem])).toEqual([
      ['metricId', 'unknown'], ['expiring_within', 'unknown'], ['tag.', 'unknown'],
      ['metric_id', 'missing'], ['horizon', 'invalid'], ['limit', 'invalid'], ['start', 'invalid'], ['state', 'invalid'],
    ]);
    expect(problems[0]).toMatchObject({ did_you_mean: 'metric_id', message: expect.stringContaining('did you mean metric_id?') });
    expect(problems.find((p) => p.name === 'horizon')!.message).toBe('horizon="24" must be a number followed by ms, s, m, h, d or w; it has no unit: write 24h, 24m or 24s');
    expect(problems.find((p) => p.name === 'limit')).toMatchObject({ default: 10, message: 'limit="x" must be an integer (leave it out for the default 10)' });
    expect(problems.find((p) => p.name === 'start')!.message).toContain('relative time such as now-1h');
    expect(problems.find((p) => p.name === 'state')!.message).toBe('state="c" must be one of a, b');
  });

  it('refuses a repeated scalar parameter, and treats an empty one as left out', () => {
    expect(check('metric_id=a&limit=1&limit=2')).toMatchObject([{ name: 'limit', problem: 'repeated' }]);
    expect(check('metric_id=a&limit=')).toEqual([]);
  });

  it('checks the body: unknown fields with hints, nested paths, types, required', () => {
    const problems = check('metric_id=a', { ruleId: 'x', threshold_value: 'high', escalation: [{ after_secs: 1 }] });
    expect(problems.map((p) => [p.in, p.name, p.problem])).toEqual([
      ['body', 'rule_id', 'missing'], ['body', 'ruleId', 'unknown'], ['body', 'threshold_value', 'invalid'], ['body', 'escalation[0].after_secs', 'unknown'],
    ]);
    expect(problems[1]!.did_you_mean).toBe('rule_id');
    expect(problems[3]!.did_you_mean).toBe('after_seconds');
  });

  it('skips the body of raw routes and refuses a body where none is taken', () => {
    expect(check('metric_id=a', { anything: 1 }, false)).toEqual([]);
    const noBody = checkerOf({ summary: 's', tag: 't', responses: {} });
    expect(noBody.check(new URLSearchParams(''), {}, true)).toEqual([]);
    expect(noBody.check(new URLSearchParams(''), { a: 1 }, true)).toMatchObject([{ in: 'body', problem: 'unknown' }]);
    expect(noBody.check(new URLSearchParams('x=1'), undefined, true)[0]!.message).toBe('x is not a parameter of this route; it takes none');
    const required = checkerOf({ summary: 's', tag: 't', body: jsonBody(STRING_LIST), responses: {} });
    expect(required.check(new URLSearchParams(''), undefined, true)).toMatchObject([{ name: 'body', problem: 'missing' }]);
    const open = checkerOf({ summary: 's', tag: 't', allowUnknownQuery: true, responses: {} });
    expect(open.check(new URLSearchParams('u=user&p=secret'), undefined, true)).toEqual([]);
  });

  it('bounds the list of problems', () => {
    const many = Array.from({ length: 50 }, (_, i) => `x${i}=1`).join('&');
    expect(check(many)).toHaveLength(MAX_PROBLEMS);
  });

  it('throws one 400 from checkRequest, naming the first parameter or field', () => {
    const route: RouteDefinition = { method: 'GET', pattern: '/x', access: 'reader', schema: SCHEMA, handler: () => ({}) };
    let caught: unknown;
    try {
      checkRequest({ ...route, bodyFormat: 'raw' }, new URLSearchParams('metricId=a'), undefined);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HttpError);
    const e = caught as HttpError;
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/^2 problems: metricId is not a parameter/);
    expect(e.body).toMatchObject({ parameter: 'metricId', problems: [{ name: 'metricId' }, { name: 'metric_id' }] });
    expect(problemsError([{ in: 'body', name: 'a', problem: 'missing', message: 'a is required' }]).body).toMatchObject({ error: 'a is required', field: 'a' });
    expect(() => checkRequest({ ...route, schema: undefined }, new URLSearchParams('anything=1'), undefined)).not.toThrow();
    expect(() => checkRequest(route, new URLSearchParams('metric_id=a'), { rule_id: 'r' })).not.toThrow();
  });
});

describe('schemas of existing routes', () => {
  it('reports every missing correlations parameter at once (it took four tries before)', () => {
    const problems = checkerOf(ANALYTICS_SCHEMAS.correlations.get).check(new URLSearchParams('primaryMetric=cpu'), undefined, false);
    expect(problems.map((p) => [p.name, p.problem])).toEqual([
      ['primaryMetric', 'unknown'], ['primary_metric', 'missing'], ['secondary_patterns', 'missing'], ['correlation_threshold', 'missing'],
    ]);
    expect(problems[0]!.did_you_mean).toBe('primary_metric');
  });

  it('refuses horizon=24 on forecast, saying 24h', () => {
    const problems = checkerOf(ANALYTICS_SCHEMAS.forecast.get).check(new URLSearchParams('metric_pattern=cpu&horizon=24&interval=1h'), undefined, false);
    expect(problems).toMatchObject([{ name: 'horizon', problem: 'invalid', message: expect.stringContaining('write 24h') }]);
    const body = checkerOf(ANALYTICS_SCHEMAS.forecast.post).check(new URLSearchParams(''), { metric_pattern: 'cpu', horizon: 86_400_000, interval: '1h' }, true);
    expect(body).toMatchObject([{ in: 'body', name: 'horizon', message: expect.stringContaining('it has no unit') }]);
    expect(checkerOf(ANALYTICS_SCHEMAS.anomalies.post).check(new URLSearchParams(''), { metric_pattern: 'cpu', window_hours: '1' }, true)).toEqual([]);
  });

  it('leaves the values of domain-checked bodies to the feature, refusing only unknown fields', () => {
    const schema = domainChecked(strictObject({ comparison: enumSchema(['>', '<']), n: integerSchema(1, 5), list: { type: 'array', items: strictObject({ a: STRING }) } }, ['comparison'], { description: 'A rule.' }));
    expect(schema).toMatchObject({ description: 'object; requires comparison. A rule.', additionalProperties: false, properties: { comparison: { description: 'string; one of >, <' }, n: { description: 'integer; minimum 1; maximum 5' } } });
    const c = checkerOf({ summary: 's', tag: 't', body: jsonBody(schema), responses: {} });
    expect(c.check(new URLSearchParams(''), { comparison: '=>', n: 99, list: [{ a: 1 }] }, true)).toEqual([]);
    expect(c.check(new URLSearchParams(''), { comparsion: '>', list: [{ zzz: 1 }] }, true).map((p) => [p.name, p.did_you_mean])).toEqual([['comparsion', 'comparison'], ['list[0].zzz', undefined]]);
  });
});

