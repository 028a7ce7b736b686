/**
 * Latency figures shared by the server benches that cut their measurements to a time window:
 * percentiles, and the ack log the load generator writes with `--latency-log` (one line per
 * acknowledged frame: connection, send time in epoch ms, ack latency in ms).
 */
import { readFileSync } from 'node:fs';

/** Linear-interpolated percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(latenciesMs: readonly number[]): LatencySummary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
  };
}

export interface AckRecord {
  sentEpochMs: number;
  latencyMs: number;
}

export function readAckLog(path: string): AckRecord[] {
  const out: AckRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n').slice(1)) {
    if (line === '') continue;
    const [, sent, latency] = line.split(',');
    out.push({ sentEpochMs: Number(sent), latencyMs: Number(latency) });
  }
  return out;
}

/** Acks of frames sent in [fromEpochMs, toEpochMs). */
export function acksSentBetween(acks: readonly AckRecord[], fromEpochMs: number, toEpochMs: number): number[] {
  return acks.filter((a) => a.sentEpochMs >= fromEpochMs && a.sentEpochMs < toEpochMs).map((a) => a.latencyMs);
}

export const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
export const describe = (s: LatencySummary): string => `p50 ${ms(s.p50)} / p95 ${ms(s.p95)} / p99 ${ms(s.p99)} / max ${ms(s.max)} ms (n=${s.count})`;
