/**
 * A WebSocket client of a failover cluster test: MessagePack row frames on /api/v1/stream with
 * up to `window` frames unacknowledged, so a writer killed mid-stream has several batches in
 * its group commit at once (the HTTP clients of cluster_failover_writer.ts have one each).
 * When its connection drops it moves to the next node, as the HTTP clients do; every frame
 * that was on the dropped connection without an answer counts as sent, not acknowledged.
 */
import { WsClient } from '../../bench/load/ws_client.js';
import type { ClusterNode } from './cluster_failover_node.js';
import { FAILOVER_METRIC, sentValue, type Ack, type FailoverWriterClient } from './cluster_failover_writer.js';
import { packr, unpackr } from './server_harness.js';

const ALL_REFUSED_PAUSE_MS = 20;
/** How long stop() waits for the answers of frames in flight. */
const DRAIN_MS = 10_000;

function refused(err: unknown): boolean {
  return (err as { code?: string })?.code === 'ECONNREFUSED';
}

export class FailoverStreamClient implements FailoverWriterClient {
  readonly acked = new Map<number, number>();
  readonly sent = new Map<number, number>();
  readonly acks: Ack[] = [];
  readonly failures: string[] = [];
  #nextTs: number;
  #cursor = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(
    readonly client: string,
    readonly nodes: () => ClusterNode[],
    startTs: number,
    readonly opts: { pointsPerFrame: number; window: number },
  ) {
    this.#nextTs = startTs;
  }

  start(): void {
    this.#stopped = false;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(): Promise<void> {
    let refusedInRow = 0;
    while (!this.#stopped) {
      const nodes = this.nodes();
      const node = nodes[this.#cursor++ % nodes.length]!;
      let ws: WsClient | undefined;
      try {
        ws = await WsClient.open(`ws://127.0.0.1:${node.port}/api/v1/stream`, { headers: node.auth() });
      } catch (err) {
        if (!refused(err)) this.failures.push(`${node.name}: ${(err as Error).message}`);
      }
      if (ws === undefined) {
        if (++refusedInRow >= nodes.length) {
          refusedInRow = 0;
          await new Promise((r) => setTimeout(r, ALL_REFUSED_PAUSE_MS));
        }
        continue;
      }
      refusedInRow = 0;
      await this.#stream(ws, node);
    }
  }

  /** Streams on one connection until stop() or until it closes. */
  async #stream(ws: WsClient, node: ClusterNode): Promise<void> {
    const inflight = new Map<number, Array<[number, number]>>();
    let seq = 0;
    let wake: (() => void) | undefined;
    const wakeUp = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    ws.onMessage = (m) => {
      const reply = unpackr.unpack(m.data) as { ack?: bigint; nack?: bigint | null; error?: string };
      const s = Number(reply.ack ?? reply.nack);
      const batch = inflight.get(s);
      inflight.delete(s);
      if (batch !== undefined && reply.ack !== undefined) {
        for (const [t, v] of batch) this.acked.set(t, v);
        this.acks.push({ node: node.name, at: performance.now(), points: batch.length });
      } else {
        this.failures.push(`${node.name}: frame ${s} refused: ${JSON.stringify(reply, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`);
      }
      wakeUp();
    };
    ws.onClose = () => wakeUp();
    while (!this.#stopped && !ws.closed) {
      if (inflight.size >= this.opts.window) {
        await new Promise<void>((r) => {
          wake = r;
        });
        continue;
      }
      const batch: Array<[number, number]> = [];
      for (let i = 0; i < this.opts.pointsPerFrame; i++) {
        const ts = this.#nextTs++;
        batch.push([ts, sentValue(ts)]);
        this.sent.set(ts, sentValue(ts));
      }
      inflight.set(seq, batch);
      ws.send(packr.pack({ seq, metrics: batch.map(([timestamp, value]) => ({ metric_id: FAILOVER_METRIC, value, timestamp, tags: { client: this.client } })) }));
      seq++;
      // Let acknowledgements in between frames.
      await new Promise((r) => setImmediate(r));
    }
    const deadline = performance.now() + DRAIN_MS;
    while (inflight.size > 0 && !ws.closed && performance.now() < deadline) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
    if (inflight.size > 0) this.failures.push(`${node.name}: ${inflight.size} frames unanswered when the connection ${ws.closed ? 'closed' : 'was given up'}`);
    ws.close();
  }
}
