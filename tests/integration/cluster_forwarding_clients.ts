/**
 * Writers for the forwarding test (cluster_forwarding.test.ts) that behave like real clients
 * of a cluster whose every node listens: they write to every node in turn and, when a node
 * answers 503 (no writer right now, or it is taking over) or refuses a stream, wait the
 * Retry-After pause before the next attempt instead of retrying at once. Without that pause a
 * test client turns a failover into a busy loop of refused requests that starves the node
 * replaying on the same 2 cores. The bookkeeping is the failover test's (FailoverWriterClient:
 * the exact sets of acknowledged and sent points), so differencesOn() checks them.
 */
import { WsClient } from '../../bench/load/ws_client.js';
import type { ClusterNode } from './cluster_failover_node.js';
import { FAILOVER_METRIC, sentValue, type Ack, type FailoverWriterClient } from './cluster_failover_writer.js';
import { packr, unpackr } from './server_harness.js';

/** What a client waits after a 503 or a refused connection: the forwarder's Retry-After is 1 s; a shorter pause keeps the test short. */
const RETRY_PAUSE_MS = 250;
const REQUEST_TIMEOUT_MS = 30_000;
const DRAIN_MS = 10_000;

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

abstract class RetryingWriter implements FailoverWriterClient {
  readonly acked = new Map<number, number>();
  readonly sent = new Map<number, number>();
  readonly acks: Ack[] = [];
  readonly failures: string[] = [];
  protected nextTs: number;
  #cursor = 0;
  protected stopped = false;
  #loop: Promise<void> | undefined;

  constructor(readonly client: string, readonly nodes: () => ClusterNode[], startTs: number, readonly pointsPerBatch: number) {
    this.nextTs = startTs;
  }

  start(): void {
    this.stopped = false;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.stopped) {
      const nodes = this.nodes();
      if (nodes.length === 0) return;
      const node = nodes[this.#cursor++ % nodes.length]!;
      if (!(await this.attempt(node))) await pause(RETRY_PAUSE_MS);
    }
  }

  /** One request or one stream on `node`; false when the node refused (then the client pauses). */
  protected abstract attempt(node: ClusterNode): Promise<boolean>;

  protected batch(): Array<[number, number]> {
    const batch: Array<[number, number]> = [];
    for (let i = 0; i < this.pointsPerBatch; i++) {
      const ts = this.nextTs++;
      batch.push([ts, sentValue(ts)]);
    }
    return batch;
  }

  protected metrics(batch: Array<[number, number]>): unknown[] {
    return batch.map(([timestamp, value]) => ({ metric_id: FAILOVER_METRIC, value, timestamp, tags: { client: this.client } }));
  }
}

/** POSTs one row batch at a time. */
export class RetryingHttpWriter extends RetryingWriter {
  protected async attempt(node: ClusterNode): Promise<boolean> {
    const batch = this.batch();
    let response: Response;
    try {
      response = await fetch(`${node.base}/api/v1/metrics`, {
        method: 'POST', headers: { ...node.auth(), 'content-type': 'application/json' }, body: JSON.stringify({ metrics: this.metrics(batch) }), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === 'ECONNREFUSED') return false;
      for (const [t, v] of batch) this.sent.set(t, v);
      this.failures.push(`${node.name}: ${(err as Error).message} (${code})`);
      return false;
    }
    for (const [t, v] of batch) this.sent.set(t, v);
    const text = await response.text().catch((err: unknown) => `(body lost: ${(err as Error).message})`);
    if (response.status === 200 && (JSON.parse(text) as { accepted?: number }).accepted === batch.length) {
      for (const [t, v] of batch) this.acked.set(t, v);
      this.acks.push({ node: node.name, at: performance.now(), points: batch.length });
      return true;
    }
    this.failures.push(`${node.name}: HTTP ${response.status} ${text.slice(0, 200)}`);
    return false;
  }
}

/** Streams row frames with up to `window` unacknowledged on one WebSocket until it closes. */
export class RetryingStreamWriter extends RetryingWriter {
  constructor(client: string, nodes: () => ClusterNode[], startTs: number, pointsPerBatch: number, readonly window: number) {
    super(client, nodes, startTs, pointsPerBatch);
  }

  protected async attempt(node: ClusterNode): Promise<boolean> {
    let ws: WsClient;
    try {
      ws = await WsClient.open(`ws://127.0.0.1:${node.port}/api/v1/stream`, { headers: node.auth() });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ECONNREFUSED') this.failures.push(`${node.name}: ${(err as Error).message.slice(0, 200)}`);
      return false;
    }
    const inflight = new Map<number, Array<[number, number]>>();
    let seq = 0;
    let answered = 0;
    let wake: (() => void) | undefined;
    const wakeUp = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    ws.onMessage = (m) => {
      const reply = unpackr.unpack(m.data) as { ack?: bigint; nack?: bigint | null };
      const s = Number(reply.ack ?? reply.nack);
      const batch = inflight.get(s);
      inflight.delete(s);
      if (batch !== undefined && reply.ack !== undefined) {
        answered++;
        for (const [t, v] of batch) this.acked.set(t, v);
        this.acks.push({ node: node.name, at: performance.now(), points: batch.length });
      } else {
        this.failures.push(`${node.name}: frame ${s} refused: ${JSON.stringify(reply, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`);
      }
      wakeUp();
    };
    ws.onClose = () => wakeUp();
    while (!this.stopped && !ws.closed) {
      if (inflight.size >= this.window) {
        await new Promise<void>((r) => {
          wake = r;
        });
        continue;
      }
      const batch = this.batch();
      for (const [t, v] of batch) this.sent.set(t, v);
      inflight.set(seq, batch);
      ws.send(packr.pack({ seq, metrics: this.metrics(batch) }));
      seq++;
      await new Promise((r) => setImmediate(r));
    }
    const deadline = performance.now() + DRAIN_MS;
    while (inflight.size > 0 && !ws.closed && performance.now() < deadline) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
    if (ws.closed && !this.stopped) this.failures.push(`${node.name}: stream closed ${ws.closeCode} ${ws.closeReason}`);
    ws.close();
    return answered > 0;
  }
}
