import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseNumericCsv } from '../../src/analytics/numeric_csv.js';
import { fitIsolationForest, scoreIsolationForest } from '../../src/analytics/iforest_wasm.js';
import { rocAuc } from '../../src/analytics/roc_auc.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/iforest/${name}`, import.meta.url));

interface Reference {
  datasets: Record<string, { auc_mean: number; suggested_margin_mean_of_5_runs: number }>;
}
const reference = JSON.parse(readFileSync(fixture('reference_auc.json'), 'utf8')) as Reference;

function loadLabelled(file: string): { rows: Float64Array; dims: number; labels: Float64Array } {
  const table = parseNumericCsv(readFileSync(fixture(file), 'utf8'), file);
  const dims = table.columns.length - 1;
  const rows = new Float64Array(table.nRows * dims);
  const labels = new Float64Array(table.nRows);
  for (let i = 0; i < table.nRows; i++) {
    rows.set(table.rows.subarray(i * (dims + 1), i * (dims + 1) + dims), i * dims);
    labels[i] = table.rows[i * (dims + 1) + dims]!;
  }
  return { rows, dims, labels };
}

describe('isolation-forest ROC AUC against scikit-learn (5 seeds, README margins)', () => {
  it('rocAuc matches a hand-computed value with ties', () => {
    // Positives 0.8, 0.4; negatives 0.1, 0.4, 0.3: pairs won 3 + 0.5 + 2 = 5.5 of 6.
    expect(rocAuc([0.8, 0.1, 0.4, 0.4, 0.3], [1, 0, 1, 0, 0])).toBeCloseTo(5.5 / 6, 12);
  });

  for (const name of ['wine', 'breast_cancer', 'digits']) {
    it(name, () => {
      const { rows, dims, labels } = loadLabelled(`${name}.csv`);
      let sum = 0;
      for (let seed = 0; seed < 5; seed++) {
        const model = fitIsolationForest(rows, dims, { trees: 100, sampleSize: 256, seed });
        sum += rocAuc(scoreIsolationForest(model, rows), labels);
      }
      const ref = reference.datasets[name]!;
      expect(sum / 5).toBeGreaterThan(ref.auc_mean - ref.suggested_margin_mean_of_5_runs);
    });
  }
});
