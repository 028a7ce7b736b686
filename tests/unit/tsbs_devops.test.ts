import { describe, expect, it } from 'vitest';
import { TsbsDevopsGenerator } from '../../bench/workload/tsbs_devops.js';

describe('TSBS devops generator', () => {
  it('nextTickInto gives the same points as nextColumns and nextRows for the same seed', () => {
    const byTick = new TsbsDevopsGenerator({ hosts: 3, seed: 7 });
    const byColumns = new TsbsDevopsGenerator({ hosts: 3, seed: 7 });
    const byRows = new TsbsDevopsGenerator({ hosts: 3, seed: 7 });
    const columns = byColumns.nextColumns(5);
    const rows = byRows.nextRows(5 * byRows.seriesCount);
    const tick = new Float64Array(byTick.seriesCount);
    for (let t = 0; t < 5; t++) {
      const ts = byTick.nextTickInto(tick);
      for (let i = 0; i < byTick.seriesCount; i++) {
        expect(ts).toBe(columns[i]!.timestamps[t]);
        expect(tick[i]).toBe(columns[i]!.values[t]);
        const row = rows[t * byTick.seriesCount + i]!;
        expect([row.timestamp, row.value]).toEqual([ts, tick[i]]);
      }
    }
    expect(byTick.nextTimestampMs).toBe(byColumns.nextTimestampMs);
  });

  it('nextTickInto refuses a buffer shorter than a tick, naming both sizes', () => {
    const gen = new TsbsDevopsGenerator({ hosts: 2 });
    expect(() => gen.nextTickInto(new Float64Array(5))).toThrow(/holds 5 values; the tick has 20/);
  });
});
