/**
 * Reading the audit log: lines in file order, in fixed-size reads (a log of any size is read in
 * constant memory), from the start or from a byte offset that an earlier read reported.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { AuditFormatError, MAX_AUDIT_LINE_BYTES } from './audit_record.js';

const READ_BYTES = 64 * 1024;

export interface RawAuditLine {
  /** 1-based line number, counted from `firstLine`. */
  lineNumber: number;
  /** Byte offset of the line's first byte. */
  offset: number;
  text: string;
}

/**
 * Yields the complete lines of `path` from byte `offset` (the start of a line). A last line
 * without its newline (a write torn by a power loss) is reported as a format error, not
 * skipped: verification must see it.
 */
export function* readAuditLines(path: string, offset = 0, firstLine = 1): Generator<RawAuditLine> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const buffer = Buffer.alloc(READ_BYTES + MAX_AUDIT_LINE_BYTES + 1);
    let filled = 0;
    let position = offset;
    let lineStart = offset;
    let lineNumber = firstLine;
    for (;;) {
      const n = readSync(fd, buffer, filled, READ_BYTES, position);
      position += n;
      filled += n;
      let from = 0;
      for (let nl = buffer.indexOf(0x0a, from); nl >= 0 && nl < filled; nl = buffer.indexOf(0x0a, from)) {
        yield { lineNumber, offset: lineStart, text: buffer.toString('utf8', from, nl) };
        lineNumber++;
        lineStart += nl + 1 - from;
        from = nl + 1;
      }
      buffer.copy(buffer, 0, from, filled);
      filled -= from;
      if (filled > MAX_AUDIT_LINE_BYTES) throw new AuditFormatError(lineNumber, `longer than ${MAX_AUDIT_LINE_BYTES} bytes`);
      if (n === 0) {
        if (filled > 0) throw new AuditFormatError(lineNumber, `ends without a newline (${filled} bytes of a torn write)`);
        return;
      }
    }
  } finally {
    closeSync(fd);
  }
}
