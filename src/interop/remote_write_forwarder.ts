/**
 * Remote write out: series acknowledged by this EMMS are forwarded to Prometheus-compatible
 * remote stores (VictoriaMetrics, Mimir, Thanos Receive, Prometheus with its receiver on).
 *
 * Path of a batch: `offer()` runs after the engine committed an ingest batch and before that
 * batch is acknowledged (forwarding_engine.ts); it keeps the series each destination selects
 * (tenant and metric id globs), encodes them as remote-write requests of at most
 * `max_samples_per_send` samples, and appends them to the durable queue in one fsynced
 * transaction (remote_write_queue.ts). One sender loop per destination then sends the oldest
 * batch, deletes it on 2xx, and on a retryable failure waits (exponential backoff with jitter)
 * and tries the same batch again, so batches arrive in order and at least once, also after a
 * restart (the queue is read back at start).
 *
 * Names out: a metric id's characters outside `[A-Za-z0-9_:]` become `_` (`cpu.usage` →
 * `cpu_usage`, as on /federate), tags become labels, labels sorted as the specification asks.
 */
import { compressSync } from 'snappy';
import type { EgressPolicy } from '../net/egress_guard.js';
import type { Tags } from '../model/metric.js';
import type { RemoteWriteTarget } from './remote_write_config.js';
import { encodeWriteRequest, type WireLabel } from './remote_write_proto.js';
import { RemoteWriteQueue, type NewBatch } from './remote_write_queue.js';
import { sendRemoteWrite, type SendOutcome } from './remote_write_sender.js';

/** A series of an acknowledged batch, as the forwarder receives it. */
export interface ForwardedSeries {
  metricId: string;
  tags: Tags;
  timestamps: ArrayLike<number>;
  values: ArrayLike<number>;
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface ForwarderOptions {
  egress: EgressPolicy;
  log: Log;
  /** Injected by tests; default sendRemoteWrite. */
  send?: (target: RemoteWriteTarget, body: Uint8Array, signal: AbortSignal) => Promise<SendOutcome>;
  now?: () => number;
  random?: () => number;
}

interface TargetState {
  target: RemoteWriteTarget;
  sentSamples: number;
  sentBatches: number;
  droppedBacklogSamples: number;
  droppedRejectedSamples: number;
  failures: number;
  lastSuccessMs: number | undefined;
  /** Set while the sender waits for new batches (not while it backs off: new data must not cut a backoff short). */
  wake: (() => void) | undefined;
  /** Set while it backs off; stop() ends the wait. */
  stopWait: (() => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  loop: Promise<void> | undefined;
}

/** Prometheus's name rule: what a metric id becomes in `__name__`. */
export function prometheusName(metricId: string): string {
  let out = '';
  for (let i = 0; i < metricId.length; i++) {
    const c = metricId.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58 || (c >= 48 && c <= 57 && i > 0);
    out += ok ? metricId[i] : '_';
  }
  return out;
}

/** Backoff before attempt `attempt` (1, 2, …): doubling from min to max, then "equal jitter" (half fixed, half random). */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30));
  return base / 2 + random() * (base / 2);
}

export class RemoteWriteForwarder {
  readonly #queue: RemoteWriteQueue;
  readonly #states: TargetState[];
  readonly #options: ForwarderOptions;
  readonly #send: (target: RemoteWriteTarget, body: Uint8Array, signal: AbortSignal) => Promise<SendOutcome>;
  /** Aborted by stop(): an in-flight request must not hold shutdown for its whole timeout. */
  readonly #stopping = new AbortController();
  readonly #now: () => number;
  #running = false;

  private constructor(queue: RemoteWriteQueue, targets: readonly RemoteWriteTarget[], options: ForwarderOptions) {
    this.#queue = queue;
    this.#options = options;
    this.#send = options.send ?? ((t, body, signal) => sendRemoteWrite(t, body, options.egress, signal));
    this.#now = options.now ?? Date.now;
    this.#states = targets.map((target) => ({
      target, sentSamples: 0, sentBatches: 0, droppedBacklogSamples: 0, droppedRejectedSamples: 0, failures: 0, lastSuccessMs: undefined, wake: undefined, stopWait: undefined, timer: undefined, loop: undefined,
    }));
  }

  /** Opens the queue in `dataDir` (what an earlier run left is sent first). */
  static open(dataDir: string, targets: readonly RemoteWriteTarget[], options: ForwarderOptions): RemoteWriteForwarder {
    return new RemoteWriteForwarder(RemoteWriteQueue.open(dataDir), targets, options);
  }

  get targets(): readonly RemoteWriteTarget[] {
    return this.#states.map((s) => s.target);
  }

  /**
   * Queues the series of an acknowledged batch for every destination that selects them;
   * returns once they are durable in the queue. Throws when the queue cannot be written (the
   * caller then does not acknowledge: the client resends, at least once).
   */
  offer(tenant: string, series: readonly ForwardedSeries[]): void {
    const batches: NewBatch[] = [];
    for (const state of this.#states) {
      const t = state.target;
      if (t.tenants !== '*' && !t.tenants.has(tenant)) continue;
      const selected = series.filter((s) => t.match.some((g) => g.matches(s.metricId)));
      if (selected.length > 0) batches.push(...encodeBatches(t, tenant, selected));
    }
    if (batches.length === 0) return;
    this.#queue.append(batches, this.#now());
    for (const state of this.#states) {
      const dropped = this.#queue.trim(state.target.name, state.target.maxBacklogBytes);
      if (dropped > 0) {
        state.droppedBacklogSamples += dropped;
        this.#options.log('warn', `remote_write ${state.target.name}: backlog past max_backlog_bytes=${state.target.maxBacklogBytes}; dropped the oldest ${dropped} samples`);
      }
      state.wake?.();
    }
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const state of this.#states) state.loop = this.#run(state);
  }

  /** Stops the senders (an in-flight request finishes or times out); the queue keeps the rest for the next start. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#stopping.abort();
    for (const s of this.#states) {
      clearTimeout(s.timer);
      s.wake?.();
      s.stopWait?.();
    }
    await Promise.all(this.#states.map((s) => s.loop));
    this.#queue.close();
  }

  async #run(state: TargetState): Promise<void> {
    const { target } = state;
    let attempt = 0;
    while (this.#running) {
      const batch = this.#queue.peek(target.name);
      if (batch === undefined) {
        await new Promise<void>((resolve) => {
          state.wake = resolve;
        });
        state.wake = undefined;
        continue;
      }
      const outcome = await this.#send(target, batch.body, this.#stopping.signal);
      if (!this.#running) break;
      if (outcome.kind === 'delivered') {
        // The queue may have been trimmed while the request was out: remove() ignores a gone row.
        this.#queue.remove(target.name, batch.id);
        state.sentSamples += batch.samples;
        state.sentBatches++;
        state.lastSuccessMs = this.#now();
        attempt = 0;
        continue;
      }
      if (outcome.kind === 'drop') {
        this.#queue.remove(target.name, batch.id);
        state.droppedRejectedSamples += batch.samples;
        this.#options.log('warn', `remote_write ${target.name}: dropped a batch of ${batch.samples} samples: ${outcome.detail}`);
        continue;
      }
      state.failures++;
      attempt++;
      const delay = backoffMs(attempt, target.minBackoffMs, target.maxBackoffMs, this.#options.random ?? Math.random);
      if (attempt === 1 || attempt % 10 === 0) this.#options.log('warn', `remote_write ${target.name}: ${outcome.detail}; retrying (attempt ${attempt}, next in ${Math.round(delay)} ms)`);
      await new Promise<void>((resolve) => {
        state.stopWait = resolve;
        state.timer = setTimeout(resolve, delay);
      });
      state.stopWait = undefined;
    }
  }

  /** Prometheus text for /metrics: backlog, lag, sent and dropped per destination. */
  renderMetrics(): string {
    const now = this.#now();
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, value: (s: TargetState) => number, extra: Record<string, string> = {}): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const s of this.#states) {
        const labels = Object.entries({ remote: s.target.name, ...extra }).map(([k, v]) => `${k}="${v}"`).join(',');
        lines.push(`${name}{${labels}} ${value(s)}`);
      }
    };
    const backlog = (s: TargetState) => this.#queue.backlog(s.target.name);
    family('emms_remote_write_backlog_bytes', 'gauge', 'Bytes of request bodies waiting in the durable queue.', (s) => backlog(s).bytes);
    family('emms_remote_write_backlog_samples', 'gauge', 'Samples waiting in the durable queue.', (s) => backlog(s).samples);
    family('emms_remote_write_backlog_batches', 'gauge', 'Requests waiting in the durable queue.', (s) => backlog(s).batches);
    family('emms_remote_write_lag_seconds', 'gauge', 'Age of the oldest waiting batch (0 when the queue is empty).', (s) => {
      const oldest = backlog(s).oldestEnqueuedMs;
      return oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000);
    });
    family('emms_remote_write_samples_sent_total', 'counter', 'Samples the receiver acknowledged (2xx).', (s) => s.sentSamples);
    family('emms_remote_write_batches_sent_total', 'counter', 'Requests the receiver acknowledged (2xx).', (s) => s.sentBatches);
    family('emms_remote_write_send_failures_total', 'counter', 'Attempts that will be retried (network error, timeout, 408, 429, 5xx).', (s) => s.failures);
    lines.push('# HELP emms_remote_write_dropped_samples_total Samples given up on: the backlog bound (oldest first) or a receiver refusal that retrying cannot fix.', '# TYPE emms_remote_write_dropped_samples_total counter');
    for (const s of this.#states) {
      lines.push(`emms_remote_write_dropped_samples_total{remote="${s.target.name}",reason="backlog_full"} ${s.droppedBacklogSamples}`);
      lines.push(`emms_remote_write_dropped_samples_total{remote="${s.target.name}",reason="rejected"} ${s.droppedRejectedSamples}`);
    }
    family('emms_remote_write_last_success_timestamp_seconds', 'gauge', 'When the receiver last acknowledged a request (0 = never in this run).', (s) => (s.lastSuccessMs ?? 0) / 1000);
    return `${lines.join('\n')}\n`;
  }
}

/** The series as snappy-compressed WriteRequests of at most max_samples_per_send samples. */
function encodeBatches(target: RemoteWriteTarget, tenant: string, series: readonly ForwardedSeries[]): NewBatch[] {
  const out: NewBatch[] = [];
  let timeseries: Array<{ labels: WireLabel[]; samples: Array<{ value: number; timestamp: number }> }> = [];
  let samples = 0;
  const flush = (): void => {
    if (samples === 0) return;
    out.push({ target: target.name, samples, body: compressSync(Buffer.from(encodeWriteRequest({ timeseries }))) });
    timeseries = [];
    samples = 0;
  };
  for (const s of series) {
    const labels: WireLabel[] = [{ name: '__name__', value: prometheusName(s.metricId) }];
    for (const key of Object.keys(s.tags)) if (key !== target.tenantLabel) labels.push({ name: key, value: s.tags[key]! });
    if (target.tenantLabel !== undefined) labels.push({ name: target.tenantLabel, value: tenant });
    labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let i = 0;
    while (i < s.timestamps.length) {
      const room = target.maxSamplesPerSend - samples;
      const take = Math.min(room, s.timestamps.length - i);
      const part: Array<{ value: number; timestamp: number }> = new Array(take);
      for (let j = 0; j < take; j++) part[j] = { value: s.values[i + j]!, timestamp: Math.floor(s.timestamps[i + j]!) };
      timeseries.push({ labels, samples: part });
      samples += take;
      i += take;
      if (samples >= target.maxSamplesPerSend) flush();
    }
  }
  flush();
  return out;
}
