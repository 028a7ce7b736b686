import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run as detect } from '../../src/cli/detect_command.js';
import { run as iforest } from '../../src/cli/iforest_command.js';
import { detectSeries } from '../../src/analytics/detect_series.js';
import { DETECTOR_METHODS } from '../../src/analytics/streaming_detector.js';

let dir: string;
let stderr: string;
let stdout: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-detect-cli-'));
  stderr = '';
  stdout = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('emms detect', () => {
  it('writes one row per input row, in order, keeping repeated timestamps', async () => {
    const rows = ['timestamp,value'];
    // Past the detectors' first day (no alarm is raised before 288 points).
    for (let i = 0; i < 400; i++) {
      const t = new Date(Date.UTC(2024, 0, 1) + Math.floor(i / 2) * 300_000).toISOString().replace('T', ' ').slice(0, 19);
      rows.push(`${t},${i === 350 ? 1000 : 10 + (i % 7) * 0.1}`);
    }
    const input = file('in.csv', rows.join('\n')); // no final newline, like some NAB files
    const output = join(dir, 'out.csv');
    expect(await detect(['--input', input, '--output', output, '--method', 'zscore', '--sensitivity', '0.5'])).toBe(0);
    const lines = readFileSync(output, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('timestamp,value,anomaly_score,is_anomaly');
    expect(lines).toHaveLength(401);
    for (let i = 1; i <= 400; i++) {
      const [t, v, score, flag] = lines[i]!.split(',');
      expect(`${t},${v}`).toBe(rows[i]);
      expect(Number(score)).toBeGreaterThanOrEqual(0);
      expect(Number(score)).toBeLessThanOrEqual(1);
      expect(['0', '1']).toContain(flag);
    }
    expect(lines[351]!.endsWith(',1')).toBe(true);
    expect(stderr).toBe(`emms detect: warning: ${input}: 200 row(s) repeat the previous timestamp; scored in arrival order\n`);
  });

  for (const method of DETECTOR_METHODS) {
    it(`--method ${method}: every row's score and flag are detectSeries' for the same series`, async () => {
      // Five days of a daily cycle sampled every 5 min (the seasonal detector needs several
      // periods), with a spike, a level shift and a repeated timestamp.
      const ROWS = 1500;
      const start = Date.UTC(2024, 2, 1);
      const timestamps: number[] = [];
      const values: number[] = [];
      const rows = ['timestamp,value'];
      for (let i = 0; i < ROWS; i++) {
        const t = start + (i === 301 ? 300 : i) * 300_000;
        const v = Math.round((20 + 5 * Math.sin((2 * Math.PI * i) / 288) + (i % 5) * 0.3 + (i === 1000 ? 40 : 0) + (i >= 1200 ? 12 : 0)) * 100) / 100;
        timestamps.push(t);
        values.push(v);
        rows.push(`${new Date(t).toISOString().replace('T', ' ').slice(0, 19)},${v}`);
      }
      const output = join(dir, `${method}.csv`);
      expect(await detect(['--input', file('series.csv', rows.join('\n') + '\n'), '--output', output, '--method', method, '--sensitivity', '0.7'])).toBe(0);
      const expected = detectSeries(timestamps, values, { method, sensitivity: 0.7 });
      const lines = readFileSync(output, 'utf8').trimEnd().split('\n').slice(1);
      expect(lines).toHaveLength(ROWS);
      lines.forEach((line, i) => {
        const [, , score, flag] = line.split(',');
        if (score !== expected.scores[i]!.toPrecision(8) || flag !== String(expected.isAnomaly[i])) {
          expect.fail(`row ${i + 1}: CLI wrote score=${score} flag=${flag}, detectSeries gives ${expected.scores[i]!.toPrecision(8)} ${expected.isAnomaly[i]}`);
        }
      });
      // The comparison is not of constants: scores vary from row to row (367 to 1,471 distinct
      // values; 82 for cad, whose scores are ratios of small counts), and every method flags a
      // few rows (1 to 52) but not most.
      expect(new Set(expected.scores).size).toBeGreaterThan(50);
      const flagged = expected.isAnomaly.reduce((a, f) => a + f, 0);
      expect(flagged).toBeGreaterThan(0);
      expect(flagged).toBeLessThan(ROWS / 10);
    });
  }

  it('scores rows whose timestamps step back or repeat in arrival order, one row out per row in, with one warning', async () => {
    // As NAB's machine_temperature_system_failure.csv: the clock steps back 55 minutes once
    // (line 10151 there), plus repeated timestamps as in ec2_disk_write_bytes_1ef3de.csv.
    const rows = ['timestamp,value'];
    const start = Date.UTC(2013, 11, 2, 21, 15);
    for (let i = 0; i < 600; i++) {
      const minutes = i < 400 ? 5 * i : 5 * i - 55; // step back at row 400 (line 402)
      const repeat = i >= 500 && i < 510 ? 500 : i; // rows 500..509 share one timestamp
      const t = start + (repeat === i ? minutes : 5 * 500 - 55) * 60_000;
      rows.push(`${new Date(t).toISOString().replace('T', ' ').slice(0, 19)},${(70 + 5 * Math.sin(i / 20) + (i % 3) * 0.2).toFixed(3)}`);
    }
    const input = file('stepback.csv', rows.join('\n'));
    const output = join(dir, 'out.csv');
    expect(await detect(['--input', input, '--output', output])).toBe(0);
    const lines = readFileSync(output, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(601);
    lines.slice(1).forEach((line, i) => expect(line.split(',').slice(0, 2).join(',')).toBe(rows[i + 1]));
    // Row 400 steps back below 11 earlier rows' timestamps: only the first row of a step back
    // counts, and the later rows that fall between old timestamps are not steps back.
    expect(stderr).toBe(`emms detect: warning: ${input}: 1 row(s) step back in time (first at line 402), 9 row(s) repeat the previous timestamp; scored in arrival order\n`);
    // The default (`auto`, cad over the file's range) scored every row in file order: the
    // scores are cad's on the values as they arrived, and rows after the step back are scored.
    const values = Float64Array.from(rows.slice(1), (row) => Number(row.split(',')[1]));
    const times = Float64Array.from(rows.slice(1), (row) => Date.parse(`${row.split(',')[0]!.replace(' ', 'T')}Z`));
    const expected = detectSeries(times, values, { method: 'cad' });
    lines.slice(1).forEach((line, i) => expect(line.split(',').slice(2).join(','), `row ${i + 1}`).toBe(`${expected.scores[i]!.toPrecision(8)},${expected.isAnomaly[i]}`));
    expect(expected.scores.subarray(400).some((score) => score > 0)).toBe(true);
  });

  it('only an unparseable row is an error, naming its line and value', async () => {
    const input = file('bad_row.csv', 'timestamp,value\n2024-01-01 00:10:00,1\n2024-01-01 00:05:00,2\n2024-01-01 00:06:00,n/a\n');
    expect(await detect(['--input', input, '--output', join(dir, 'o.csv')])).toBe(1);
    expect(stderr).toMatch(/line 4, column "value": "n\/a" is not a finite number/);
  });

  it('accepts ISO-8601 timestamps with a zone', async () => {
    const input = file('iso.csv', 'timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:05:00.000+00:00,2\n');
    expect(await detect(['--input', input, '--output', '-'])).toBe(0);
    expect(stdout.split('\n')[2]).toMatch(/^2024-01-01T00:05:00.000\+00:00,2,/);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['missing column', 'time,value\n2024-01-01 00:00:00,1\n', /line 1: column "timestamp" is missing from the header/],
    ['non-numeric value', 'timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,12a\n', /line 3, column "value": "12a" is not a finite number/],
    ['bad timestamp', 'timestamp,value\n2024-13-01 00:00:00,1\n', /line 2, column "timestamp": "2024-13-01 00:00:00" is not a timestamp/],
    ['empty file', '', /line 1: the file is empty/],
    ['header only', 'timestamp,value\n', /line 2: no data rows after the header/],
    ['short row', 'timestamp,value\n2024-01-01 00:10:00\n', /line 2, column "value": missing/],
  ];
  for (const [what, text, message] of bad) {
    it(`stops on ${what}, naming line and column`, async () => {
      const input = file('bad.csv', text);
      expect(await detect(['--input', input, '--output', join(dir, 'o.csv')])).toBe(1);
      expect(stderr).toMatch(message);
    });
  }

  it('refuses bad options with exit code 2', async () => {
    expect(await detect(['--input', 'x', '--output', 'y', '--sensitivity', '2'])).toBe(2);
    expect(stderr).toMatch(/--sensitivity="2" must be a number in \[0, 1\]/);
    expect(await detect(['--input', 'x', '--output', 'y', '--method', 'fft'])).toBe(2);
    expect(await detect(['--output', 'y'])).toBe(2);
    expect(await detect(['--help'])).toBe(0);
    expect(stdout).toMatch(/Usage: emms detect/);
  });
});

describe('emms iforest', () => {
  it('fits and writes one score per row; reads gzip; --exclude drops the label', async () => {
    const lines = ['a,b,label'];
    for (let i = 0; i < 400; i++) lines.push(`${(i % 20) / 10},${(i % 13) / 7},0`);
    lines.push('50,-50,1');
    const input = file('x.csv.gz', gzipSync(lines.join('\n') + '\n'));
    const output = join(dir, 'scores.csv');
    expect(await iforest(['--input', input, '--output', output, '--exclude', 'label', '--trees', '50', '--seed', '3'])).toBe(0);
    const out = readFileSync(output, 'utf8').trimEnd().split('\n');
    expect(out[0]).toBe('score');
    expect(out).toHaveLength(402);
    const scores = out.slice(1).map(Number);
    expect(Math.max(...scores)).toBe(scores[400]);
  });

  it('stops on bad input naming line and column', async () => {
    const input = file('bad.csv', 'a,b\n1,2\n3,x\n');
    expect(await iforest(['--input', input, '--output', join(dir, 'o.csv')])).toBe(1);
    expect(stderr).toMatch(/line 3, column "b": "x" is not a finite number/);
    const missing = file('missing.csv', 'a,b\n1,2\n3\n');
    expect(await iforest(['--input', missing, '--output', join(dir, 'o.csv')])).toBe(1);
    expect(stderr).toMatch(/line 3: 1 columns, but the header has 2 \(column "b" is missing\)/);
    expect(await iforest(['--input', file('e.csv', ''), '--output', join(dir, 'o.csv')])).toBe(1);
    expect(stderr).toMatch(/line 1: the file is empty/);
    expect(await iforest(['--input', input, '--output', join(dir, 'o.csv'), '--exclude', 'nope'])).toBe(1);
    expect(stderr).toMatch(/--exclude column "nope" is not in the header/);
    expect(await iforest(['--input', input, '--output', join(dir, 'o.csv'), '--trees', '0'])).toBe(2);
    expect(stderr).toMatch(/--trees="0" must be an integer in \[1, 10000\]/);
  });
});
