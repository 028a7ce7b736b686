/** Errors of the query stage. */

/** A query would exceed `maxSeries` or `maxPoints`; the server answers 422. */
export class QueryLimitError extends Error {
  constructor(
    /** `maxSeries` or `maxPoints`. */
    readonly limit: 'maxSeries' | 'maxPoints',
    readonly maximum: number,
    readonly actual: number,
  ) {
    super(`query exceeds ${limit}=${maximum}: it ${limit === 'maxSeries' ? 'selects' : 'returns'} ${actual === Infinity ? 'more' : `at least ${actual}`} ${limit === 'maxSeries' ? 'series' : 'points'}; narrow the pattern, tags or time range`);
    this.name = 'QueryLimitError';
  }
}
