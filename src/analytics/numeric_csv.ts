/**
 * Reads the CSV files the offline commands take (`emms iforest`, `emms detect`, the NAB bench):
 * a header line, then comma-separated rows. Every error names the 1-based line and the column,
 * because these files are edited by hand and produced by other tools.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export class CsvInputError extends Error {
  constructor(message: string, readonly line: number, readonly column: string | undefined) {
    super(message);
    this.name = 'CsvInputError';
  }
}

/** File text, gunzipped when the name ends in `.gz`. */
export function readCsvText(path: string): string {
  const bytes = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

export interface CsvLines {
  header: string[];
  /** Data lines with their 1-based line numbers; blank lines are skipped. */
  rows: Array<{ line: number; cells: string[] }>;
}

export function splitCsv(text: string, source: string): CsvLines {
  const lines = text.split(/\r?\n/);
  let first = 0;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (first >= lines.length) throw new CsvInputError(`${source}: line 1: the file is empty (expected a header line)`, 1, undefined);
  const header = lines[first]!.replace(/^\uFEFF/, '').split(',').map((h) => h.trim());
  const rows: CsvLines['rows'] = [];
  for (let i = first + 1; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    rows.push({ line: i + 1, cells: raw.split(',') });
  }
  if (rows.length === 0) throw new CsvInputError(`${source}: line ${first + 2}: no data rows after the header`, first + 2, undefined);
  return { header, rows };
}

/** Parses a decimal/exponent number strictly (`Number('')` would be 0, `parseFloat('1x')` would be 1). */
export function parseNumberCell(cell: string, line: number, column: string, source: string): number {
  const text = cell.trim();
  const v = text === '' ? NaN : Number(text);
  if (!Number.isFinite(v)) {
    throw new CsvInputError(`${source}: line ${line}, column "${column}": ${JSON.stringify(text)} is not a finite number`, line, column);
  }
  return v;
}

export interface NumericTable {
  columns: string[];
  /** Row-major nRows × columns.length. */
  rows: Float64Array;
  nRows: number;
}

/** All columns but `exclude`, as numbers. */
export function parseNumericCsv(text: string, source: string, exclude: readonly string[] = []): NumericTable {
  const { header, rows } = splitCsv(text, source);
  for (const name of exclude) {
    if (!header.includes(name)) {
      throw new CsvInputError(`${source}: line 1: --exclude column "${name}" is not in the header (${header.join(',')})`, 1, name);
    }
  }
  const keep: number[] = [];
  header.forEach((name, i) => {
    if (!exclude.includes(name)) keep.push(i);
  });
  if (keep.length === 0) throw new CsvInputError(`${source}: line 1: no feature columns left after --exclude`, 1, undefined);
  const out = new Float64Array(rows.length * keep.length);
  let k = 0;
  for (const { line, cells } of rows) {
    if (cells.length !== header.length) {
      throw new CsvInputError(
        `${source}: line ${line}: ${cells.length} columns, but the header has ${header.length}` +
          (cells.length < header.length ? ` (column "${header[cells.length]}" is missing)` : ''),
        line,
        header[Math.min(cells.length, header.length - 1)],
      );
    }
    for (const c of keep) out[k++] = parseNumberCell(cells[c]!, line, header[c]!, source);
  }
  return { columns: keep.map((i) => header[i]!), rows: out, nRows: rows.length };
}
