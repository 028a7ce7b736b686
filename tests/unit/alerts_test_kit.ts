/**
 * Shared pieces of the alerting tests: a settable clock, a channel that records what it is
 * sent (and can be told to fail), a scripted anomaly detector, and an Alerting over the
 * in-memory metrics system in a temp directory.
 *
 * The harness's Alerting lets channels reach loopback (the tests' receivers listen on
 * 127.0.0.1; production refuses it unless security.egress_allow lists it) and treats every
 * address as a client the server saw (block_ip tests; the protected-address checks still
 * apply). Tests of those guards pass their own options.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Alerting, type AlertingOptions } from '../../src/alerts/alerting.js';
import type { NotificationBatch, NotificationChannel, NotificationEvent } from '../../src/alerts/channels/channel.js';
import type { StreamingDetector } from '../../src/analytics/streaming_detector_contract.js';
import { parseEgressPolicy } from '../../src/net/egress_guard.js';
import { MemoryMetricsSystem } from './alerts_memory_system.js';

export const T = 'default';

/** Egress for tests whose receivers listen on loopback. */
export const LOOPBACK_EGRESS = parseEgressPolicy('security.egress_allow', ['127.0.0.0/8', '::1/128']);

export const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

export class FakeClock {
  constructor(public t: number = T0) {}
  now = (): number => this.t;
  advance(seconds: number): number {
    this.t += seconds * 1000;
    return this.t;
  }
}

export class RecordingChannel implements NotificationChannel {
  readonly type = 'custom';
  readonly batches: NotificationBatch[] = [];
  failuresLeft = 0;
  constructor(readonly id: string) {}
  async send(batch: NotificationBatch): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error(`${this.id} is down`);
    }
    this.batches.push(structuredClone(batch));
  }
  events(kind?: NotificationEvent['kind']): NotificationEvent[] {
    return this.batches.flatMap((b) => b.events).filter((e) => kind === undefined || e.kind === kind);
  }
  clear(): void {
    this.batches.length = 0;
  }
}

/** Flags values above `limit` as anomalies with score 0.9; counts points fed. */
export function scriptedDetectorFactory(limit = 100, seen: Array<{ sensitivity: number | undefined }> = []): AlertingOptions['detectorFactory'] {
  return (opts) => {
    seen.push({ sensitivity: opts.sensitivity });
    let count = 0;
    const d: StreamingDetector = {
      update(_t, v) {
        count++;
        return v > limit ? { score: 0.9, isAnomaly: true } : { score: 0.1, isAnomaly: false };
      },
      get count() {
        return count;
      },
    };
    return d;
  };
}

export interface Harness {
  dir: string;
  system: MemoryMetricsSystem;
  clock: FakeClock;
  ops: RecordingChannel;
  oncall: RecordingChannel;
  alerting: Alerting;
  reopen(extra?: Partial<AlertingOptions>): Promise<Alerting>;
  cleanup(): Promise<void>;
}

export function harness(extra: Partial<AlertingOptions> = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'emms-alerts-'));
  const system = new MemoryMetricsSystem(dir);
  const clock = new FakeClock();
  const ops = new RecordingChannel('ops');
  const oncall = new RecordingChannel('oncall');
  const make = (more: Partial<AlertingOptions>): Alerting => {
    const a = new Alerting(system, {
      clock,
      intervalSeconds: 15,
      predefinedRules: false,
      detectorFactory: scriptedDetectorFactory(),
      registeredChannels: [ops, oncall],
      defaultChannels: ['ops'],
      dispatcher: { baseBackoffMs: 1, maxAttempts: 3 },
      egress: LOOPBACK_EGRESS,
      wasSeenClient: () => true,
      ...extra,
      ...more,
    });
    a.open();
    return a;
  };
  const h: Harness = {
    dir, system, clock, ops, oncall,
    alerting: make({}),
    async reopen(more = {}) {
      await h.alerting.stop();
      h.alerting = make(more);
      return h.alerting;
    },
    async cleanup() {
      await h.alerting.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Advances the clock, runs one cycle, waits for deliveries. */
export async function cycleAt(h: Harness, seconds: number): Promise<void> {
  h.clock.t = T0 + seconds * 1000;
  const r = await h.alerting.evaluateOnce();
  if (r.error) throw new Error(r.error);
  await h.alerting.idle();
}
