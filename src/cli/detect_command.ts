/**
 * `emms detect --input FILE.csv --output OUT.csv [--method auto] [--sensitivity 0.5]`: scores a
 * `timestamp,value` series offline with the same causal streaming detectors as live alerting;
 * `auto` is `cad` over the file's range here (detect_series.ts), `ensemble` on an alert rule.
 * Output is `timestamp,value,anomaly_score,is_anomaly`, one row per input row in input order
 * (rows sharing a timestamp are kept), timestamp and value echoed as written.
 */
import { writeFileSync } from 'node:fs';
import { parseCsvCommandArgs } from './csv_command_args.js';
import { CsvInputError, readCsvText } from '../analytics/numeric_csv.js';
import { parseSeriesCsv } from '../analytics/series_csv.js';
import { detectSeries } from '../analytics/detect_series.js';
import { DETECTOR_METHODS } from '../analytics/streaming_detector.js';
import type { DetectorMethod } from '../analytics/streaming_detector_contract.js';

const USAGE = `Usage: emms detect --input FILE.csv --output OUT.csv [--method auto] [--sensitivity 0.5]

Scores every row of a timestamp,value CSV (header required; timestamps ISO-8601 or
YYYY-MM-DD HH:MM:SS, read as UTC) with causal streaming detectors, in arrival (file)
order: each row's score uses only that row and earlier ones. Rows whose timestamp repeats
or steps back are scored like the others (one warning on stderr gives their count); only an
unparseable row stops the command.

--method auto is cad: CAD OSE over the file's value range (read before the first row, as
NAB gives every detector); each row's score still uses only earlier values. ensemble is
the five-component detector that alert rules run under auto (no range known in advance).

Options:
  --input FILE        input CSV (.gz accepted)
  --output FILE       output CSV: timestamp,value,anomaly_score,is_anomaly ("-" = stdout)
  --method M          ${DETECTOR_METHODS.join(' | ')} (default auto)
  --sensitivity S     in [0, 1]; higher flags more rows (default 0.5)
  -h, --help          this text`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCsvCommandArgs('detect', USAGE, argv, { method: { type: 'string' }, sensitivity: { type: 'string' } });
  if (typeof parsed === 'number') return parsed;
  const { input, output, values } = parsed;
  const method = (values.method ?? 'auto') as DetectorMethod;
  if (!DETECTOR_METHODS.includes(method)) {
    process.stderr.write(`emms detect: --method=${JSON.stringify(values.method)} must be one of ${DETECTOR_METHODS.join(', ')}\n`);
    return 2;
  }
  const sensitivity = values.sensitivity === undefined ? 0.5 : Number(values.sensitivity);
  if (values.sensitivity?.trim() === '' || !(sensitivity >= 0 && sensitivity <= 1)) {
    process.stderr.write(`emms detect: --sensitivity=${JSON.stringify(values.sensitivity)} must be a number in [0, 1]\n`);
    return 2;
  }
  let text: string;
  try {
    text = readCsvText(input);
  } catch (err) {
    process.stderr.write(`emms detect: cannot read ${input}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const table = parseSeriesCsv(text, input);
    if (table.stepsBack > 0 || table.repeats > 0) {
      // One line, not one per row: a clock correction can move thousands of rows.
      const back = table.stepsBack > 0 ? `${table.stepsBack} row(s) step back in time (first at line ${table.firstStepBackLine})` : '';
      const rep = table.repeats > 0 ? `${table.repeats} row(s) repeat the previous timestamp` : '';
      process.stderr.write(`emms detect: warning: ${input}: ${[back, rep].filter((x) => x !== '').join(', ')}; scored in arrival order\n`);
    }
    const { scores, isAnomaly } = detectSeries(table.timestamps, table.values, { method, sensitivity });
    const lines: string[] = ['timestamp,value,anomaly_score,is_anomaly'];
    for (let i = 0; i < scores.length; i++) {
      lines.push(`${table.timestampText[i]},${table.valueText[i]},${scores[i]!.toPrecision(8)},${isAnomaly[i]}`);
    }
    const out = lines.join('\n') + '\n';
    if (output === '-') process.stdout.write(out);
    else writeFileSync(output, out);
    return 0;
  } catch (err) {
    if (err instanceof CsvInputError) {
      process.stderr.write(`emms detect: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
