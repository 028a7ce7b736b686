/**
 * The TSBS devops workload of `npm run bench:peers`, in the two wire forms the peers compare:
 * Influx line protocol for VictoriaMetrics and MessagePack row frames for EMMS's WebSocket
 * stream, 10,000 points per request or frame either way.
 *
 * The values are drawn once (bench/workload/tsbs_devops.ts, seed 1) into one Float64Array, so
 * both systems store the same points and their query answers can be compared number for
 * number. Each of the 2 connections is an agent for half the hosts, sending its hosts' points
 * in time order (20 ticks × 50 hosts × 10 metrics per request).
 *
 * Encoding is kept off the clock for both: the line-protocol bodies are built before the
 * timed run (text whose length varies cannot be patched in place), and each EMMS frame is
 * one msgpack template whose float64 value and timestamp bytes are overwritten per frame (a
 * few microseconds of DataView writes), as bench/load/ingest_load.ts does.
 */
import { Packr } from 'msgpackr';
import { TICKS_PER_DAY, TSBS_CPU_METRICS, TsbsDevopsGenerator } from '../workload/tsbs_devops.js';
import type { Tags } from '../../src/model/metric.js';

export const POINTS_PER_REQUEST = 10_000;
export const CONNECTIONS = 2;
const METRICS = TSBS_CPU_METRICS.length;

/** VictoriaMetrics names an Influx field `<measurement>_<field>`; EMMS's ids are `cpu.<field>`. */
export function vmMetricName(emmsMetricId: string): string {
  return emmsMetricId.replace('.', '_');
}

export class PeersWorkload {
  readonly hosts: number;
  readonly ticks: number;
  readonly seriesCount: number;
  readonly startMs: number;
  readonly intervalMs: number;
  readonly hostTags: readonly Tags[];
  /** values[tick * seriesCount + host * 10 + metric]. */
  readonly values: Float64Array;
  readonly hostsPerConnection: number;
  readonly ticksPerRequest: number;

  /**
   * `gen`: the generator to draw from; passing the one an earlier workload drew from continues
   * its hosts' walks from where that workload ended (bench/scale.bench.ts, day after day).
   */
  constructor(hours: number, hosts = 100, gen = new TsbsDevopsGenerator({ hosts, seed: 1 })) {
    this.hosts = gen.hosts;
    this.ticks = Math.round((TICKS_PER_DAY / 24) * hours);
    this.seriesCount = gen.seriesCount;
    this.startMs = gen.nextTimestampMs;
    this.intervalMs = gen.intervalMs;
    this.hostTags = gen.hostTags;
    this.values = new Float64Array(this.ticks * this.seriesCount);
    const tick = new Float64Array(this.seriesCount);
    for (let t = 0; t < this.ticks; t++) {
      gen.nextTickInto(tick);
      this.values.set(tick, t * this.seriesCount);
    }
    this.hostsPerConnection = this.hosts / CONNECTIONS;
    this.ticksPerRequest = POINTS_PER_REQUEST / (this.hostsPerConnection * METRICS);
    if (!Number.isInteger(this.hostsPerConnection) || !Number.isInteger(this.ticksPerRequest) || this.ticks % this.ticksPerRequest !== 0) {
      throw new Error(`${this.hosts} hosts × ${this.ticks} ticks do not split into ${CONNECTIONS} connections of ${POINTS_PER_REQUEST}-point requests`);
    }
  }

  get points(): number {
    return this.values.length;
  }

  get endMs(): number {
    return this.startMs + this.ticks * this.intervalMs;
  }

  /** Requests (and frames) each connection sends. */
  get requestsPerConnection(): number {
    return this.ticks / this.ticksPerRequest;
  }

  /** Line-protocol bodies of `connection`, in sending order (one line per host and tick). */
  lineProtocolBodies(connection: number): Buffer[] {
    const tagText = this.hostTags.map((t) => Object.entries(t).map(([k, v]) => `,${k}=${v}`).join(''));
    const fields = TSBS_CPU_METRICS.map((m) => m.slice(m.indexOf('.') + 1));
    const firstHost = connection * this.hostsPerConnection;
    const bodies: Buffer[] = [];
    for (let r = 0; r < this.requestsPerConnection; r++) {
      let text = '';
      for (let t = r * this.ticksPerRequest; t < (r + 1) * this.ticksPerRequest; t++) {
        const ns = `${this.startMs + t * this.intervalMs}000000`;
        for (let h = firstHost; h < firstHost + this.hostsPerConnection; h++) {
          const at = t * this.seriesCount + h * METRICS;
          text += `cpu${tagText[h]!} `;
          for (let f = 0; f < METRICS; f++) text += `${f === 0 ? '' : ','}${fields[f]!}=${this.values[at + f]!}`;
          text += ` ${ns}\n`;
        }
      }
      bodies.push(Buffer.from(text));
    }
    return bodies;
  }
}

const packr = new Packr({ useRecords: false });
const MARK_TS = 1.2345678901234567e12;
const MARK_SEQ = 0xfffffff0;

/**
 * One connection's row frame, `{seq, metrics: [{metric_id, value, timestamp, tags}]}`, as any
 * msgpack library would write it, with the byte offsets of each point's value and timestamp.
 * `copies` buffers are kept so a frame in flight (sent without copying) is never overwritten.
 */
export class RowFrames {
  readonly #work: PeersWorkload;
  readonly #firstHost: number;
  readonly #slots: Array<{ bytes: Uint8Array; view: DataView }>;
  readonly #seqAt: number;
  readonly #valueAt: Int32Array;
  readonly #tsAt: Int32Array;

  constructor(work: PeersWorkload, connection: number, copies: number) {
    this.#work = work;
    this.#firstHost = connection * work.hostsPerConnection;
    const metrics = [];
    for (let k = 0; k < POINTS_PER_REQUEST; k++) {
      const series = this.#firstHost * METRICS + (k % (work.hostsPerConnection * METRICS));
      // Distinct marker doubles, never equal to real data, so each one's encoding can be found.
      metrics.push({ metric_id: TSBS_CPU_METRICS[series % METRICS]!, value: 1e6 + 0.5 + k * 1e-9, timestamp: MARK_TS, tags: work.hostTags[Math.floor(series / METRICS)]! });
    }
    const template = new Uint8Array(packr.pack({ seq: MARK_SEQ, metrics }));
    const view = new DataView(template.buffer, template.byteOffset, template.byteLength);
    const find = (type: number, match: (at: number) => boolean, from: number): number => {
      for (let at = from; at + 9 <= template.length; at++) if (template[at] === type && match(at + 1)) return at + 1;
      throw new Error('row frame template: marker not found (msgpackr changed its encoding?)');
    };
    this.#seqAt = find(0xce, (at) => view.getUint32(at) === MARK_SEQ, 0);
    this.#valueAt = new Int32Array(POINTS_PER_REQUEST);
    this.#tsAt = new Int32Array(POINTS_PER_REQUEST);
    let from = 0;
    for (let k = 0; k < POINTS_PER_REQUEST; k++) {
      const marker = 1e6 + 0.5 + k * 1e-9;
      this.#valueAt[k] = find(0xcb, (at) => view.getFloat64(at) === marker, from);
      this.#tsAt[k] = find(0xcb, (at) => view.getFloat64(at) === MARK_TS, this.#valueAt[k]!);
      from = this.#tsAt[k]! + 8;
    }
    this.#slots = Array.from({ length: copies }, () => {
      const bytes = template.slice();
      return { bytes, view: new DataView(bytes.buffer) };
    });
  }

  /** Frame `index` of this connection (ticks index × ticksPerRequest onwards), sequence `index`. */
  frame(index: number): Uint8Array {
    const w = this.#work;
    const slot = this.#slots[index % this.#slots.length]!;
    slot.view.setUint32(this.#seqAt, index);
    const seriesPerTick = w.hostsPerConnection * METRICS;
    let k = 0;
    for (let t = index * w.ticksPerRequest; t < (index + 1) * w.ticksPerRequest; t++) {
      const ts = w.startMs + t * w.intervalMs;
      const base = t * w.seriesCount + this.#firstHost * METRICS;
      for (let s = 0; s < seriesPerTick; s++, k++) {
        slot.view.setFloat64(this.#valueAt[k]!, w.values[base + s]!);
        slot.view.setFloat64(this.#tsAt[k]!, ts);
      }
    }
    return slot.bytes;
  }
}
