/**
 * Delivers notification batches to channels without ever blocking evaluation: `enqueue` only
 * appends to the channel's queue; each channel drains its own queue, one batch at a time, so
 * a slow or failing channel delays nobody else. A failed attempt is retried with exponential
 * backoff and jitter (retryable errors only); a batch that still fails is counted and reported
 * through `onFailed`. While a channel is busy, batches waiting behind it are merged (up to
 * MAX_EVENTS_PER_BATCH events) so a backlog turns into a few grouped messages, not a storm.
 */
import { ChannelDeliveryError, type NotificationBatch, type NotificationChannel } from './channels/channel.js';

export const MAX_EVENTS_PER_BATCH = 500;

export interface DispatcherOptions {
  /** Attempts per batch, including the first. Default 5. */
  maxAttempts?: number;
  /** Delay before the first retry; doubles each time. Default 500 ms. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Batches held per channel; beyond this the oldest is dropped (and counted). Default 1000. */
  maxQueuedBatches?: number;
  now?: () => number;
  onDelivered?: (channelId: string, batch: NotificationBatch, attempts: number) => void;
  onFailed?: (channelId: string, batch: NotificationBatch, error: Error, attempts: number) => void;
}

export interface ChannelStats {
  channel_id: string;
  type: string;
  sent_batches: number;
  sent_events: number;
  failed_batches: number;
  retries: number;
  dropped_batches: number;
  queued_batches: number;
  last_error: string | null;
  last_error_at: number | null;
  last_success_at: number | null;
}

interface ChannelSlot {
  channel: NotificationChannel;
  queue: NotificationBatch[];
  busy: boolean;
  closed: boolean;
  stats: ChannelStats;
}

export class NotificationDispatcher {
  readonly #slots = new Map<string, ChannelSlot>();
  readonly #idleWaiters: Array<() => void> = [];
  readonly #opts: Required<Omit<DispatcherOptions, 'onDelivered' | 'onFailed'>> & Pick<DispatcherOptions, 'onDelivered' | 'onFailed'>;
  /** Pending backoff sleeps: timer and the resolver that ends the sleep early on close(). */
  readonly #timers = new Map<NodeJS.Timeout, () => void>();

  constructor(options: DispatcherOptions = {}) {
    this.#opts = {
      maxAttempts: options.maxAttempts ?? 5,
      baseBackoffMs: options.baseBackoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      maxQueuedBatches: options.maxQueuedBatches ?? 1000,
      now: options.now ?? Date.now,
      onDelivered: options.onDelivered,
      onFailed: options.onFailed,
    };
    if (!Number.isInteger(this.#opts.maxAttempts) || this.#opts.maxAttempts < 1) {
      throw new RangeError(`options.maxAttempts must be an integer >= 1; got ${this.#opts.maxAttempts}`);
    }
  }

  /** Adds or replaces a channel; a replaced channel's queue carries over to the new one. */
  setChannel(channel: NotificationChannel): void {
    const old = this.#slots.get(channel.id);
    if (old) {
      old.channel.close?.();
      old.channel = channel;
      old.stats.type = channel.type;
      return;
    }
    this.#slots.set(channel.id, {
      channel,
      queue: [],
      busy: false,
      closed: false,
      stats: {
        channel_id: channel.id, type: channel.type, sent_batches: 0, sent_events: 0, failed_batches: 0,
        retries: 0, dropped_batches: 0, queued_batches: 0, last_error: null, last_error_at: null, last_success_at: null,
      },
    });
  }

  removeChannel(id: string): boolean {
    const slot = this.#slots.get(id);
    if (!slot) return false;
    slot.closed = true;
    slot.queue.length = 0;
    slot.channel.close?.();
    this.#slots.delete(id);
    this.#checkIdle();
    return true;
  }

  hasChannel(id: string): boolean {
    return this.#slots.has(id);
  }

  channel(id: string): NotificationChannel | undefined {
    return this.#slots.get(id)?.channel;
  }

  channelIds(): string[] {
    return [...this.#slots.keys()];
  }

  /** Queues the events; more than MAX_EVENTS_PER_BATCH become several messages. */
  enqueue(batch: NotificationBatch): void {
    const slot = this.#slots.get(batch.channel_id);
    if (!slot || batch.events.length === 0) return;
    for (let i = 0; i < batch.events.length; i += MAX_EVENTS_PER_BATCH) {
      const events = batch.events.slice(i, i + MAX_EVENTS_PER_BATCH);
      const last = slot.queue[slot.queue.length - 1];
      if (last && last.events.length + events.length <= MAX_EVENTS_PER_BATCH) {
        last.events.push(...events);
        continue;
      }
      slot.queue.push({ ...batch, events });
      if (slot.queue.length > this.#opts.maxQueuedBatches) {
        slot.queue.shift();
        slot.stats.dropped_batches++;
      }
    }
    slot.stats.queued_batches = slot.queue.length;
    if (!slot.busy) void this.#drain(slot);
  }

  /** Resolves when every queue is empty and no delivery is in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stats(): ChannelStats[] {
    return [...this.#slots.values()].map((s) => ({ ...s.stats }));
  }

  /** Stops retries and drops queued batches. */
  close(): void {
    for (const id of [...this.#slots.keys()]) this.removeChannel(id);
    for (const [t, wake] of this.#timers) {
      clearTimeout(t);
      wake();
    }
    this.#timers.clear();
    this.#checkIdle();
  }

  #isIdle(): boolean {
    for (const s of this.#slots.values()) if (s.busy || s.queue.length > 0) return false;
    return true;
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #drain(slot: ChannelSlot): Promise<void> {
    slot.busy = true;
    try {
      while (!slot.closed) {
        const batch = slot.queue.shift();
        if (!batch) break;
        slot.stats.queued_batches = slot.queue.length;
        await this.#deliver(slot, batch);
      }
    } finally {
      slot.busy = false;
      this.#checkIdle();
    }
  }

  async #deliver(slot: ChannelSlot, batch: NotificationBatch): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await slot.channel.send(batch);
        slot.stats.sent_batches++;
        slot.stats.sent_events += batch.events.length;
        slot.stats.last_success_at = this.#opts.now();
        this.#safely(() => this.#opts.onDelivered?.(slot.channel.id, batch, attempt));
        return;
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        slot.stats.last_error = error.message;
        slot.stats.last_error_at = this.#opts.now();
        const retryable = !(error instanceof ChannelDeliveryError) || error.retryable;
        if (!retryable || attempt >= this.#opts.maxAttempts || slot.closed) {
          slot.stats.failed_batches++;
          this.#safely(() => this.#opts.onFailed?.(slot.channel.id, batch, error, attempt));
          return;
        }
        slot.stats.retries++;
        await this.#sleep(this.#backoffMs(attempt));
      }
    }
  }

  #backoffMs(attempt: number): number {
    const exp = Math.min(this.#opts.maxBackoffMs, this.#opts.baseBackoffMs * 2 ** (attempt - 1));
    // ±20% jitter so many EMMS instances retrying one receiver do not synchronise.
    return exp * (0.8 + Math.random() * 0.4);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.#timers.set(t, resolve);
    });
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // A failing callback must not turn a delivered batch into a failed one.
    }
  }
}
