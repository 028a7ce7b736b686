/**
 * The audit log's record and line format (docs/format/audit_log.md has the full description).
 *
 * One record per line: `<hash> <json>`, where `json` is the record with its sequence number and
 * `hash` is hex SHA-256 over the previous line's hash, a newline and `json`. Hashing the previous
 * hash into each line makes the file a chain: changing, removing or moving one record breaks the
 * hash of that line or of the one after it, so `emms audit verify` can name the first broken
 * record. The hash sits outside the JSON so that what is hashed is exactly the bytes on disk,
 * with no canonical-JSON rule to get wrong.
 *
 * A checkpoint line has the same shape; its JSON carries `checkpoint` (an HMAC-SHA256, under a
 * key kept apart from the log, over the hash it follows). Someone who can rewrite the file can
 * recompute every hash, but not the checkpoints: rewriting anything before the last checkpoint
 * shows. What follows the last checkpoint is protected by the chain alone.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AuditRecordCipher, SealedAuditFields } from './audit_cipher.js';

/** The chain's start: the "previous hash" of the first line. */
export const GENESIS_HASH = '0'.repeat(64);

/** Lines longer than this are not ours (a record is a few hundred bytes). */
export const MAX_AUDIT_LINE_BYTES = 16 * 1024;

/** What happened, as callers report it. Never bodies, never secrets. */
export interface AuditEvent {
  /** Who: an API key id (`ak_…`), `jwt:<subject>`, `anonymous`, or `cli:<command>` for the command line. */
  actor: string;
  /** The tenant acted on; `*` for actions on the whole server. */
  tenant: string;
  /** The client's address; empty for the command line and for the server's own actions. */
  source: string;
  /** The request id that the request log carries too; empty outside requests. */
  requestId: string;
  /** What was done, e.g. `POST /api/v1/alerts/rules`, `auth.failure`, `config.reload`, `apikey.revoke`. */
  action: string;
  /** What it was done to, e.g. `rule_id=disk_full`; empty when the action names it. */
  target: string;
  /** `ok`, `denied`, `failed`, or `error` with the status, e.g. `error:409`. */
  outcome: string;
  /** Extra facts that are never secret (e.g. which configuration sections changed). */
  detail?: Record<string, string | number | boolean>;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  /** ISO-8601 UTC with milliseconds. */
  time: string;
}

export interface CheckpointRecord {
  seq: number;
  time: string;
  /** HMAC-SHA256 (hex) over the hash of the line before this one. */
  checkpoint: string;
}

export type AuditLine = { kind: 'event'; record: AuditRecord } | { kind: 'checkpoint'; record: CheckpointRecord };

export function chainHash(previousHash: string, json: string): string {
  return createHash('sha256').update(previousHash).update('\n').update(json).digest('hex');
}

export function checkpointMac(key: Uint8Array, coveredHash: string): string {
  return createHmac('sha256', key).update('emms-audit-checkpoint\n').update(coveredHash).digest('hex');
}

/** The JSON of an event record, fields in a fixed order so that the file reads the same way everywhere. */
export function eventJson(seq: number, timeMs: number, e: AuditEvent): string {
  const record: AuditRecord = {
    seq,
    time: new Date(timeMs).toISOString(),
    actor: e.actor,
    tenant: e.tenant,
    source: e.source,
    requestId: e.requestId,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
  };
  return JSON.stringify(record);
}

export function checkpointJson(seq: number, timeMs: number, mac: string): string {
  const record: CheckpointRecord = { seq, time: new Date(timeMs).toISOString(), checkpoint: mac };
  return JSON.stringify(record);
}

export class AuditFormatError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'AuditFormatError';
  }
}

const HASH_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Splits one line into its hash and record; throws AuditFormatError naming the line. A sealed
 * record (encryption at rest, audit_cipher.ts) is opened with `cipher`; without one it is an error.
 */
export function parseAuditLine(text: string, lineNumber: number, cipher?: AuditRecordCipher): { hash: string; json: string; line: AuditLine } {
  if (text.length > MAX_AUDIT_LINE_BYTES) throw new AuditFormatError(lineNumber, `longer than ${MAX_AUDIT_LINE_BYTES} bytes`);
  const space = text.indexOf(' ');
  const hash = space < 0 ? '' : text.slice(0, space);
  if (!HASH_PATTERN.test(hash)) throw new AuditFormatError(lineNumber, 'does not start with a 64-digit hex hash and a space');
  const json = text.slice(space + 1);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new AuditFormatError(lineNumber, `record is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AuditFormatError(lineNumber, 'record is not a JSON object');
  const r = value as Record<string, unknown>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) throw new AuditFormatError(lineNumber, `seq=${JSON.stringify(r.seq)} is not a positive integer`);
  if (typeof r.time !== 'string') throw new AuditFormatError(lineNumber, 'time is missing');
  if (typeof r.checkpoint === 'string') return { hash, json, line: { kind: 'checkpoint', record: r as unknown as CheckpointRecord } };
  if (typeof r.sealed === 'string') return { hash, json, line: { kind: 'event', record: openSealed(r as unknown as SealedAuditFields, lineNumber, cipher) } };
  for (const field of ['actor', 'tenant', 'source', 'requestId', 'action', 'target', 'outcome'] as const) {
    if (typeof r[field] !== 'string') throw new AuditFormatError(lineNumber, `${field} is missing or not a string`);
  }
  return { hash, json, line: { kind: 'event', record: r as unknown as AuditRecord } };
}

function openSealed(fields: SealedAuditFields, lineNumber: number, cipher: AuditRecordCipher | undefined): AuditRecord {
  if (cipher === undefined) throw new AuditFormatError(lineNumber, `record ${fields.seq} is encrypted (audit key ${String(fields.key)}): give the master key (security.encryption.key_file or EMMS_ENCRYPTION_KEY_FILE)`);
  let plain: string;
  try {
    plain = cipher.open(fields);
  } catch (err) {
    throw new AuditFormatError(lineNumber, (err as Error).message);
  }
  const inner = parseAuditLine(`${GENESIS_HASH} ${plain}`, lineNumber).line;
  if (inner.kind !== 'event' || inner.record.seq !== fields.seq || inner.record.time !== fields.time) {
    throw new AuditFormatError(lineNumber, `record ${fields.seq} opens to a record numbered ${inner.record.seq} at ${inner.record.time}`);
  }
  return inner.record;
}
