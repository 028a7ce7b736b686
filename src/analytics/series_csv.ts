/**
 * Reads a `timestamp,value` series file (the input of `emms detect` and of NAB): timestamps are
 * ISO-8601 or `YYYY-MM-DD HH:MM:SS[.ffffff]`, read as UTC when they carry no zone; every row is
 * kept in file order, including rows whose timestamp repeats or steps back (real exports repeat
 * rows and correct clocks: NAB's machine_temperature_system_failure steps back 55 minutes once);
 * those are counted so the caller can warn. Only an unparseable cell is an error, and it names
 * the line, the column and the value.
 */
import { CsvInputError, parseNumberCell, splitCsv } from './numeric_csv.js';

const PLAIN_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const HAS_ZONE = /(Z|[+-]\d{2}:?\d{2})$/i;

/** Epoch ms of a timestamp cell, or NaN when it is not one of the accepted forms. */
export function parseTimestampCell(text: string): number {
  const s = text.trim();
  const plain = PLAIN_TIME.exec(s);
  if (plain !== null) {
    const [, y, mo, d, h, mi, sec, frac] = plain;
    const ms = frac === undefined ? 0 : Math.round(Number(`0.${frac}`) * 1000);
    const month = Number(mo);
    const day = Number(d);
    if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(sec ?? 0) > 60) return NaN;
    return Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), Number(sec ?? 0), ms);
  }
  const dateOnly = DATE_ONLY.exec(s);
  if (dateOnly !== null) return Date.UTC(Number(dateOnly[1]), Number(dateOnly[2]) - 1, Number(dateOnly[3]));
  if (HAS_ZONE.test(s) && /^\d{4}-\d{2}-\d{2}T/.test(s)) return Date.parse(s);
  return NaN;
}

export interface TimeSeriesTable {
  /** Epoch ms per row, in file order (not necessarily sorted). */
  timestamps: Float64Array;
  values: Float64Array;
  /** The timestamp cells as written, so output rows can echo them. */
  timestampText: string[];
  valueText: string[];
  /** Rows whose timestamp is earlier than the previous row's. */
  stepsBack: number;
  /** Rows whose timestamp equals the previous row's. */
  repeats: number;
  /** 1-based line of the first step back, or 0. */
  firstStepBackLine: number;
}

export function parseSeriesCsv(text: string, source: string, timeColumn = 'timestamp', valueColumn = 'value'): TimeSeriesTable {
  const { header, rows } = splitCsv(text, source);
  const ti = header.indexOf(timeColumn);
  const vi = header.indexOf(valueColumn);
  for (const [name, idx] of [[timeColumn, ti], [valueColumn, vi]] as const) {
    if (idx < 0) throw new CsvInputError(`${source}: line 1: column "${name}" is missing from the header (${header.join(',')})`, 1, name);
  }
  const n = rows.length;
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  const timestampText: string[] = new Array<string>(n);
  const valueText: string[] = new Array<string>(n);
  let prev = -Infinity;
  let stepsBack = 0;
  let repeats = 0;
  let firstStepBackLine = 0;
  for (let i = 0; i < n; i++) {
    const { line, cells } = rows[i]!;
    const tCell = cells[ti];
    const vCell = cells[vi];
    if (tCell === undefined || vCell === undefined) {
      const missing = tCell === undefined ? timeColumn : valueColumn;
      throw new CsvInputError(`${source}: line ${line}, column "${missing}": missing (the row has ${cells.length} cells)`, line, missing);
    }
    const t = parseTimestampCell(tCell);
    if (!Number.isFinite(t)) {
      throw new CsvInputError(
        `${source}: line ${line}, column "${timeColumn}": ${JSON.stringify(tCell.trim())} is not a timestamp (ISO-8601 or YYYY-MM-DD HH:MM:SS, UTC)`,
        line,
        timeColumn,
      );
    }
    if (t < prev) {
      stepsBack++;
      if (firstStepBackLine === 0) firstStepBackLine = line;
    } else if (t === prev) {
      repeats++;
    }
    prev = t;
    timestamps[i] = t;
    values[i] = parseNumberCell(vCell, line, valueColumn, source);
    timestampText[i] = tCell.trim();
    valueText[i] = vCell.trim();
  }
  return { timestamps, values, timestampText, valueText, stepsBack, repeats, firstStepBackLine };
}
