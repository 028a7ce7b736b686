import { describe, expect, it } from 'vitest';
import {
  escapeXml, linearAxis, logAxis, median, niceCeil, renderComparisonTable, renderLatencySvg, roundRatios, targetMet, type ComparisonRow,
} from '../../bench/peers/report.js';
import { compareAnswers, emmsAnswer, vmAnswer } from '../../bench/peers/clients.js';
import { PeersWorkload, RowFrames, vmMetricName } from '../../bench/peers/workload.js';
import { TsbsDevopsGenerator } from '../../bench/workload/tsbs_devops.js';
import { Unpackr } from 'msgpackr';

const ingest: ComparisonRow = { label: 'ingest', unit: 'M points/s', vm: [2.12, 2.21], emms: [1.88, 2.9], digits: 2, target: { sense: 'at-least', ratio: 1.25 } };
const query: ComparisonRow = { label: 'query', unit: 'median ms', vm: [10, 20], emms: [4, NaN], digits: 1, target: { sense: 'at-most', ratio: 0.5 } };

describe('bench:peers report', () => {
  it('takes medians of finite values only', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it('gives each round its own ratio and judges the target on every measured round', () => {
    expect(roundRatios(ingest).map((r) => r.toFixed(3))).toEqual(['0.887', '1.312']);
    expect(targetMet(ingest)).toBe('no');
    expect(roundRatios(query)[1]).toBeNaN();
    expect(targetMet(query)).toBe('yes');
    expect(targetMet({ ...query, emms: [NaN] })).toBe('–');
    expect(targetMet({ ...query, target: undefined })).toBe('');
  });

  it('renders the side-by-side table', () => {
    const table = renderComparisonTable([ingest, query]).split('\n');
    expect(table[0]).toBe('| | VictoriaMetrics | EMMS | EMMS / VM | target | met |');
    expect(table[2]).toBe('| ingest, M points/s | 2.12 / 2.21 | 1.88 / 2.90 | 0.89× / 1.31× | ≥ 1.25× | no |');
    expect(table[3]).toBe('| query, median ms | 10.0 / 20.0 | 4.0 / – | 0.40× / – | ≤ 0.5× | yes |');
  });

  it('rounds axes up to 1, 2 or 5 × 10^k', () => {
    expect([0.3, 1, 1.1, 3, 7, 42, 100, 101].map(niceCeil)).toEqual([0.5, 1, 2, 5, 10, 50, 100, 200]);
    expect(niceCeil(0)).toBe(1);
    expect(niceCeil(NaN)).toBe(1);
  });

  it('picks axes: linear x in 1/2/5 steps, log y in whole decades', () => {
    expect(linearAxis(60)).toEqual({ end: 60, step: 10 });
    expect(linearAxis(60.3)).toEqual({ end: 70, step: 10 });
    expect(linearAxis(5)).toEqual({ end: 5, step: 1 });
    expect(logAxis(7.2, 2310)).toEqual({ lo: 1, hi: 10_000 });
    expect(logAxis(10, 10)).toEqual({ lo: 10, hi: 100 });
    expect(logAxis(Infinity, -Infinity)).toEqual({ lo: 1, hi: 10 });
  });

  it('draws one polyline per unbroken run, a legend entry per line, escaped text', () => {
    const svg = renderLatencySvg([
      { label: 'VM <r1>', color: '#d62728', points: [[1, 10], [2, 12], [3, NaN], [4, 9], [5, 11]] },
      { label: 'EMMS & co', color: '#1f77b4', dashed: true, points: [[1, 40]] },
    ], { title: 'latency "after" ingest' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(1);
    expect(svg).toContain('VM &lt;r1&gt;');
    expect(svg).toContain('EMMS &amp; co');
    expect(svg).toContain('latency &quot;after&quot; ingest');
    expect(svg).toContain('stroke-dasharray="6 4"');
    // y axis: decades 1, 10, 100 ms around the 9–40 ms samples; x axis 0–5 s in steps of 1.
    expect(svg).toContain('>100</text>');
    expect(svg).toContain('>1</text>');
    expect(svg).not.toContain('>1000</text>');
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });
});

describe('bench:peers workload and answers', () => {
  const work = new PeersWorkload(1, 100);

  it('splits 1 h of 100 hosts into 10,000-point requests over 2 connections', () => {
    expect(work.points).toBe(360_000);
    expect(work.requestsPerConnection).toBe(18);
    const bodies = work.lineProtocolBodies(1);
    expect(bodies).toHaveLength(18);
    const lines = bodies[0]!.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(20 * 50);
    expect(lines[0]).toMatch(/^cpu,hostname=host_50,region=\S+ usage_user=[\d.]+,usage_system=[\d.]+,.*usage_guest_nice=[\d.]+ 1767225600000000000$/);
    expect(lines[0]!.split(' ')[1]!.split(',').map((f) => Number(f.split('=')[1]))[0]).toBe(work.values[50 * 10]);
    expect(vmMetricName('cpu.usage_user')).toBe('cpu_usage_user');
  });

  it('continues one generator day after day (bench/scale.bench.ts): two 1 h workloads are the 2 h one, split', () => {
    const gen = new TsbsDevopsGenerator({ hosts: 100, seed: 1 });
    const first = new PeersWorkload(1, 100, gen);
    const second = new PeersWorkload(1, 100, gen);
    const whole = new PeersWorkload(2, 100);
    expect(first.values).toEqual(work.values);
    expect(second.startMs).toBe(first.endMs);
    expect(second.endMs).toBe(whole.endMs);
    expect(second.values).toEqual(whole.values.subarray(first.points));
  });

  it('patches row frames with the same points as the line protocol', () => {
    const frames = new RowFrames(work, 1, 2);
    const decoded = new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(frames.frame(3)) as { seq: number; metrics: Array<{ metric_id: string; value: number; timestamp: number; tags: Record<string, string> }> };
    expect(decoded.seq).toBe(3);
    expect(decoded.metrics).toHaveLength(10_000);
    const first = decoded.metrics[0]!;
    expect(first.timestamp).toBe(work.startMs + 3 * 20 * 10_000);
    expect(first.tags.hostname).toBe('host_50');
    expect(first.metric_id).toBe('cpu.usage_user');
    expect(first.value).toBe(work.values[60 * work.seriesCount + 500]);
    const last = decoded.metrics[9_999]!;
    expect(last.timestamp).toBe(work.startMs + (3 * 20 + 19) * 10_000);
    expect(last.value).toBe(work.values[79 * work.seriesCount + 999]);
  });

  it('lines VictoriaMetrics windows up with EMMS buckets and reports differences', () => {
    const emms = emmsAnswer(JSON.stringify({ series: [{ metric_id: 'cpu.usage_user', tags: { hostname: 'h0' }, points: [[1767225600000, 1.5], [1767229200000, null]] }] }));
    const vm = vmAnswer(JSON.stringify({ data: { result: [{ metric: { __name__: 'cpu_usage_user', hostname: 'h0' }, values: [[1767229199, '1.5'], [1767232799, '3']] }] } }), 3_599_000);
    const check = compareAnswers(emms, vm);
    expect(check.missing).toBe(0);
    expect(check.values).toBe(2);
    expect(check.maxRelativeDifference).toBe(Infinity);
    expect(compareAnswers(emms, emms).maxRelativeDifference).toBe(0);
    const partial = compareAnswers(new Map(), vm);
    expect(partial.missing).toBe(2);
  });
});
