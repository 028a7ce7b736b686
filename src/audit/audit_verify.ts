/**
 * `emms audit verify`: walks the chain and names the first record that does not hold.
 *
 * What each check catches:
 * - a sequence number other than the next one: a record removed (a gap) or moved (a step back);
 * - a hash that is not SHA-256(previous hash, newline, JSON): this line was edited, or the line
 *   before it was rewritten with a recomputed hash (the chain then breaks one line later);
 * - a checkpoint whose MAC does not match the hash it follows: everything before it was
 *   rewritten consistently, which only someone without the checkpoint key would get wrong.
 * - with encryption at rest, a sealed record whose AES-GCM tag fails under its audit key: its
 *   ciphertext, number or time was altered (audit_cipher.ts);
 * A log cut short after its last checkpoint cannot be told from a shorter log; the result says
 * how many records only the chain protects.
 */
import type { AuditRecordCipher } from './audit_cipher.js';
import { AuditFormatError, GENESIS_HASH, chainHash, checkpointMac, parseAuditLine } from './audit_record.js';
import { readAuditLines } from './audit_reader.js';

export type AuditVerification =
  | { ok: true; records: number; checkpoints: number; unanchoredRecords: number; lastSeq: number }
  | { ok: false; line: number; seq: number | undefined; problem: string; recordsBefore: number };

export function verifyAuditLog(path: string, checkpointKey: Uint8Array | undefined, cipher?: AuditRecordCipher): AuditVerification {
  let previousHash = GENESIS_HASH;
  let expectedSeq = 1;
  let records = 0;
  let checkpoints = 0;
  let unanchored = 0;
  const broken = (line: number, seq: number | undefined, problem: string): AuditVerification => ({ ok: false, line, seq, problem, recordsBefore: records });
  try {
    for (const raw of readAuditLines(path)) {
      const { hash, json, line } = parseAuditLine(raw.text, raw.lineNumber, cipher);
      const seq = line.record.seq;
      if (seq > expectedSeq) return broken(raw.lineNumber, seq, `record ${seq} follows record ${expectedSeq - 1}: ${seq - expectedSeq} record(s) before it were removed`);
      if (seq < expectedSeq) return broken(raw.lineNumber, seq, `record ${seq} comes after record ${expectedSeq - 1}: records were moved or duplicated`);
      if (chainHash(previousHash, json) !== hash) {
        return broken(raw.lineNumber, seq, `record ${seq} does not match its hash: it was altered, or the record before it was rewritten`);
      }
      if (line.kind === 'checkpoint') {
        if (checkpointKey !== undefined && checkpointMac(checkpointKey, previousHash) !== line.record.checkpoint) {
          return broken(raw.lineNumber, seq, `checkpoint ${seq} does not match the records before it under this key: they were rewritten (or the key is not this log's)`);
        }
        checkpoints++;
        unanchored = 0;
      } else {
        records++;
        unanchored++;
      }
      previousHash = hash;
      expectedSeq = seq + 1;
    }
  } catch (err) {
    if (err instanceof AuditFormatError) return broken(err.line, undefined, err.message);
    throw err;
  }
  return { ok: true, records, checkpoints, unanchoredRecords: unanchored, lastSeq: expectedSeq - 1 };
}
