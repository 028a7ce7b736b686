/**
 * `emms audit verify|export --data DIR`: checks the audit log's chain and checkpoints, or writes
 * its records out for an auditor. Works on a stopped data directory and beside a running server
 * (it only reads; appends are whole lines, so a read never sees half a record).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIT_KEY_FILE, AUDIT_LOG_FILE } from '../audit/audit_log.js';
import { AuditOffsetIndex, queryAuditLog } from '../audit/audit_query.js';
import type { AuditRecord } from '../audit/audit_record.js';
import { verifyAuditLog } from '../audit/audit_verify.js';
import { AuditRecordCipher } from '../audit/audit_cipher.js';
import { openCommandEncryption } from '../crypto/command_encryption.js';
import { openKeyFile } from '../crypto/key_file.js';
import { timeInputMs } from '../model/time.js';

const USAGE = `Usage:
  emms audit verify --data DIR [--key-file FILE]
  emms audit export --data DIR [--since TIME] [--until TIME] [--tenant TENANT] [--format jsonl|csv]

  --data DIR        the server's data directory (its audit.log)
  --key-file FILE   the checkpoint key (default DIR/audit.key; security.audit.key_file if set there)
  --since, --until  epoch milliseconds or ISO-8601 times
  --tenant TENANT   one tenant's records
  --format          jsonl (default) or csv

An encrypted data directory (encryption at rest) needs its master key: EMMS_ENCRYPTION_KEY_FILE.
  -h, --help        this text

verify exits 0 when the chain and every checkpoint hold, 1 naming the first broken record.`;

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: CommandIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };
const CSV_FIELDS = ['seq', 'time', 'actor', 'tenant', 'source', 'requestId', 'action', 'target', 'outcome'] as const;
const EXPORT_PAGE = 10_000;

export async function run(argv: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    io.stdout(USAGE + '\n');
    return action === undefined ? 2 : 0;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        data: { type: 'string' },
        'key-file': { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        tenant: { type: 'string' },
        format: { type: 'string', default: 'jsonl' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr(`emms audit: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    io.stdout(USAGE + '\n');
    return 0;
  }
  const dataDir = values.data as string | undefined;
  if (dataDir === undefined) {
    io.stderr(`emms audit: --data DIR is required\n\n${USAGE}\n`);
    return 2;
  }
  const logPath = join(dataDir, AUDIT_LOG_FILE);
  if (!existsSync(logPath)) {
    io.stderr(`emms audit: ${logPath} does not exist (has a server with this data directory run?)\n`);
    return 1;
  }
  // Sealed records (encryption at rest) open with the master key of EMMS_ENCRYPTION_KEY_FILE.
  const encryption = await openCommandEncryption(dataDir);
  const cipher = encryption === undefined ? undefined : new AuditRecordCipher(encryption.auditKeys, encryption.auditKey.id);
  if (action === 'verify') return verify(logPath, (values['key-file'] as string | undefined) ?? join(dataDir, AUDIT_KEY_FILE), io, cipher);
  if (action === 'export') return exportRecords(logPath, values, io, cipher);
  io.stderr(`emms audit: unknown action ${JSON.stringify(action)}; use verify or export\n\n${USAGE}\n`);
  return 2;
}

function verify(logPath: string, keyFile: string, io: CommandIo, cipher: AuditRecordCipher | undefined): number {
  let key: Buffer | undefined;
  if (existsSync(keyFile)) key = openKeyFile(keyFile, { purpose: 'audit checkpoint', create: false });
  else io.stderr(`emms audit: warning: no checkpoint key at ${keyFile}; checking the hash chain only\n`);
  const result = verifyAuditLog(logPath, key, cipher);
  if (!result.ok) {
    io.stdout(`BROKEN at line ${result.line}${result.seq !== undefined ? ` (record ${result.seq})` : ''}: ${result.problem}\n`);
    io.stdout(`${result.recordsBefore} record(s) before it verified.\n`);
    return 1;
  }
  io.stdout(`OK: ${result.records} record(s), ${result.checkpoints} checkpoint(s)${key === undefined ? ' (not checked: no key)' : ''}, last record ${result.lastSeq}\n`);
  if (result.unanchoredRecords > 0) io.stdout(`${result.unanchoredRecords} record(s) after the last checkpoint are protected by the hash chain only\n`);
  return 0;
}

function exportRecords(logPath: string, values: Record<string, string | boolean | undefined>, io: CommandIo, cipher: AuditRecordCipher | undefined): number {
  const format = values.format as string;
  if (format !== 'jsonl' && format !== 'csv') {
    io.stderr(`emms audit: --format=${JSON.stringify(format)} must be jsonl or csv\n`);
    return 2;
  }
  const time = (name: 'since' | 'until'): number | undefined | null => {
    const raw = values[name] as string | undefined;
    if (raw === undefined) return undefined;
    const ms = timeInputMs(/^\d+$/.test(raw) ? Number(raw) : raw);
    if (ms === undefined) {
      io.stderr(`emms audit: --${name}=${JSON.stringify(raw)} must be epoch milliseconds or an ISO-8601 time\n`);
      return null;
    }
    return ms;
  };
  const sinceMs = time('since');
  const untilMs = time('until');
  if (sinceMs === null || untilMs === null) return 2;
  if (format === 'csv') io.stdout(CSV_FIELDS.join(',') + '\n');
  let afterSeq: number | undefined = 0;
  const index = new AuditOffsetIndex();
  while (afterSeq !== undefined) {
    const page = queryAuditLog(logPath, { sinceMs, untilMs, tenant: values.tenant as string | undefined, afterSeq, limit: EXPORT_PAGE }, index, cipher);
    for (const record of page.records) io.stdout(format === 'jsonl' ? JSON.stringify(record) + '\n' : csvRow(record));
    afterSeq = page.nextAfterSeq;
  }
  return 0;
}

function csvRow(record: AuditRecord): string {
  return CSV_FIELDS.map((f) => csvCell(String(record[f]))).join(',') + '\n';
}

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
