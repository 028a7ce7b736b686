/**
 * Writes the benchmark series and splits (bench/forecast_data.ts) as JSON for the statsmodels
 * reference script: `npx tsx bench/forecast_export.ts /tmp/forecast_series.json`.
 */
import { writeFileSync } from 'node:fs';
import { benchSeries, splits } from './forecast_data.js';

const out = process.argv[2] ?? '/tmp/forecast_series.json';
const root = process.env.NAB_ROOT ?? '/work/shared/data/nab';
const series = benchSeries(root).map((s) => ({ ...s, ...splits(s) }));
writeFileSync(out, JSON.stringify(series));
console.log(`${series.length} series → ${out}`);
