/**
 * Live updates for the dashboard: clients subscribe to metric patterns over a WebSocket
 * (live_socket.ts) and are pushed each matching series' newest points as soon as they are
 * stored, so charts of recent ranges move without the page polling.
 *
 * How new points are noticed: the engine has no per-commit callback, but its
 * `stats().pointsIngested` counter moves with every acknowledged batch (HTTP, stream,
 * collectors, alerting). The hub looks at that counter every `tickMs` (100 ms, one integer
 * read while nothing arrives) and, when it moved, reads `latest()` once per distinct
 * (tenant, pattern, tags) and pushes to each subscriber the series whose newest timestamp is
 * past what it last sent. A point is therefore on the wire within one tick plus one `latest()`
 * after its acknowledgement. Only the newest point per series and tick is sent: a chart of a
 * recent range needs no more, and it bounds the rate at 1000/tickMs messages per subscription.
 *
 * Bounds: subscriptions per connection, series per subscription (the `latest()` cap; past it
 * the subscriber gets an error naming the limit), connections per hub, and a send that would
 * exceed the socket's buffer limit is dropped (the next tick carries newer points anyway).
 * Everything is scoped to the tenant of the connection's principal, fixed at the upgrade.
 */
import type { MetricsSystem } from '../model/api.js';
import type { Tags } from '../model/metric.js';
import type { Principal } from '../http/route.js';

export const DEFAULT_LIVE_TICK_MS = 100;
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 16;
export const MAX_SERIES_PER_SUBSCRIPTION = 500;
export const DEFAULT_MAX_LIVE_CONNECTIONS = 1000;
/** How often the principals of open connections are re-checked (revoked keys, expired JWTs). */
const CREDENTIAL_CHECK_MS = 2000;
const MAX_PATTERN_CHARS = 256;
const MAX_ID_CHARS = 64;

/** What a connection does with the hub's messages; false when the message was dropped. */
export interface LiveSink {
  send(message: string): boolean;
  close(code: number, reason: string): void;
}

interface Subscription {
  id: string;
  pattern: string;
  tags: Tags | undefined;
  /** Newest timestamp sent, per series key. */
  sent: Map<string, number>;
}

export interface LiveClient {
  readonly principal: Principal;
  /** Handles one text frame from the client. */
  receive(text: string): void;
  /** The socket closed. */
  closed(): void;
}

export interface LiveHubOptions {
  tickMs?: number;
  maxConnections?: number;
  maxSeriesPerSubscription?: number;
  stillValid?: ((principal: Principal) => boolean) | undefined;
  onError?: (err: unknown) => void;
}

class Connection implements LiveClient {
  readonly subscriptions = new Map<string, Subscription>();
  constructor(readonly hub: LiveHub, readonly principal: Principal, readonly sink: LiveSink) {}

  receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return this.#error('frame is not JSON: send {"subscribe":{"id":"…","metric_pattern":"…"}} or {"unsubscribe":"…"}');
    }
    const m = message as { subscribe?: unknown; unsubscribe?: unknown };
    if (typeof m.unsubscribe === 'string') {
      this.subscriptions.delete(m.unsubscribe);
      return;
    }
    const s = m.subscribe as { id?: unknown; metric_pattern?: unknown; tags?: unknown } | undefined;
    if (s === undefined || typeof s !== 'object' || s === null) return this.#error('unknown frame: send {"subscribe":{…}} or {"unsubscribe":"…"}');
    if (typeof s.id !== 'string' || s.id === '' || s.id.length > MAX_ID_CHARS) return this.#error(`subscribe.id must be a string of 1 to ${MAX_ID_CHARS} characters`);
    if (typeof s.metric_pattern !== 'string' || s.metric_pattern === '' || s.metric_pattern.length > MAX_PATTERN_CHARS) {
      return this.#error(`subscribe.metric_pattern must be a glob of 1 to ${MAX_PATTERN_CHARS} characters`, s.id);
    }
    const tags = parseTags(s.tags);
    if (tags === null) return this.#error('subscribe.tags must be an object of string values', s.id);
    if (!this.subscriptions.has(s.id) && this.subscriptions.size >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      return this.#error(`at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`, s.id);
    }
    this.subscriptions.set(s.id, { id: s.id, pattern: s.metric_pattern, tags, sent: new Map() });
    this.hub.wake();
  }

  closed(): void {
    this.hub.forget(this);
  }

  #error(error: string, id?: string): void {
    this.sink.send(JSON.stringify(id === undefined ? { error } : { error, id }));
  }
}

function parseTags(raw: unknown): Tags | undefined | null {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) return null;
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > 32 || entries.some(([, v]) => typeof v !== 'string')) return null;
  return Object.fromEntries(entries) as Tags;
}

function seriesKey(metricId: string, tags: Tags): string {
  return metricId + JSON.stringify(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export class LiveHub {
  readonly #engine: MetricsSystem;
  readonly #tickMs: number;
  readonly #maxConnections: number;
  readonly #maxSeries: number;
  readonly #stillValid: ((principal: Principal) => boolean) | undefined;
  readonly #onError: (err: unknown) => void;
  readonly #connections = new Set<Connection>();
  #timer: NodeJS.Timeout | undefined;
  #lastIngested = -1;
  #lastCredentialCheck = 0;
  #running: Promise<void> | undefined;
  #forced = false;

  constructor(engine: MetricsSystem, options: LiveHubOptions = {}) {
    this.#engine = engine;
    this.#tickMs = options.tickMs ?? DEFAULT_LIVE_TICK_MS;
    this.#maxConnections = options.maxConnections ?? DEFAULT_MAX_LIVE_CONNECTIONS;
    this.#maxSeries = options.maxSeriesPerSubscription ?? MAX_SERIES_PER_SUBSCRIPTION;
    this.#stillValid = options.stillValid;
    this.#onError = options.onError ?? (() => undefined);
  }

  get size(): number {
    return this.#connections.size;
  }

  /** Whether another connection may open (checked at the upgrade). */
  get full(): boolean {
    return this.#connections.size >= this.#maxConnections;
  }

  connect(principal: Principal, sink: LiveSink): LiveClient {
    const c = new Connection(this, principal, sink);
    this.#connections.add(c);
    return c;
  }

  forget(c: LiveClient): void {
    this.#connections.delete(c as Connection);
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), this.#tickMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const c of [...this.#connections]) c.sink.close(1001, 'server is shutting down');
    this.#connections.clear();
  }

  /** A new subscription: the next tick reads even if nothing was ingested, to send it a first point. */
  wake(): void {
    this.#forced = true;
  }

  /** One look at the engine; exported for tests. Overlapping calls share the running one. */
  tick(now = Date.now()): Promise<void> {
    this.#running ??= this.#tick(now).catch((err: unknown) => this.#onError(err)).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #tick(now: number): Promise<void> {
    if (this.#stillValid !== undefined && now - this.#lastCredentialCheck >= CREDENTIAL_CHECK_MS) {
      this.#lastCredentialCheck = now;
      for (const c of [...this.#connections]) {
        if (!this.#stillValid(c.principal)) {
          this.#connections.delete(c);
          c.sink.close(1008, 'the credential of this connection was revoked or has expired');
        }
      }
    }
    if (this.#connections.size === 0 || !this.#engine.running) return;
    const ingested = this.#engine.stats().pointsIngested;
    if (ingested === this.#lastIngested && !this.#forced) return;
    this.#lastIngested = ingested;
    this.#forced = false;
    // One latest() per distinct (tenant, pattern, tags), whatever the number of subscribers.
    const reads = new Map<string, Promise<Awaited<ReturnType<MetricsSystem['latest']>> | Error>>();
    const work: Array<{ c: Connection; s: Subscription; key: string }> = [];
    for (const c of this.#connections) {
      for (const s of c.subscriptions.values()) {
        const key = `${c.principal.tenant}\u0000${s.pattern}\u0000${JSON.stringify(s.tags ?? {})}`;
        if (!reads.has(key)) {
          reads.set(key, this.#engine.forTenant(c.principal.tenant).latest(s.pattern, s.tags, this.#maxSeries).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
        }
        work.push({ c, s, key });
      }
    }
    for (const { c, s, key } of work) {
      const latest = await reads.get(key)!;
      if (!this.#connections.has(c) || c.subscriptions.get(s.id) !== s) continue;
      if (latest instanceof Error) {
        c.sink.send(JSON.stringify({ error: `subscription ${s.id}: ${latest.message}`, id: s.id }));
        c.subscriptions.delete(s.id);
        continue;
      }
      const points: Array<{ metric_id: string; tags: Tags; t: number; v: number | string }> = [];
      for (const p of latest) {
        const k = seriesKey(p.metricId, p.tags);
        const last = s.sent.get(k);
        if (last !== undefined && p.timestamp <= last) continue;
        points.push({ metric_id: p.metricId, tags: p.tags, t: p.timestamp, v: Number.isFinite(p.value) ? p.value : String(p.value) });
      }
      if (points.length === 0) continue;
      // Marked sent only when the socket took it: a dropped message is resent next tick.
      if (c.sink.send(JSON.stringify({ id: s.id, points }))) for (const p of points) s.sent.set(seriesKey(p.metric_id, p.tags), p.t);
    }
  }
}
