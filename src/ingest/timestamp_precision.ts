/**
 * How numeric timestamps of an ingest payload are read: their unit (`precision`) and the
 * earliest time accepted without the client saying so.
 *
 * A timestamp in seconds sent as milliseconds lands in January 1970 and looks stored; that
 * mistake is the common one, so by default a numeric timestamp before 2000-01-01 is refused
 * with a hint instead. A client that means it names its precision (`precision=ms` to store
 * 1970–1999 times, or `s`, `us`, `ns` to send other units): an explicit precision lifts the
 * floor. ISO-8601 strings and MessagePack timestamps carry their own unit and are never
 * scaled or floored.
 *
 * Over HTTP (`POST /api/v1/metrics?precision=s`) the precision is a query parameter. The
 * WebSocket stream is milliseconds only, over the whole storable range (STREAM_TIMESTAMP_POLICY
 * says why).
 */

export const PRECISIONS = ['s', 'ms', 'us', 'ns'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** Milliseconds per unit of each precision. */
const MS_PER_UNIT: Readonly<Record<Precision, number>> = { s: 1_000, ms: 1, us: 1e-3, ns: 1e-6 };

/** 2000-01-01T00:00:00Z: numeric times before it are refused unless a precision is given. */
export const IMPLICIT_FLOOR_MS = Date.UTC(2000, 0, 1);

export interface TimestampPolicy {
  precision: Precision;
  /** False when the client left the precision out (then IMPLICIT_FLOOR_MS applies). */
  explicit: boolean;
  /** Milliseconds per unit. */
  unitMs: number;
  /** Earliest numeric time accepted, in epoch ms. */
  floorMs: number;
}

/** Milliseconds, precision not given: what a plain HTTP body gets. */
export const DEFAULT_TIMESTAMP_POLICY: TimestampPolicy = Object.freeze({ precision: 'ms', explicit: false, unitMs: 1, floorMs: IMPLICIT_FLOOR_MS });

/**
 * The WebSocket stream's policy: milliseconds over the whole storable range, as its protocol
 * has always said. Its clients are programs built against that contract (not people typing
 * curl), a frame has no place for a precision, and one connection must not change meaning;
 * so the 2000 guard, a guess about what a person meant, is not applied there. Also the
 * FrameDecoder's default, so embedded decoders keep their contract.
 */
export const STREAM_TIMESTAMP_POLICY: TimestampPolicy = Object.freeze({ precision: 'ms', explicit: true, unitMs: 1, floorMs: 0 });

/** The policy of a `precision` parameter (null or undefined: the default). Throws RangeError naming the value. */
export function timestampPolicy(precision: string | null | undefined): TimestampPolicy {
  if (precision === null || precision === undefined) return DEFAULT_TIMESTAMP_POLICY;
  if (!(PRECISIONS as readonly string[]).includes(precision)) {
    throw new RangeError(`precision=${JSON.stringify(precision)} must be one of ${PRECISIONS.join(', ')}`);
  }
  const p = precision as Precision;
  return { precision: p, explicit: true, unitMs: MS_PER_UNIT[p], floorMs: 0 };
}

/**
 * Epoch ms of a numeric timestamp under `policy`. Whole milliseconds for `s` (1.1 s is
 * 1100 ms, not 1100.0000000000002); `us` and `ns` keep their fraction of a millisecond.
 */
export function numericTimeMs(t: number, policy: TimestampPolicy): number {
  if (policy.unitMs === 1) return t;
  const ms = t * policy.unitMs;
  return policy.unitMs > 1 ? Math.round(ms) : ms;
}

/** The refusal text of a numeric time below the policy's floor (`where` names the point). */
export function floorMessage(where: string, t: number, policy: TimestampPolicy): string {
  if (policy.explicit) return `${where}=${t} is before the earliest time accepted at precision=${policy.precision}`;
  const asSeconds = t * 1_000 >= IMPLICIT_FLOOR_MS && t * 1_000 < Date.UTC(2200, 0, 1);
  const hint = asSeconds ? ' it looks like seconds: send precision=s' : ' send precision=s, us or ns for another unit';
  return `${where}=${t} is before 2000-01-01 read as milliseconds (the default precision);${hint}, or precision=ms if you mean a time before 2000`;
}
