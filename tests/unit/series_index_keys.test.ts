import { describe, expect, it } from 'vitest';
import { SeriesCatalog, seriesKey } from '../../src/storage/series_index.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';

describe('series index keys', () => {
  it('finds a series by name and by the key ingest made once, and forgets both on removal', () => {
    const catalog = new SeriesCatalog();
    const index = catalog.tenant('default');
    const a = index.create('cpu', 'gauge', { host: 'a' }, 'host=a');
    const key = seriesKey('mem', 'host=a');
    const b = index.create('mem', 'gauge', { host: 'a' }, 'host=a', key);
    expect(index.find('cpu', 'host=a')).toBe(a.id);
    expect(index.findByKey(seriesKey('cpu', 'host=a'))).toBe(a.id);
    expect(index.find('mem', 'host=a')).toBe(b.id);
    expect(index.findByKey(key)).toBe(b.id);
    catalog.remove([b.id]);
    expect(index.find('mem', 'host=a')).toBeUndefined();
    expect(index.findByKey(key)).toBeUndefined();
  });

  it('resolves a batch that repeats a new series to one series, created once, and finds it in the next batch', () => {
    const catalog = new SeriesCatalog();
    const resolver = new SeriesResolver(catalog.tenant('default'));
    resolver.beginBatch();
    const tags = resolver.tagSet({ host: 'a' }, 0);
    const first = resolver.resolveSlow(tags, 'cpu', undefined, 0);
    const again = resolver.resolveSlow(resolver.tagSet({ host: 'a' }, 1), 'cpu', undefined, 1);
    expect(first).toBe(-1);
    expect(again).toBe(-1);
    const ids = resolver.createNewSeries();
    expect(Array.from(ids)).toEqual([1]);
    expect(catalog.takePending().map((s) => [s.id, s.metricId, s.canonicalTags])).toEqual([[1, 'cpu', 'host=a']]);
    resolver.beginBatch();
    expect(resolver.resolveSlow(resolver.tagSet({ host: 'a' }, 0), 'cpu', undefined, 0)).toBe(1);
    expect(resolver.hasNewSeries).toBe(false);
  });
});
