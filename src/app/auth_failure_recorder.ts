/**
 * Turns refused authentications into `security.auth.failures{source_ip}` points, which the
 * predefined Authentication Failures rule sums over 5 minutes per address, and remembers which
 * addresses really failed against this server, so that `block_ip` acts only on them (a writer
 * could otherwise name any address, 127.0.0.1 included, in a tag of its own points).
 *
 * Failures are counted per address and written once a second as one point each (value = the
 * count): a client hammering the server with bad tokens costs one point per second, not one
 * per request, and the 5-minute sums are the same.
 */
import { AUTH_FAILURES_METRIC } from '../keys/point_batch.js';
import type { MetricsSystem } from '../model/api.js';
import { MetricType } from '../model/metric.js';
/** Addresses counted per second; more in one second are summed under `other` (bounded points). */
const MAX_ADDRESSES_PER_FLUSH = 10_000;
/** Addresses remembered as having failed, for `block_ip`; the oldest is forgotten first. */
const MAX_REMEMBERED_ADDRESSES = 100_000;
const FLUSH_INTERVAL_MS = 1000;

export class AuthFailureRecorder {
  readonly #engine: MetricsSystem;
  readonly #onError: (err: unknown) => void;
  #counts = new Map<string, number>();
  /** Insertion-ordered: re-inserting an address moves it to the end. */
  readonly #seen = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  /** @param engine the view of the tenant whose rules watch failures (the operator's, `default`) */
  constructor(engine: MetricsSystem, onError: (err: unknown) => void) {
    this.#engine = engine;
    this.#onError = onError;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.#timer.unref();
  }

  /** One refused authentication from `address`. Never throws: it runs on the request path. */
  record(address: string): void {
    const key = this.#counts.size >= MAX_ADDRESSES_PER_FLUSH && !this.#counts.has(address) ? 'other' : address;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    if (key === 'other') return;
    this.#seen.delete(address);
    this.#seen.set(address, Date.now());
    if (this.#seen.size > MAX_REMEMBERED_ADDRESSES) this.#seen.delete(this.#seen.keys().next().value as string);
  }

  /** True when `address` failed to authenticate against this server since it started. */
  hasFailed(address: string): boolean {
    return this.#seen.has(address);
  }

  async flush(): Promise<void> {
    if (this.#counts.size === 0 || !this.#engine.running) return;
    const counts = this.#counts;
    this.#counts = new Map();
    const timestamp = Date.now();
    try {
      await this.#engine.collectMetrics([...counts].map(([sourceIp, n]) => ({
        metricId: AUTH_FAILURES_METRIC, metricType: MetricType.GAUGE, value: n, timestamp, tags: { source_ip: sourceIp },
      })));
    } catch (err) {
      this.#onError(err);
    }
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
