/**
 * Series selection: a glob over metric ids (`*` any run of characters, `?` exactly one) plus
 * exact tag filters, answered from the in-memory series catalogue. The glob is matched once per
 * distinct metric id, not once per series.
 */
import { MetricValidationError, describeValue, type Tags } from '../model/metric.js';
import { Glob, GlobError, MAX_GLOB_CHARS } from '../text/glob.js';
import type { SeriesIndex, SeriesInfo } from '../storage/series_index.js';

/** Compiles a glob; throws MetricValidationError naming `metricPattern`. */
export function compileGlob(pattern: unknown): Glob {
  try {
    return Glob.compile(pattern);
  } catch (err) {
    if (err instanceof GlobError) {
      throw new MetricValidationError(
        `metricPattern=${describeValue(pattern)} must be a non-empty string of at most ${MAX_GLOB_CHARS} characters (glob: * and ?)`,
        -1, 'metricPattern', pattern,
      );
    }
    throw err;
  }
}

function validateTagFilter(tags: unknown): Tags | undefined {
  if (tags === undefined || tags === null) return undefined;
  if (typeof tags !== 'object' || Array.isArray(tags)) {
    throw new MetricValidationError(`tags=${describeValue(tags)} must be an object of string values`, -1, 'tags', tags);
  }
  for (const [k, v] of Object.entries(tags)) {
    if (typeof v !== 'string') throw new MetricValidationError(`tags.${k}=${describeValue(v)} must be a string`, -1, `tags.${k}`, v);
  }
  return Object.keys(tags).length === 0 ? undefined : (tags as Tags);
}

/** Series matching the pattern and every tag filter, ordered by metric id then tags. */
export function selectSeries(index: SeriesIndex, metricPattern: unknown, tags: unknown): SeriesInfo[] {
  const filter = validateTagFilter(tags);
  const glob = compileGlob(metricPattern);
  const out: SeriesInfo[] = [];
  const candidates: (readonly SeriesInfo[])[] = [];
  if (glob.isLiteral) {
    candidates.push(index.seriesOfMetric(metricPattern as string));
  } else {
    for (const [metricId, list] of index.metrics()) if (glob.matches(metricId)) candidates.push(list);
  }
  const filterEntries = filter === undefined ? [] : Object.entries(filter);
  for (const list of candidates) {
    for (const s of list) {
      let ok = true;
      for (const [k, v] of filterEntries) {
        if (s.tags[k] !== v) {
          ok = false;
          break;
        }
      }
      if (ok) out.push(s);
    }
  }
  out.sort((a, b) => (a.metricId < b.metricId ? -1 : a.metricId > b.metricId ? 1 : a.canonicalTags < b.canonicalTags ? -1 : a.canonicalTags > b.canonicalTags ? 1 : 0));
  return out;
}
