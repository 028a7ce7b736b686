/**
 * Live updates over Redis pub/sub: one channel per cluster, `<prefix>live` (the cluster's key
 * prefix, `emms:live` by default), two connections per node (a subscribed connection can issue
 * nothing but (un)subscriptions, so publishing needs its own).
 *
 * Latency: a point is published at most LIVE_FLUSH_MS (100 ms) after `noteWritten`, Redis
 * forwards it to every subscriber at once, and the receiving node hands it to `onNotice`
 * when it arrives; the 1 s target is left to the subscriber's own reaction (the dashboard hub
 * ticks every 100 ms). At most one flush is in flight: while Redis is slow, notes keep
 * coalescing instead of queueing, so memory stays at the coalescer's bounds.
 *
 * Bounds on what Redis can push at a node: Redis cuts a subscriber whose pending output passes
 * `client-output-buffer-limit pubsub` (32 MB by default), which is then the largest message the
 * client library will ever buffer; NoticeReceiver drops anything past MAX_NOTICE_BYTES before
 * decoding and past RECEIVE_BYTES_PER_SECOND undecoded.
 */
import { Redis } from 'ioredis';
import type { Tags } from '../model/metric.js';
import { withTimeout } from './lease.js';
import { NoticeCoalescer } from './live_coalescer.js';
import { checkNodeId, LIVE_FLUSH_MS, newNodeId, NoticeReceiver, type LiveUpdateCounters, type LiveUpdates, type LiveUpdatesHandlers } from './live_updates.js';
import { redactedUrl } from '../text/url_password.js';

export interface RedisLiveUpdatesOptions {
  /** `redis://[:password@]host:port[/db]`; the password never appears in messages. */
  url: string;
  /** The cluster's key prefix; the channel is `<prefix>live`. Default `emms:`. */
  prefix?: string;
  /** This node's id in notices. Default: random per process. */
  nodeId?: string;
}

const DEFAULT_PREFIX = 'emms:';
const MAX_PREFIX_CHARS = 128;
const CONNECT_TIMEOUT_MS = 10_000;
/** A publish round that has not answered by then is abandoned (its notices counted lost). */
const PUBLISH_TIMEOUT_MS = 2_000;
/** Pause between reconnection attempts. */
const RECONNECT_MS = 1_000;

/** The channel of a cluster with key prefix `prefix`. */
export function liveChannel(prefix: string): string {
  return `${prefix}live`;
}

/** Connects both connections, subscribes, and starts flushing. */
export async function openRedisLiveUpdates(options: RedisLiveUpdatesOptions, handlers: LiveUpdatesHandlers): Promise<LiveUpdates> {
  const live = new RedisLiveUpdates(options, handlers);
  try {
    await live.start();
  } catch (err) {
    await live.close();
    throw err;
  }
  return live;
}

class RedisLiveUpdates implements LiveUpdates {
  readonly nodeId: string;
  readonly #url: string;
  readonly #channel: string;
  readonly #handlers: LiveUpdatesHandlers;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #coalescer: NoticeCoalescer;
  readonly #receiver: NoticeReceiver;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #subscribedOnce = false;
  #closed = false;
  #published = 0;
  #publishFailed = 0;

  constructor(options: RedisLiveUpdatesOptions, handlers: LiveUpdatesHandlers) {
    if (typeof options.url !== 'string' || options.url === '') throw new RangeError('live updates url must be a non-empty redis:// URL');
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (typeof prefix !== 'string' || prefix.length > MAX_PREFIX_CHARS) throw new RangeError(`live updates prefix=${JSON.stringify(prefix)} must be a string of at most ${MAX_PREFIX_CHARS} characters`);
    this.nodeId = options.nodeId === undefined ? newNodeId() : checkNodeId(options.nodeId);
    this.#url = options.url;
    this.#channel = liveChannel(prefix);
    this.#handlers = handlers;
    this.#coalescer = new NoticeCoalescer(this.nodeId);
    this.#receiver = new NoticeReceiver(this.nodeId, handlers);
    const common = { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, retryStrategy: () => RECONNECT_MS };
    // Notices are only worth sending now: a failed publish is dropped, never queued for later.
    this.#publisher = new Redis(options.url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: PUBLISH_TIMEOUT_MS, autoResendUnfulfilledCommands: false });
    this.#subscriber = new Redis(options.url, { ...common, autoResubscribe: true });
    for (const [role, client] of [['publisher', this.#publisher], ['subscriber', this.#subscriber]] as const) {
      client.on('error', (err: Error) => this.#report(`${role} on ${redactedUrl(this.#url)}: ${err.message}`, err));
    }
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.toString() === this.#channel) this.#receiver.receive(message);
    });
    this.#subscriber.on('ready', () => {
      // The first 'ready' is the initial connection; every later one follows a disconnection
      // during which notices were lost to this node.
      if (!this.#subscribedOnce || this.#closed) return;
      try {
        this.#handlers.onResync?.();
      } catch (err) {
        this.#report(`onResync handler failed: ${(err as Error)?.message ?? String(err)}`, err);
      }
    });
  }

  async start(): Promise<void> {
    try {
      await Promise.all([this.#publisher.connect(), this.#subscriber.connect()]);
      await this.#subscriber.subscribe(this.#channel);
    } catch (err) {
      throw new Error(`live updates: cannot subscribe on ${redactedUrl(this.#url)}: ${(err as Error).message}`, { cause: err });
    }
    this.#subscribedOnce = true;
    this.#timer = setInterval(() => this.#flush(), LIVE_FLUSH_MS);
    this.#timer.unref();
  }

  noteWritten(tenant: string, seriesKey: number | string, metricId: string, tags: Tags, timestamp: number, value: number): void {
    if (!this.#closed) this.#coalescer.note(tenant, seriesKey, metricId, tags, timestamp, value);
  }

  counters(): LiveUpdateCounters {
    const r = this.#receiver.counters;
    return { ...this.#coalescer.counters, ...r, dropped: { ...r.dropped }, published: this.#published, publishFailed: this.#publishFailed };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#flushing;
    if (this.#subscribedOnce) {
      // Points acknowledged just before shutdown still reach the other nodes' subscribers.
      await this.#publish(this.#coalescer.drain());
      await Promise.all([this.#publisher, this.#subscriber].map((c) => withTimeout(c.quit(), PUBLISH_TIMEOUT_MS, 'closing').catch(() => undefined)));
    }
    this.#publisher.disconnect();
    this.#subscriber.disconnect();
  }

  #flush(): void {
    if (this.#flushing !== undefined || this.#coalescer.empty) return;
    this.#flushing = this.#publish(this.#coalescer.drain()).finally(() => {
      this.#flushing = undefined;
    });
  }

  /** One pipelined round trip for a flush's notices; failures are counted, never thrown. */
  async #publish(notices: Uint8Array[]): Promise<void> {
    if (notices.length === 0) return;
    if (this.#publisher.status !== 'ready') {
      // Reported once per reconnection attempt by the client's 'error' events, not once per flush.
      this.#publishFailed += notices.length;
      return;
    }
    const pipeline = this.#publisher.pipeline();
    for (const n of notices) pipeline.publish(this.#channel, Buffer.from(n.buffer, n.byteOffset, n.byteLength));
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await withTimeout(pipeline.exec(), PUBLISH_TIMEOUT_MS, 'publishing notices');
    } catch (err) {
      this.#publishFailed += notices.length;
      this.#report(`publishing ${notices.length} notice(s) on ${redactedUrl(this.#url)}: ${(err as Error).message}`, err);
      return;
    }
    // exec() answers null only when the connection dropped mid-round: nothing is known to be sent.
    if (results === null) {
      this.#publishFailed += notices.length;
      return;
    }
    for (const [err] of results) {
      if (err) this.#publishFailed++;
      else this.#published++;
    }
  }

  #report(message: string, cause: unknown): void {
    if (!this.#closed) this.#handlers.onError?.(new Error(`live updates ${message}`, { cause }));
  }
}
