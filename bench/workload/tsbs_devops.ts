/**
 * Seeded generator of the TSBS "devops cpu-only" workload
 * (https://github.com/timescale/tsbs, `cpu-only` use case), the shape every ingest, query and
 * storage benchmark of EMMS runs on.
 *
 * Shape: `hosts` hosts (default 100) × 10 cpu metrics = 1,000 series; every host carries the
 * same 8 string tags (hostname, region, datacenter, rack, os, arch, team, service); one point
 * per series every 10 s; each series is a random walk bounded to [0, 100] with steps drawn from
 * N(0, 1), reported rounded to 2 decimals. 24 h of it is 8,640 ticks × 1,000 series = 8.64M points.
 *
 * Metric ids are `cpu.usage_user`, `cpu.usage_system`, `cpu.usage_idle`, `cpu.usage_nice`,
 * `cpu.usage_iowait`, `cpu.usage_irq`, `cpu.usage_softirq`, `cpu.usage_steal`,
 * `cpu.usage_guest`, `cpu.usage_guest_nice` (TSBS names its fields `usage_user` … in a `cpu`
 * measurement; the dot joins the two the way EMMS metric ids are namespaced).
 *
 * The generator is incremental: it keeps only the current value of each series and a tick
 * cursor, so 24 h never sits in memory as objects. Both output forms (row objects, columnar
 * per-series arrays) draw the random numbers in the same order (tick by tick, host by host,
 * metric by metric), so for one seed they produce the same points whichever form is used.
 */
import type { MetricDataPoint, Tags } from '../../src/model/metric.js';
import { mulberry32 } from '../data_shapes.js';

export const TSBS_CPU_METRICS: readonly string[] = [
  'cpu.usage_user', 'cpu.usage_system', 'cpu.usage_idle', 'cpu.usage_nice', 'cpu.usage_iowait',
  'cpu.usage_irq', 'cpu.usage_softirq', 'cpu.usage_steal', 'cpu.usage_guest', 'cpu.usage_guest_nice',
];

export const TSBS_TAG_KEYS: readonly string[] = ['hostname', 'region', 'datacenter', 'rack', 'os', 'arch', 'team', 'service'];

export const TSBS_INTERVAL_MS = 10_000;
/** 2026-01-01T00:00:00Z: a fixed, epoch-aligned start so bucket boundaries are reproducible. */
export const TSBS_DEFAULT_START_MS = Date.UTC(2026, 0, 1);
export const TICKS_PER_DAY = 86_400_000 / TSBS_INTERVAL_MS;

export interface TsbsDevopsOptions {
  /** Default 100 (1,000 series). */
  hosts?: number;
  /** Default 1. */
  seed?: number;
  /** Timestamp of the first tick, epoch ms. Default TSBS_DEFAULT_START_MS. */
  startMs?: number;
  /** Default 10,000 ms. */
  intervalMs?: number;
}

/** One series of a columnar batch: the next `ticks` points of one (metric, host). */
export interface TsbsColumnarSeries {
  metricId: string;
  tags: Tags;
  timestamps: Float64Array;
  values: Float64Array;
}

const REGIONS = ['us-east-1', 'us-west-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1', 'sa-east-1'];
const OSES = ['Ubuntu16.10', 'Ubuntu16.04LTS', 'Ubuntu15.10'];
const ARCHES = ['x64', 'x86'];
const TEAMS = ['SF', 'NYC', 'LON', 'CHI'];
const SERVICES = ['6', '7', '8', '9', '10', '11', '12', '13', '14', '15', '16', '17', '18', '19'];


export class TsbsDevopsGenerator {
  readonly hosts: number;
  readonly seriesCount: number;
  readonly startMs: number;
  readonly intervalMs: number;
  /** One tags object per host, shared by its 10 series (and by every row object of the host). */
  readonly hostTags: readonly Tags[];
  readonly #random: () => number;
  /** Unrounded walk state, index = host * 10 + metric. */
  readonly #state: Float64Array;
  #spareNormal = NaN;
  /** Next tick to emit, and the next series within it (row batches may split a tick). */
  #tick = 0;
  #seriesInTick = 0;

  constructor(options: TsbsDevopsOptions = {}) {
    this.hosts = options.hosts ?? 100;
    this.seriesCount = this.hosts * TSBS_CPU_METRICS.length;
    this.startMs = options.startMs ?? TSBS_DEFAULT_START_MS;
    this.intervalMs = options.intervalMs ?? TSBS_INTERVAL_MS;
    this.#random = mulberry32(options.seed ?? 1);
    const tags: Tags[] = [];
    for (let h = 0; h < this.hosts; h++) {
      tags.push(Object.freeze({
        hostname: `host_${h}`,
        region: REGIONS[h % REGIONS.length]!,
        datacenter: `${REGIONS[h % REGIONS.length]!}${String.fromCharCode(97 + (h % 3))}`,
        rack: String(h % 100),
        os: OSES[h % OSES.length]!,
        arch: ARCHES[h % ARCHES.length]!,
        team: TEAMS[h % TEAMS.length]!,
        service: SERVICES[h % SERVICES.length]!,
      }));
    }
    this.hostTags = tags;
    this.#state = new Float64Array(this.seriesCount);
    for (let i = 0; i < this.seriesCount; i++) this.#state[i] = this.#random() * 100;
  }

  /** Metric id of series `index` (host-major: index = host * 10 + metric). */
  metricIdOf(index: number): string {
    return TSBS_CPU_METRICS[index % TSBS_CPU_METRICS.length]!;
  }

  tagsOf(index: number): Tags {
    return this.hostTags[Math.floor(index / TSBS_CPU_METRICS.length)]!;
  }

  /** Timestamp of the next point to be generated. */
  get nextTimestampMs(): number {
    return this.startMs + this.#tick * this.intervalMs;
  }

  /** Box-Muller, both halves used: the step distribution N(0, 1). */
  #normal(): number {
    if (!Number.isNaN(this.#spareNormal)) {
      const z = this.#spareNormal;
      this.#spareNormal = NaN;
      return z;
    }
    let u = 0;
    while (u === 0) u = this.#random();
    const v = this.#random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Advances series `i` one step and returns its reported (2-decimal) value. */
  #step(i: number): number {
    let v = this.#state[i]! + this.#normal();
    // Reflect at the bounds so the walk stays in [0, 100] without piling up on them.
    if (v < 0) v = -v;
    if (v > 100) v = 200 - v;
    this.#state[i] = v;
    return Math.round(v * 100) / 100;
  }

  /**
   * The next `points` points as row objects, in time order (all series of a tick, then the
   * next tick). Tags objects are shared per host, as a client holding its tag sets would do.
   */
  nextRows(points: number): MetricDataPoint[] {
    const rows: MetricDataPoint[] = new Array(points);
    for (let k = 0; k < points; k++) {
      const i = this.#seriesInTick;
      rows[k] = {
        metricId: this.metricIdOf(i),
        value: this.#step(i),
        timestamp: this.startMs + this.#tick * this.intervalMs,
        tags: this.tagsOf(i),
      };
      if (++this.#seriesInTick === this.seriesCount) {
        this.#seriesInTick = 0;
        this.#tick++;
      }
    }
    return rows;
  }

  /**
   * The next tick's values into `out` (index = series), without allocating; returns the tick's
   * timestamp. Same random draws as the other forms. Must be called on a tick boundary.
   */
  nextTickInto(out: Float64Array): number {
    if (this.#seriesInTick !== 0) {
      throw new Error(`nextTickInto: the generator is inside tick ${this.#tick} (series ${this.#seriesInTick}); call it on a tick boundary`);
    }
    if (out.length < this.seriesCount) throw new Error(`nextTickInto: out holds ${out.length} values; the tick has ${this.seriesCount}`);
    for (let i = 0; i < this.seriesCount; i++) out[i] = this.#step(i);
    return this.startMs + this.#tick++ * this.intervalMs;
  }

  /**
   * The next `ticks` ticks as one columnar block per series. Must be called on a tick
   * boundary (not after a nextRows() that split a tick).
   */
  nextColumns(ticks: number): TsbsColumnarSeries[] {
    if (this.#seriesInTick !== 0) {
      throw new Error(`nextColumns: the generator is inside tick ${this.#tick} (series ${this.#seriesInTick}); call it on a tick boundary`);
    }
    const out: TsbsColumnarSeries[] = [];
    for (let i = 0; i < this.seriesCount; i++) {
      out.push({ metricId: this.metricIdOf(i), tags: this.tagsOf(i), timestamps: new Float64Array(ticks), values: new Float64Array(ticks) });
    }
    for (let t = 0; t < ticks; t++) {
      const ts = this.startMs + (this.#tick + t) * this.intervalMs;
      for (let i = 0; i < this.seriesCount; i++) {
        const s = out[i]!;
        s.timestamps[t] = ts;
        s.values[t] = this.#step(i);
      }
    }
    this.#tick += ticks;
    return out;
  }
}

/** Points in `durationMs` of the workload for `hosts` hosts. */
export function tsbsPointCount(durationMs: number, hosts = 100, intervalMs = TSBS_INTERVAL_MS): number {
  return Math.floor(durationMs / intervalMs) * hosts * TSBS_CPU_METRICS.length;
}
