/**
 * The disk scan behind the data-protection tests (encryption at rest, anonymization, erasure):
 * every byte of every file under a directory, searched for distinctive strings and for the
 * encodings a float64 value can leave on disk.
 *
 * A value is searched as its IEEE-754 bits (both byte orders) and, because the chunk codec may
 * store decimal-scaled integers, as value × 10^k for k = 0..6 wherever that is an integer that
 * fits, in little- and big-endian 64- and 32-bit form. Strings are searched as UTF-8 and as
 * UTF-16LE (SQLite can store text either way). Distinctive test values avoid false hits: pick
 * strings of 12+ characters and values whose bit patterns are unlikely by chance (for example
 * 31415.926535897 rather than 1.0).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface ScanHit {
  /** File path relative to the scanned directory. */
  file: string;
  /** What was found: the string, or the value and the encoding that matched. */
  needle: string;
  offset: number;
}

interface Needle {
  label: string;
  bytes: Buffer;
}

function stringNeedles(text: string): Needle[] {
  return [
    { label: `string ${JSON.stringify(text)} (utf-8)`, bytes: Buffer.from(text, 'utf8') },
    { label: `string ${JSON.stringify(text)} (utf-16le)`, bytes: Buffer.from(text, 'utf16le') },
  ];
}

function valueNeedles(value: number): Needle[] {
  const needles: Needle[] = [];
  const le = Buffer.alloc(8);
  le.writeDoubleLE(value);
  needles.push({ label: `float64 ${value} (le)`, bytes: le });
  needles.push({ label: `float64 ${value} (be)`, bytes: Buffer.from(le).reverse() });
  for (let k = 0; k <= 6; k++) {
    const scaled = value * 10 ** k;
    const rounded = Math.round(scaled);
    if (Math.abs(scaled - rounded) > 1e-6 * Math.max(1, Math.abs(scaled))) continue;
    if (!Number.isSafeInteger(rounded) || Math.abs(rounded) < 65_536) continue; // too short to be distinctive
    const i64 = Buffer.alloc(8);
    i64.writeBigInt64LE(BigInt(rounded));
    needles.push({ label: `int64 ${rounded} (${value} × 1e${k}, le)`, bytes: i64 });
    needles.push({ label: `int64 ${rounded} (${value} × 1e${k}, be)`, bytes: Buffer.from(i64).reverse() });
    if (Math.abs(rounded) <= 0x7fffffff) {
      const i32 = Buffer.alloc(4);
      i32.writeInt32LE(rounded);
      needles.push({ label: `int32 ${rounded} (${value} × 1e${k}, le)`, bytes: i32 });
      needles.push({ label: `int32 ${rounded} (${value} × 1e${k}, be)`, bytes: Buffer.from(i32).reverse() });
    }
  }
  return needles;
}

function* filesUnder(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (entry.isFile() || statSync(path).isFile()) yield path;
  }
}

/** Every occurrence (first per file and needle) of the strings and values under `dir`. */
export function scanDirectory(dir: string, find: { strings?: readonly string[]; values?: readonly number[] }): ScanHit[] {
  const needles = [...(find.strings ?? []).flatMap(stringNeedles), ...(find.values ?? []).flatMap(valueNeedles)];
  const hits: ScanHit[] = [];
  for (const path of filesUnder(dir)) {
    const bytes = readFileSync(path);
    for (const needle of needles) {
      const offset = bytes.indexOf(needle.bytes);
      if (offset >= 0) hits.push({ file: relative(dir, path), needle: needle.label, offset });
    }
  }
  return hits;
}

/** Names of every file under `dir` with its size, for a failure message that shows what was scanned. */
export function describeFiles(dir: string): string {
  return [...filesUnder(dir)].map((p) => `${relative(dir, p)} (${statSync(p).size} B)`).join(', ');
}
