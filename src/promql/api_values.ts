/**
 * The Prometheus HTTP API's value syntax (`web/api/v1/api.go`): times and durations as the
 * query parameters take them, and sample values and timestamps as its JSON prints them.
 */

/** Thrown for a parameter Prometheus would refuse with `bad_data`; the message is Prometheus'. */
export class BadDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadDataError';
  }
}

const GO_FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+|inf|infinity|nan)$/i;
const PROM_DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS_MS = [31_536_000_000, 604_800_000, 86_400_000, 3_600_000, 60_000, 1000, 1];

/** strconv.ParseFloat for the inputs the API sees; undefined when it would fail. */
function parseGoFloat(s: string): number | undefined {
  if (!GO_FLOAT.test(s)) return undefined;
  const lower = s.toLowerCase().replace(/^\+/, '');
  if (lower === 'inf' || lower === 'infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (lower === 'nan') return NaN;
  return Number(s);
}

/** Prometheus parseTime: float Unix seconds (rounded to the millisecond) or RFC 3339; epoch ms. */
export function parseApiTime(name: string, value: string): number {
  const f = parseGoFloat(value);
  if (f !== undefined && Number.isFinite(f)) {
    const whole = Math.trunc(f);
    return whole * 1000 + Math.round((f - whole) * 1000);
  }
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  throw new BadDataError(`invalid parameter "${name}": cannot parse "${value}" to a valid timestamp`);
}

/** Prometheus parseDuration: float seconds or a duration such as `1m30s`; milliseconds, truncated. */
export function parseApiDuration(name: string, value: string): number {
  const f = parseGoFloat(value);
  if (f !== undefined) {
    if (!Number.isFinite(f) || Math.abs(f) > 9.2e9) throw new BadDataError(`invalid parameter "${name}": cannot parse "${value}" to a valid duration. It overflows int64`);
    return Math.trunc(f * 1000);
  }
  const m = PROM_DURATION.exec(value);
  if (m !== null && value !== '') {
    let ms = 0;
    for (let k = 0; k < DURATION_UNITS_MS.length; k++) if (m[k + 1] !== undefined) ms += Number(m[k + 1]) * DURATION_UNITS_MS[k]!;
    return ms;
  }
  throw new BadDataError(`invalid parameter "${name}": cannot parse "${value}" to a valid duration`);
}

function special(v: number): string | undefined {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Object.is(v, -0) ? '-0' : undefined;
}

/**
 * A vector or matrix sample value as Prometheus prints it (`jsonutil.MarshalValue`): Go's
 * shortest digits, in exponent form below 1e-6 and from 1e21 up, the same cut-offs as JS's
 * own number printing; Go writes the exponent with at least two digits (`5e-07`).
 */
export function formatSampleValue(v: number): string {
  // JS prints 1e-6 <= |v| < 1e21 without an exponent, as Go does: the common case needs no fixing.
  if ((v >= 1e-6 && v < 1e21) || (v <= -1e-6 && v > -1e21)) return String(v);
  const s = special(v) ?? String(v);
  return s.includes('e') ? s.replace(/e([+-])(\d)$/, 'e$10$2') : s;
}

/** A scalar result as Prometheus prints it: Go's strconv.FormatFloat(v, 'f', -1, 64), never an exponent. */
export function formatScalarValue(v: number): string {
  const sp = special(v);
  if (sp !== undefined) return sp;
  const s = String(v);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const negative = s.startsWith('-');
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exponent = Number(s.slice(e + 1));
  const digits = mantissa.replace('.', '');
  const pointAt = (mantissa.indexOf('.') < 0 ? mantissa.length : mantissa.indexOf('.')) + exponent;
  let out: string;
  if (pointAt <= 0) out = `0.${'0'.repeat(-pointAt)}${digits}`;
  else if (pointAt >= digits.length) out = digits + '0'.repeat(pointAt - digits.length);
  else out = `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  return negative ? `-${out}` : out;
}

/** A sample timestamp as the API prints it: Unix seconds with millisecond precision. */
export function formatSampleTime(ms: number): number {
  return ms / 1000;
}
