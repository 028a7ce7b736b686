/**
 * Cost of security.anonymize at ingest (src/anonymize/, hooked in src/ingest/series_resolver.ts),
 * embedded engine, durable batches, rules on vs off:
 *
 * - steady: TSBS devops rows (100 hosts × 10 series), each row with a fresh tags object as a
 *   server decoding requests produces; rules `hostname: hmac`, `rack: truncate_ip` (not an
 *   address, so pseudonymized too). Rewriting happens once per new tag set, so after the first
 *   tick the rules should cost nothing measurable.
 * - churn: every point a new series (`client_ip` unique /32, `user` unique), rules
 *   `client_ip: truncate_ip`, `user: hmac`: the worst case, one HMAC and one truncation per
 *   series created. (With rules on, addresses in one /24 merge, so fewer series are created:
 *   user keeps them distinct here, so both runs create the same number.)
 *
 *   npx tsx bench/anonymize_ingest.bench.ts          # EMMS_BENCH_QUICK=1 for a shorter run
 *
 * Run on a shared, noisy machine; repeat and compare the rows of one run only.
 */
import { randomBytes } from 'node:crypto';
import { parseAnonymizeSettings } from '../src/anonymize/anonymize_rules.js';
import { TenantAnonymizers } from '../src/anonymize/tenant_anonymizers.js';
import type { MetricDataPoint } from '../src/model/metric.js';
import { TsbsDevopsGenerator, TICKS_PER_DAY } from './workload/tsbs_devops.js';
import { machineLine, openBenchDatabase, quick } from './workload/embedded_fixture.js';

const STEADY_TICKS = quick ? TICKS_PER_DAY / 48 : TICKS_PER_DAY / 8;
const CHURN_SERIES = quick ? 20_000 : 100_000;
const BATCH = 10_000;

function anonymizerFor(rules: Record<string, string>): (tenant: string) => ((tags: Record<string, string>) => Record<string, string>) | undefined {
  return new TenantAnonymizers(parseAnonymizeSettings(rules), randomBytes(32)).tagRewriter;
}

async function timed(anonymizeTags: ReturnType<typeof anonymizerFor> | undefined, batches: MetricDataPoint[][]): Promise<number> {
  const db = await openBenchDatabase({ queryWorkers: 0, ...(anonymizeTags === undefined ? {} : { anonymizeTags }) });
  try {
    let points = 0;
    const t = performance.now();
    for (const b of batches) {
      await db.system.collectMetrics(b);
      points += b.length;
    }
    return points / ((performance.now() - t) / 1000);
  } finally {
    await db.remove();
  }
}

function steadyBatches(): MetricDataPoint[][] {
  const gen = new TsbsDevopsGenerator();
  const total = STEADY_TICKS * gen.seriesCount;
  const out: MetricDataPoint[][] = [];
  for (let done = 0; done < total; done += BATCH) {
    out.push(gen.nextRows(Math.min(BATCH, total - done)).map((p) => ({ ...p, tags: { ...p.tags } })));
  }
  return out;
}

function churnBatches(): MetricDataPoint[][] {
  const out: MetricDataPoint[][] = [];
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < CHURN_SERIES; i += BATCH) {
    const b: MetricDataPoint[] = [];
    for (let j = i; j < Math.min(CHURN_SERIES, i + BATCH); j++) {
      b.push({ metricId: 'web.requests', value: j, timestamp: t0 + j, tags: { client_ip: `10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}`, user: `user-${j}@example.org` } });
    }
    out.push(b);
  }
  return out;
}

const rows: Array<{ scenario: string; rules: string; 'points/s': number }> = [];
const steady = { hostname: 'hmac', rack: 'truncate_ip' };
const churn = { client_ip: 'truncate_ip', user: 'hmac' };
// Alternate off/on twice so a noisy neighbour hurts both sides alike.
for (let round = 0; round < 2; round++) {
  rows.push({ scenario: `steady TSBS rows, round ${round + 1}`, rules: 'off', 'points/s': Math.round(await timed(undefined, steadyBatches())) });
  rows.push({ scenario: `steady TSBS rows, round ${round + 1}`, rules: '2 (hmac, truncate_ip)', 'points/s': Math.round(await timed(anonymizerFor(steady), steadyBatches())) });
  rows.push({ scenario: `churn: a new series per point, round ${round + 1}`, rules: 'off', 'points/s': Math.round(await timed(undefined, churnBatches())) });
  rows.push({ scenario: `churn: a new series per point, round ${round + 1}`, rules: '2 (truncate_ip, hmac)', 'points/s': Math.round(await timed(anonymizerFor(churn), churnBatches())) });
}
console.table(rows);
console.log(machineLine('client and engine in one process; machine shared with other work, figures noisy'));
