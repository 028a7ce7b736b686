/**
 * How decoded protocol points reach the engine's resolved ingest path (SeriesTable, the path
 * the server's own decode workers use): each distinct series is validated and numbered once
 * per tenant, and a point is then (series number, timestamp, value) in three columns. The
 * caches below key series by the text they arrive as (a line protocol's measurement-and-tags
 * text, a remote-write request's label pairs), so a series seen before costs one Map lookup,
 * no tag object and no validation. Measured in-process (1,000 series × 10 points per batch):
 * engine.collectSeries 0.65 M points/s, SeriesTable.collect 2.2 M points/s.
 */
import type { SeriesIdentity } from '../model/api.js';
import type { Tags } from '../model/metric.js';

/** A line protocol measurement-and-tags text seen before: its parts, and its fields' series numbers. */
export interface LineSeriesEntry {
  measurement: string;
  tags: Tags;
  fields: Map<string, number>;
  /** The fields of the last line with this text, in order: the next line's are predicted to match. */
  lastFields: LineFieldPrediction[];
}

/** A field key as it was written (`raw`, escapes and all) and read, and its series (-1: not yet numbered). */
export interface LineFieldPrediction {
  raw: string;
  key: string;
  series: number;
}

/** The numbering of one tenant's series (one SeriesTable). Not shared across tenants. */
export interface SeriesNumbering {
  readonly lines: Map<string, LineSeriesEntry>;
  readonly keyed: Map<string, number>;
  /** Numbers a new, already validated series. */
  add(identity: SeriesIdentity): number;
  readonly size: number;
}

/** A numbering that only records identities (parsers' standalone forms, tests). */
export class LocalNumbering implements SeriesNumbering {
  readonly lines = new Map<string, LineSeriesEntry>();
  readonly keyed = new Map<string, number>();
  readonly identities: SeriesIdentity[] = [];

  add(identity: SeriesIdentity): number {
    return this.identities.push(identity) - 1;
  }

  get size(): number {
    return this.identities.length;
  }
}

/**
 * How many points to make room for in a body of a given size: a client sends bodies of one
 * shape, so points per byte of its last body predict the next one's. Columns sized right are
 * allocated once and handed over as they are; sized short they grew by doubling and were then
 * cut to length, three allocations and two copies of each column (PointColumns#grow was 6%
 * of a decode worker's line-protocol time in bench/interop_ingest.ts profiles).
 */
export class ColumnSizing {
  #pointsPerByte = 0;

  /**
   * Points to make room for in `bytes` bytes (0: no estimate yet), never more than `maxPoints`:
   * a little over the estimate, as cutting columns to length copies once, growing them twice.
   */
  expected(bytes: number, maxPoints: number): number {
    if (this.#pointsPerByte === 0) return 0;
    return Math.min(maxPoints, Math.ceil(bytes * this.#pointsPerByte * 1.03) + 16);
  }

  /** A body of `bytes` bytes held `points` points. */
  observe(bytes: number, points: number): void {
    if (bytes > 0) this.#pointsPerByte = points / bytes;
  }
}

/** Growing (series number, timestamp, value) columns. */
export class PointColumns {
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
  length = 0;

  constructor(capacity: number) {
    const n = Math.max(16, Math.floor(capacity));
    this.seriesOf = new Int32Array(n);
    this.timestamps = new Float64Array(n);
    this.values = new Float64Array(n);
  }

  push(series: number, timestamp: number, value: number): void {
    if (this.length === this.seriesOf.length) this.#grow();
    const i = this.length++;
    this.seriesOf[i] = series;
    this.timestamps[i] = timestamp;
    this.values[i] = value;
  }

  /** Sets the series of points [from, length): for a series whose identity is known only after its points. */
  assignSeries(from: number, series: number): void {
    this.seriesOf.fill(series, from, this.length);
  }

  #grow(): void {
    const n = this.seriesOf.length * 2;
    const s = new Int32Array(n);
    s.set(this.seriesOf);
    const t = new Float64Array(n);
    t.set(this.timestamps);
    const v = new Float64Array(n);
    v.set(this.values);
    this.seriesOf = s;
    this.timestamps = t;
    this.values = v;
  }

  /**
   * The filled part, as views of the columns' own buffers, which nothing else holds (a
   * SeriesTable takes ownership of what it is given; a decode worker transfers the buffers).
   * Copying to length cost 77 of a decode worker's 1,500 ms in a remote-write profile. The
   * room past `length` (~3 % once ColumnSizing has seen a body, up to half after a grow) lives
   * only as long as the batch: heads copy points into blocks of their own.
   */
  finish(): { seriesOf: Int32Array; timestamps: Float64Array; values: Float64Array } {
    const n = this.length;
    if (n === this.seriesOf.length) return { seriesOf: this.seriesOf, timestamps: this.timestamps, values: this.values };
    return { seriesOf: this.seriesOf.subarray(0, n), timestamps: this.timestamps.subarray(0, n), values: this.values.subarray(0, n) };
  }
}

/** Columns as one series per series number, in numbering order (standalone use, tests). */
export function columnsToSeries(columns: { seriesOf: Int32Array; timestamps: Float64Array; values: Float64Array }, identities: readonly SeriesIdentity[]): Array<{ metricId: string; tags: Tags; timestamps: number[]; values: number[] }> {
  const slots: Array<{ metricId: string; tags: Tags; timestamps: number[]; values: number[] } | undefined> = [];
  for (let i = 0; i < columns.seriesOf.length; i++) {
    const n = columns.seriesOf[i]!;
    let s = slots[n];
    if (s === undefined) {
      const id = identities[n]!;
      slots[n] = s = { metricId: id.metricId, tags: id.tags ?? {}, timestamps: [], values: [] };
    }
    s.timestamps.push(columns.timestamps[i]!);
    s.values.push(columns.values[i]!);
  }
  return slots.filter((s) => s !== undefined);
}
