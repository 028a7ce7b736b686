/**
 * Live updates between EMMS nodes: each node announces the points it stored ("points written"
 * notices, live_notice_codec.ts) and hears the other nodes' announcements, so a dashboard or
 * subscriber attached to node A learns of points written through node B without polling the
 * database. One implementation today, Redis pub/sub (redis_live_updates.ts).
 *
 * Lifecycle: `openXLiveUpdates(options, handlers)` connects and subscribes (rejecting when
 * the server cannot be reached), then `noteWritten()` any number of times from the ingest path
 * (after acknowledgement), notices flushed every 100 ms; `handlers.onNotice` runs for each
 * notice from another node; `close()` publishes what is pending and disconnects.
 *
 * Delivery is best effort, as pub/sub is: notices published while a subscriber is
 * disconnected are lost to it, so after each reconnection `onResync` tells it to re-read
 * everything it shows. A notice is a hint to re-read or a newest point to show, never the data
 * of record: the database is.
 *
 * Receiving is where a hostile client of the shared server can reach a node, so NoticeReceiver
 * (below) bounds it: messages past a byte rate are dropped before decoding, malformed ones are
 * dropped and counted (decodeNotice never throws), a node's own notices are ignored, and a
 * handler that throws does not end the subscription.
 */
import { randomBytes } from 'node:crypto';
import type { Tags } from '../model/metric.js';
import type { CoalescerCounters } from './live_coalescer.js';
import { decodeNotice, NODE_ID_PATTERN, type NoticeDropReason, type PointsWrittenNotice } from './live_notice_codec.js';

export type { PointsWrittenNotice, SeriesUpdate } from './live_notice_codec.js';

export interface LiveUpdatesHandlers {
  /** Another node stored points; `notice.truncated` or a null tenant means: re-read those tenants whole. */
  onNotice: (notice: PointsWrittenNotice) => void;
  /** Notices may have been missed (the subscription was re-established): re-read everything shown. */
  onResync?: () => void;
  /** A connection or publish failure, or malformed notices dropped (at most once a minute). Never thrown. */
  onError?: (err: Error) => void;
}

export interface ReceiverCounters {
  /** Notices from other nodes handed to onNotice. */
  received: number;
  /** This node's own notices, echoed by the channel and ignored. */
  ownIgnored: number;
  /** Messages dropped, by reason; `rate` is the receive byte budget. */
  dropped: Record<NoticeDropReason | 'rate', number>;
  /** onNotice threw. */
  handlerErrors: number;
}

export interface LiveUpdateCounters extends CoalescerCounters, ReceiverCounters {
  /** Notices published. */
  published: number;
  /** Notices a failed publish lost. */
  publishFailed: number;
}

export interface LiveUpdates {
  /** This node's id in notices. */
  readonly nodeId: string;
  /**
   * A point stored (acknowledged) for `tenant`; `seriesKey` is the engine's id of its series.
   * Constant time, never throws, never waits: notices go out at the next flush.
   */
  noteWritten(tenant: string, seriesKey: number | string, metricId: string, tags: Tags, timestamp: number, value: number): void;
  counters(): LiveUpdateCounters;
  /** Publishes what is pending (bounded wait), unsubscribes, disconnects. Idempotent. */
  close(): Promise<void>;
}

/** Interval between flushes of coalesced notices, ms: the publishing side of the 1 s delivery target. */
export const LIVE_FLUSH_MS = 100;
/** Received bytes a node decodes per second; a flood past it is dropped undecoded. */
export const RECEIVE_BYTES_PER_SECOND = 16 * 1024 * 1024;
const DROP_REPORT_INTERVAL_MS = 60_000;

/** A fresh random node id (16 hex characters). */
export function newNodeId(): string {
  return randomBytes(8).toString('hex');
}

/** Validates a configured node id; the error names the value and the rule. */
export function checkNodeId(nodeId: unknown): string {
  if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) {
    throw new RangeError(`live updates nodeId=${JSON.stringify(nodeId)} must be 1 to 64 characters of A-Z a-z 0-9 _ . : -`);
  }
  return nodeId;
}

/** A committed group's columns as the storage engine holds them (structurally its IngestBatch). */
export interface CommittedColumns {
  readonly seriesIds: ArrayLike<number>;
  readonly timestamps: ArrayLike<number>;
  readonly values: ArrayLike<number>;
  readonly length: number;
}

/** What a series id stands for (structurally the engine's SeriesInfo). */
export interface SeriesIdentity {
  readonly tenant: string;
  readonly metricId: string;
  readonly tags: Tags;
}

/**
 * Notes every point of a committed group: the one call the engine makes after a commit's
 * acknowledgement. Call it synchronously (the engine reuses its group columns); a run of one
 * series (the columnar form sends hundreds of points in a row) costs one lookup and one note,
 * of its newest point. A series id the lookup does not know is skipped.
 */
export function noteCommitted(live: Pick<LiveUpdates, 'noteWritten'>, columns: CommittedColumns, seriesOf: (id: number) => SeriesIdentity | undefined): void {
  const { seriesIds, timestamps, values, length } = columns;
  for (let i = 0; i < length;) {
    const sid = seriesIds[i]!;
    let newest = i;
    let end = i + 1;
    for (; end < length && seriesIds[end] === sid; end++) if (timestamps[end]! >= timestamps[newest]!) newest = end;
    const s = seriesOf(sid);
    if (s !== undefined) live.noteWritten(s.tenant, sid, s.metricId, s.tags, timestamps[newest]!, values[newest]!);
    i = end;
  }
}

/** The receiving half, transport-neutral: bytes from the channel in, handler calls and counters out. */
export class NoticeReceiver {
  readonly #nodeId: string;
  readonly #handlers: LiveUpdatesHandlers;
  readonly #now: () => number;
  #tokens = RECEIVE_BYTES_PER_SECOND;
  #refilledAt: number;
  #lastReportAt = -Infinity;
  #droppedSinceReport = 0;
  readonly counters: ReceiverCounters = { received: 0, ownIgnored: 0, dropped: { size: 0, decode: 0, version: 0, shape: 0, rate: 0 }, handlerErrors: 0 };

  constructor(nodeId: string, handlers: LiveUpdatesHandlers, now: () => number = () => performance.now()) {
    this.#nodeId = nodeId;
    this.#handlers = handlers;
    this.#now = now;
    this.#refilledAt = now();
  }

  receive(bytes: Uint8Array): void {
    const now = this.#now();
    this.#tokens = Math.min(RECEIVE_BYTES_PER_SECOND, this.#tokens + ((now - this.#refilledAt) * RECEIVE_BYTES_PER_SECOND) / 1000);
    this.#refilledAt = now;
    if (bytes.length > this.#tokens) return this.#drop('rate', `receive budget of ${RECEIVE_BYTES_PER_SECOND} bytes/s exceeded`, now);
    this.#tokens -= bytes.length;
    const result = decodeNotice(bytes);
    if (!result.ok) return this.#drop(result.reason, result.detail, now);
    if (result.notice.nodeId === this.#nodeId) {
      this.counters.ownIgnored++;
      return;
    }
    this.counters.received++;
    try {
      this.#handlers.onNotice(result.notice);
    } catch (err) {
      this.counters.handlerErrors++;
      this.#handlers.onError?.(new Error(`live updates: the notice handler failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
  }

  #drop(reason: NoticeDropReason | 'rate', detail: string, now: number): void {
    this.counters.dropped[reason]++;
    this.#droppedSinceReport++;
    // One line a minute at most: a hostile publisher must not be able to flood the log either.
    if (now - this.#lastReportAt < DROP_REPORT_INTERVAL_MS) return;
    this.#handlers.onError?.(new Error(`live updates: dropped ${this.#droppedSinceReport} notice(s) since the last report; latest: ${reason}: ${detail}`));
    this.#lastReportAt = now;
    this.#droppedSinceReport = 0;
  }
}
