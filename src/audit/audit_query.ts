/**
 * Selecting audit records for `GET /api/v1/audit` and `emms audit export`: by time, tenant and
 * a sequence cursor, in pages.
 *
 * Pages resume from a cursor (`after_seq`) through a sparse index of byte offsets (one entry per
 * INDEX_STRIDE lines, extended as the log grows), so reading page k does not re-read pages
 * 1…k-1. A filter that matches little still reads the log from the cursor on; `maxScanLines`
 * bounds that read per request, and the answer's cursor says where to continue.
 */
import type { AuditRecordCipher } from './audit_cipher.js';
import { parseAuditLine, type AuditRecord } from './audit_record.js';
import { readAuditLines } from './audit_reader.js';

const INDEX_STRIDE = 1024;

export interface AuditFilter {
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  /** Only this tenant's records; undefined for every tenant (operators). */
  tenant?: string | undefined;
  /** Records after this sequence number. */
  afterSeq?: number | undefined;
  limit: number;
  /** Stop after reading this many lines, and hand back a cursor. */
  maxScanLines?: number;
}

export interface AuditPage {
  records: AuditRecord[];
  /** Where the next page starts; undefined when the log was read to its end. */
  nextAfterSeq: number | undefined;
}

interface IndexEntry {
  seq: number;
  offset: number;
  lineNumber: number;
}

/** Byte offsets of every INDEX_STRIDE-th line of one log file. */
export class AuditOffsetIndex {
  readonly #entries: IndexEntry[] = [{ seq: 1, offset: 0, lineNumber: 1 }];

  /** Where to start reading for records with seq > afterSeq. */
  startFor(afterSeq: number): IndexEntry {
    let lo = 0;
    let hi = this.#entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#entries[mid]!.seq <= afterSeq + 1) lo = mid;
      else hi = mid - 1;
    }
    return this.#entries[lo]!;
  }

  note(seq: number, offset: number, lineNumber: number): void {
    const last = this.#entries[this.#entries.length - 1]!;
    if (lineNumber >= last.lineNumber + INDEX_STRIDE) this.#entries.push({ seq, offset, lineNumber });
  }
}

export function queryAuditLog(path: string, filter: AuditFilter, index = new AuditOffsetIndex(), cipher?: AuditRecordCipher): AuditPage {
  const afterSeq = filter.afterSeq ?? 0;
  const start = index.startFor(afterSeq);
  const records: AuditRecord[] = [];
  let scanned = 0;
  let lastSeq = afterSeq;
  for (const raw of readAuditLines(path, start.offset, start.lineNumber)) {
    const { line } = parseAuditLine(raw.text, raw.lineNumber, cipher);
    index.note(line.record.seq, raw.offset, raw.lineNumber);
    if (line.record.seq <= afterSeq) continue;
    lastSeq = line.record.seq;
    if (line.kind === 'event' && matches(line.record, filter)) {
      records.push(line.record);
      if (records.length >= filter.limit) return { records, nextAfterSeq: lastSeq };
    }
    if (++scanned >= (filter.maxScanLines ?? Number.POSITIVE_INFINITY)) return { records, nextAfterSeq: lastSeq };
  }
  return { records, nextAfterSeq: undefined };
}

function matches(r: AuditRecord, f: AuditFilter): boolean {
  if (f.tenant !== undefined && r.tenant !== f.tenant) return false;
  if (f.sinceMs === undefined && f.untilMs === undefined) return true;
  const t = Date.parse(r.time);
  return (f.sinceMs === undefined || t >= f.sinceMs) && (f.untilMs === undefined || t < f.untilMs);
}
