import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/http/route.js';
import { escapeLabelValue, formatValue, renderFederation, sanitizeMetricName } from '../../src/server/prometheus_text.js';
import { queryFromBody, queryFromSearchParams, renderQueryResponse } from '../../src/server/query_request.js';
import { Router } from '../../src/server/router.js';

const limits = { maxSeries: 10, maxPoints: 100 };

function httpError(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error('expected HttpError');
}

describe('Router', () => {
  it('prefers static segments, decodes params, reports allowed methods', () => {
    const r = new Router<string>();
    r.add('GET', '/keys/:id', 'by-id');
    r.add('GET', '/keys/stats', 'stats');
    r.add('DELETE', '/keys/:id', 'delete');
    expect(r.match('GET', '/keys/stats')).toMatchObject({ kind: 'found', value: 'stats' });
    expect(r.match('GET', '/keys/a%2Fb')).toEqual({ kind: 'found', value: 'by-id', pattern: '/keys/:id', params: { id: 'a/b' } });
    expect(r.match('POST', '/keys/x')).toEqual({ kind: 'wrong_method', allowed: ['GET', 'DELETE'] });
    expect(r.match('GET', '/keys/x/y')).toEqual({ kind: 'none' });
    expect(r.match('GET', '/keys/%E0%A4%A')).toEqual({ kind: 'none' });
    expect(() => r.add('GET', '/keys/:id', 'again')).toThrow(/defined twice/);
  });
});

describe('query parameters', () => {
  it('parses GET and POST forms alike', () => {
    const get = queryFromSearchParams(new URLSearchParams('metric_pattern=a.*&start_time=1000&end_time=2024-01-01T00:00:00Z&aggregation=p99&interval=5m&group_by=&tag.k=v'), limits);
    expect(get).toEqual({ metricPattern: 'a.*', startTime: 1000, endTime: Date.UTC(2024, 0, 1), aggregation: 'p99', interval: '5m', groupBy: [], tags: { k: 'v' }, maxSeries: 10, maxPoints: 100 });
    const post = queryFromBody({ metric_pattern: 'a.*', start_time: 1000, end_time: '2024-01-01T00:00:00Z', aggregation: 'p99', interval: '5m', group_by: [], tags: { k: 'v' } }, limits);
    expect(post).toEqual(get);
    expect(queryFromSearchParams(new URLSearchParams('metric_pattern=x'), limits)).toEqual({ metricPattern: 'x', maxSeries: 10, maxPoints: 100 });
  });

  it.each([
    ['', 'metric_pattern'],
    ['metric_pattern=x&start_time=abc', 'start_time'],
    ['metric_pattern=x&end_time=99999999999999999', 'end_time'],
    ['metric_pattern=x&start_time=2000&end_time=1000', 'end_time'],
    ['metric_pattern=x&aggregation=mean&interval=1h', 'aggregation'],
    ['metric_pattern=x&aggregation=avg', 'interval'],
    ['metric_pattern=x&interval=1h', 'interval'],
    ['metric_pattern=x&group_by=a', 'group_by'],
    ['metric_pattern=x&tag.=v', 'tag.'],
  ])('GET %s -> 400 naming %s', (qs, parameter) => {
    const err = httpError(() => queryFromSearchParams(new URLSearchParams(qs), limits));
    expect(err.status).toBe(400);
    expect(err.body.parameter).toBe(parameter);
  });

  it('POST refuses wrong types naming the parameter', () => {
    expect(httpError(() => queryFromBody([], limits)).body.parameter).toBe('body');
    expect(httpError(() => queryFromBody({ metric_pattern: 'x', tags: { a: 1 } }, limits)).body.parameter).toBe('tags.a');
    expect(httpError(() => queryFromBody({ metric_pattern: 'x', aggregation: 'avg', interval: '1h', group_by: 'a' }, limits)).body.parameter).toBe('group_by');
  });

  it('renders points as [ts, value] pairs and non-finite values as null', () => {
    const json = renderQueryResponse(
      [{ metricId: 'a', metricType: 'gauge', tags: { 'k"': 'v\n' }, timestamps: new Float64Array([1, 2]), values: new Float64Array([0.1, NaN]) }],
      { series: 1, pointsScanned: 2, elapsedMs: 1.5 },
    );
    expect(JSON.parse(json)).toEqual({
      series: [{ metric_id: 'a', metric_type: 'gauge', tags: { 'k"': 'v\n' }, points: [[1, 0.1], [2, null]] }],
      stats: { series: 1, points_scanned: 2, elapsed_ms: 1.5 },
    });
  });
});

describe('Prometheus text', () => {
  it('maps illegal characters, escapes label values, groups families', () => {
    expect(sanitizeMetricName('crypto.key-ops:rate')).toBe('crypto_key_ops:rate');
    expect(sanitizeMetricName('9lives')).toBe('_9lives');
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(formatValue(Infinity)).toBe('+Inf');
    const text = renderFederation([
      { metricId: 'a.b', metricType: 'gauge', tags: { h: '1' }, timestamp: 10, value: 1 },
      { metricId: 'c', metricType: 'summary', tags: {}, timestamp: 11, value: 2 },
      { metricId: 'a-b', metricType: 'gauge', tags: { h: '2' }, timestamp: 12, value: 3 },
    ]);
    expect(text).toBe(
      '# HELP a_b EMMS series a.b, a-b\n# TYPE a_b gauge\na_b{h="1"} 1 10\na_b{h="2"} 3 12\n' +
        '# HELP c EMMS series c\n# TYPE c untyped\nc 2 11\n',
    );
  });
});

describe('Prometheus label names', () => {
  it('never emits reserved __ labels from tags', async () => {
    const { sanitizeLabelName } = await import('../../src/server/prometheus_text.js');
    expect(sanitizeLabelName('__name__')).toBe('_name__');
    expect(sanitizeLabelName('key-type')).toBe('key_type');
  });
});
