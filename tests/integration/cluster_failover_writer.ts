/**
 * The bookkeeping of a failover cluster test's writers (the clients are in
 * cluster_forwarding_clients.ts): each writes its own series (tag `client`, consecutive
 * millisecond timestamps, a value computed from the timestamp) and keeps two exact sets: the
 * points it acknowledged and the points it ever put on a connection (acknowledged or not: a
 * batch in flight when its node died may or may not have committed). A correct cluster stores
 * every acknowledged point with its value, and nothing outside the second set (differencesOn).
 */
import type { ClusterNode } from './cluster_failover_node.js';

export const FAILOVER_METRIC = 'failover.rows';

/** The value a client sends at `ts`: two decimals, exact through JSON both ways. */
export function sentValue(ts: number): number {
  return Math.round(Math.sin(ts) * 1e4) / 100;
}

export interface Ack {
  node: string;
  /** performance.now() when the answer arrived. */
  at: number;
  points: number;
}

/** What the test asks of a client, over HTTP or WebSocket. */
export interface FailoverWriterClient {
  readonly client: string;
  /** Acknowledged timestamp → value. */
  readonly acked: Map<number, number>;
  /** Every timestamp put on a connection → value (a superset of acked). */
  readonly sent: Map<number, number>;
  readonly acks: Ack[];
  /** Refused batches and failed requests, for a failure message. */
  readonly failures: string[];
  start(): void;
  /** Stops once the batches in flight have their answers (or their connection closed). */
  stop(): Promise<void>;
}

/** The earliest acknowledgement by `node` after `since` (performance.now()), if any. */
export function firstAckBy(clients: FailoverWriterClient[], node: string, since: number): number | undefined {
  let first: number | undefined;
  for (const c of clients) {
    for (const a of c.acks) if (a.node === node && a.at > since && (first === undefined || a.at < first)) first = a.at;
  }
  return first;
}

export function ackCount(clients: FailoverWriterClient[], node: string): number {
  return clients.reduce((n, c) => n + c.acks.filter((a) => a.node === node).length, 0);
}

interface QueryAnswer {
  series: Array<{ metric_id?: string; tags?: Record<string, string>; points: Array<[number, number]> }>;
}

/**
 * Reads every point of FAILOVER_METRIC from `node` (raw GET /api/v1/query) and returns what
 * differs from the clients' record: acknowledged points missing or changed, stored points
 * never sent, series of unknown clients. Empty when the node holds exactly what it must.
 */
export async function differencesOn(node: ClusterNode, clients: FailoverWriterClient[], startTs: number): Promise<{ problems: string[]; storedPoints: number }> {
  const params = new URLSearchParams({ metric_pattern: FAILOVER_METRIC, start_time: String(startTs - 1), end_time: String(startTs + 1e9) });
  const r = await fetch(`${node.base}/api/v1/query?${params}`, { headers: node.auth(), signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  if (r.status !== 200) return { problems: [`${node.name}: query answered HTTP ${r.status}: ${text.slice(0, 300)}`], storedPoints: 0 };
  const body = JSON.parse(text) as QueryAnswer;
  const byClient = new Map(clients.map((c) => [c.client, c]));
  const problems: string[] = [];
  const stored = new Map<string, Map<number, number>>();
  let storedPoints = 0;
  for (const s of body.series) {
    const name = s.tags?.client ?? '';
    const client = byClient.get(name);
    if (client === undefined) {
      problems.push(`series with tags ${JSON.stringify(s.tags)} was never written (${s.points.length} points)`);
      continue;
    }
    const points = stored.get(name) ?? new Map<number, number>();
    stored.set(name, points);
    for (const [t, v] of s.points) {
      storedPoints++;
      points.set(t, v);
      if (client.sent.get(t) !== v) problems.push(`${name}: stored ${t} = ${v}, never sent (sent ${client.sent.get(t)})`);
    }
  }
  for (const c of clients) {
    const points = stored.get(c.client) ?? new Map<number, number>();
    let missing = 0;
    let firstMissing: string | undefined;
    for (const [t, v] of c.acked) {
      if (points.get(t) === v) continue;
      missing++;
      firstMissing ??= `${t} (acknowledged ${v}, stored ${points.get(t)})`;
    }
    if (missing > 0) problems.push(`${c.client}: ${missing} of ${c.acked.size} acknowledged points missing or changed on ${node.name}, the first ${firstMissing}`);
  }
  return { problems: problems.slice(0, 20), storedPoints };
}
