import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { createMetricsSystem } from '../../src/index.js';
import { DecodePool } from '../../src/server/decode_pool.js';
import { TsbsDevopsGenerator } from '../workload/tsbs_devops.js';
const dir = mkdtempSync(join(tmpdir(), 'emms-probe-'));
const engine = createMetricsSystem({ path: join(dir, 'm.db') });
await engine.start();
const pool = new DecodePool({ threads: 0, maxPointsPerBatch: 1e6, customFrameNames: [] });
await pool.start();
const g = new TsbsDevopsGenerator();
const packr = new Packr({ useRecords: false });
const outs: any[] = [];
for (let f = 0; f < 1400; f++) {
  const rows = g.nextRows(1000).map((r) => ({ metric_id: r.metricId, value: r.value, timestamp: r.timestamp, tags: r.tags }));
  outs.push(await pool.decode(0, packr.pack({ seq: f, metrics: rows }), 'msgpack', true));
}
let at = 0;
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e3; };
for (let rep = 0; rep < 3; rep++) {
  {
    const c0 = cpu();
    const ps = [];
    for (let i = at; i < at + 200; i++) {
      const ser = outs[i].series;
      const rows = new Array(ser.length);
      for (let k = 0; k < ser.length; k++) { const s = ser[k]; rows[k] = { metricId: s.metricId, metricType: s.metricType, tags: s.tags, timestamp: s.timestamps[0], value: s.values[0] }; }
      ps.push(engine.collectMetrics(rows));
    }
    await Promise.all(ps);
    console.log('rows  cpu ms per 1k pts', ((cpu() - c0) / 200).toFixed(3));
    at += 200;
  }
  {
    const c0 = cpu();
    await Promise.all(outs.slice(at, at + 200).map((o) => engine.collectSeries(o.series)));
    console.log('series cpu ms per 1k pts', ((cpu() - c0) / 200).toFixed(3));
    at += 200;
  }
}
await engine.stop();
await pool.close();
rmSync(dir, { recursive: true, force: true });
