/** Readable values: bytes, percent, milliseconds, rates and counts, with sensible precision. */
export type Unit = 'percent' | 'bytes' | 'ms' | 'per_s' | 'bytes_per_s' | 'count' | 'ratio' | 'days';

function compact(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.001 || a >= 1e15)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toLocaleString('en', { maximumFractionDigits: 3 });
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

function scaled(v: number, base: number, units: readonly string[]): string {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= base && i < units.length - 1) {
    x /= base;
    i++;
  }
  return `${compact(x)} ${units[i]}`;
}

const SI = ['', 'k', 'M', 'G', 'T'];

export function formatValue(v: number | null | undefined, unit: Unit = 'count'): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  switch (unit) {
    case 'percent': return `${compact(v)} %`;
    case 'ratio': return `${compact(v * 100)} %`;
    case 'bytes': return scaled(v, 1024, BYTE_UNITS);
    case 'bytes_per_s': return `${scaled(v, 1024, BYTE_UNITS)}/s`;
    case 'ms': return Math.abs(v) >= 1000 ? `${compact(v / 1000)} s` : `${compact(v)} ms`;
    case 'per_s': {
      const s = scaled(v, 1000, SI).trim();
      return /\d$/.test(s) ? `${s} /s` : `${s}/s`;
    }
    case 'days': return `${compact(v)} d`;
    case 'count': return scaled(v, 1000, SI).trim();
  }
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString('en-GB', { hour12: false });
}

/** "3 h 12 min" for durations. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
