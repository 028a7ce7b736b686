/**
 * A SeriesTable for decode-pool tests: it only records the identities a decode worker names,
 * so outcomes can be mapped back to metric ids; nothing is stored.
 */
import type { SeriesIdentity, SeriesTable } from '../../src/model/api.js';

export class RecordingSeriesTable implements SeriesTable {
  readonly identities: SeriesIdentity[] = [];
  get size(): number {
    return this.identities.length;
  }
  add(series: SeriesIdentity): number {
    return this.identities.push(series) - 1;
  }
  collect(): Promise<{ accepted: number }> {
    return Promise.reject(new Error('not used: decode-pool tests only decode'));
  }
}
