/**
 * `emms iforest --input FILE.csv[.gz] --output OUT.csv [--trees 100] [--sample-size 256]
 * [--seed 1] [--exclude label]`: fits an isolation forest on every row of a numeric CSV and
 * writes one `score` per input row (s(x) in (0, 1], higher = more anomalous). Large files are
 * scored across the worker pool.
 */
import { writeFileSync } from 'node:fs';
import { parseCsvCommandArgs } from './csv_command_args.js';
import { CsvInputError, parseNumericCsv, readCsvText } from '../analytics/numeric_csv.js';
import { fitIsolationForest } from '../analytics/iforest_wasm.js';
import { closeIforestPool, scoreIsolationForestParallel } from '../analytics/iforest_parallel.js';
import { MAX_SAMPLE_SIZE, MAX_TREES } from '../analytics/iforest_model.js';

const USAGE = `Usage: emms iforest --input FILE.csv[.gz] --output OUT.csv [options]

Fits an isolation forest (scikit-learn conventions) on all rows of a numeric CSV with a
header, then writes one column "score" with one row per input row (higher = more anomalous).

Options:
  --input FILE          input CSV, gzip accepted (.gz)
  --output FILE         output CSV ("-" = stdout)
  --trees N             trees, 1..${MAX_TREES} (default 100)
  --sample-size N       sub-sample per tree, 1..${MAX_SAMPLE_SIZE}, capped at the row count (default 256)
  --seed N              random seed, 0..4294967295 (default 1)
  --exclude COLS        comma-separated columns to leave out (e.g. label); repeatable
  -h, --help            this text`;

function integerOption(name: string, text: string | undefined, fallback: number, lo: number, hi: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`--${name}=${JSON.stringify(text)} must be an integer in [${lo}, ${hi}]`);
  }
  return v;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCsvCommandArgs('iforest', USAGE, argv, {
    trees: { type: 'string' }, 'sample-size': { type: 'string' }, seed: { type: 'string' }, exclude: { type: 'string', multiple: true },
  });
  if (typeof parsed === 'number') return parsed;
  const { input, output, values } = parsed;
  let trees: number;
  let sampleSize: number;
  let seed: number;
  try {
    trees = integerOption('trees', values.trees, 100, 1, MAX_TREES);
    sampleSize = integerOption('sample-size', values['sample-size'], 256, 1, MAX_SAMPLE_SIZE);
    seed = integerOption('seed', values.seed, 1, 0, 0xffffffff);
  } catch (err) {
    process.stderr.write(`emms iforest: ${(err as Error).message}\n`);
    return 2;
  }
  const exclude = (values.exclude ?? []).flatMap((e) => e.split(',')).map((e) => e.trim()).filter((e) => e !== '');
  let text: string;
  try {
    text = readCsvText(input);
  } catch (err) {
    process.stderr.write(`emms iforest: cannot read ${input}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const table = parseNumericCsv(text, input, exclude);
    const nFeatures = table.columns.length;
    const model = fitIsolationForest(table.rows, nFeatures, { trees, sampleSize, seed });
    const scores = await scoreIsolationForestParallel(model, table.rows);
    const parts: string[] = new Array<string>(scores.length + 1);
    parts[0] = 'score';
    for (let i = 0; i < scores.length; i++) parts[i + 1] = scores[i]!.toPrecision(8);
    const out = parts.join('\n') + '\n';
    if (output === '-') process.stdout.write(out);
    else writeFileSync(output, out);
    return 0;
  } catch (err) {
    if (err instanceof CsvInputError) {
      process.stderr.write(`emms iforest: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await closeIforestPool();
  }
}
