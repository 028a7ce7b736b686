/**
 * `emms keygen` and `emms encryption status|rotate-master|rotate-data|verify`: the master key
 * file, and the keyring of an encrypted data directory (docs/format/encryption.md).
 *
 * rotate-master re-wraps the data keys (a few hundred bytes rewritten) and may run beside a
 * running server, which never writes the keyring after start-up. rotate-data rewrites every
 * database file (`PRAGMA rekey`), so it needs the server stopped; it takes the store's writer
 * lock to be sure.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';
import { AuditRecordCipher } from '../audit/audit_cipher.js';
import { AUDIT_KEY_FILE, AUDIT_LOG_FILE } from '../audit/audit_log.js';
import { verifyAuditLog } from '../audit/audit_verify.js';
import { databaseFilesIn, masterKeyFromFile, rotateDatabaseKey } from '../crypto/at_rest.js';
import { openCommandEncryption, KEY_FILE_ENV } from '../crypto/command_encryption.js';
import { openKeyFile } from '../crypto/key_file.js';
import { writeNewMasterKeyFile } from '../crypto/master_key.js';
import { verifyDatabasePages } from '../crypto/page_verify.js';
import { databasePathIn } from '../model/data_directory.js';
import { acquireWriterLock } from '../storage/sqlite/writer_lock.js';

const KEYGEN_USAGE = `Usage: emms keygen --output FILE

Writes a new master key for encryption at rest: 32 random bytes as 64 hex digits, in a new
file of mode 0600 (never overwrites). Keep it outside the data directory, and set
security.encryption.key_file (main.json) or ${KEY_FILE_ENV} to its path.`;

const USAGE = `Usage:
  emms encryption status        --data DIR
  emms encryption rotate-master --data DIR --new-key-file FILE
  emms encryption rotate-data   --data DIR
  emms encryption verify        --data DIR

The current master key is read from ${KEY_FILE_ENV} or --key-file FILE.
  status         the keyring: master key id, data keys (id, purpose, age), encrypted files
  rotate-master  re-wrap every data key under the key in FILE (no data rewritten; the server
                 may run); afterwards only FILE opens the directory
  rotate-data    new database and audit keys; every database file is rewritten (PRAGMA rekey,
                 server stopped); older audit records keep their key
  verify         check every page of every database and every audit record; names the
                 altered ones (exit 1)`;

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: CommandIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

export async function runKeygen(argv: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    io.stderr(`emms keygen: ${(err as Error).message}\n\n${KEYGEN_USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    io.stdout(`${KEYGEN_USAGE}\n`);
    return 0;
  }
  if (values.output === undefined) {
    io.stderr(`emms keygen: --output FILE is required\n\n${KEYGEN_USAGE}\n`);
    return 2;
  }
  try {
    const id = writeNewMasterKeyFile(values.output);
    io.stdout(`master key ${id} written to ${resolve(values.output)} (mode 0600)\n`);
    return 0;
  } catch (err) {
    io.stderr(`emms keygen: ${(err as Error).message}\n`);
    return 1;
  }
}

export async function runEncryption(argv: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    io.stdout(`${USAGE}\n`);
    return action === undefined ? 2 : 0;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { data: { type: 'string' }, 'key-file': { type: 'string' }, 'new-key-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    io.stderr(`emms encryption: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const dataDir = values.data;
  if (dataDir === undefined || !existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
    io.stderr(`emms encryption: --data DIR must name a data directory\n\n${USAGE}\n`);
    return 2;
  }
  if (!['status', 'rotate-master', 'rotate-data', 'verify'].includes(action)) {
    io.stderr(`emms encryption: unknown action ${JSON.stringify(action)}\n\n${USAGE}\n`);
    return 2;
  }
  if (action === 'rotate-master' && values['new-key-file'] === undefined) {
    io.stderr(`emms encryption rotate-master: --new-key-file FILE is required\n\n${USAGE}\n`);
    return 2;
  }
  try {
    const opened = await openCommandEncryption(dataDir, values['key-file'] ?? (process.env[KEY_FILE_ENV] || undefined));
    if (opened === undefined) {
      io.stderr(`emms encryption: ${dataDir} is not encrypted (no keyring.json)\n`);
      return 1;
    }
    const { keyring } = opened;
    if (action === 'status') {
      io.stdout(`keyring ${keyring.path}: master key ${keyring.masterKeyId}, database cipher ChaCha20-Poly1305 (SQLite3 Multiple Ciphers), audit records AES-256-GCM\n`);
      for (const k of keyring.describe()) io.stdout(`  ${k.id}  ${k.purpose.padEnd(8)}  created ${k.created}${k.current ? '  (current)' : ''}\n`);
      io.stdout(`encrypted databases: ${databaseFilesIn(dataDir).join(', ') || '(none yet)'}\n`);
      return 0;
    }
    if (action === 'rotate-master') {
      const next = masterKeyFromFile(values['new-key-file']!);
      const previous = keyring.masterKeyId;
      await keyring.rewrap(next);
      io.stdout(`keyring ${keyring.path}: data keys re-wrapped from master key ${previous} to ${next.id}; no data rewritten. Configure ${next.source} as the key file now; the old key no longer opens this directory.\n`);
      return 0;
    }
    if (action === 'rotate-data') {
      const release = acquireWriterLock(resolve(databasePathIn(dataDir)));
      try {
        const oldDb = keyring.databaseKey.id;
        const report = await rotateDatabaseKey(keyring, dataDir);
        const oldAudit = keyring.auditKey.id;
        await keyring.rotateAuditKey();
        io.stdout(`database key ${oldDb} → ${keyring.databaseKey.id}: ${report.files} file(s), ${report.bytes} bytes rewritten in ${report.ms} ms\n`);
        io.stdout(`audit key ${oldAudit} → ${keyring.auditKey.id} (older records keep their key)\n`);
      } finally {
        release();
      }
      return 0;
    }
    return verifyEverything(dataDir, opened.databaseKey.bytes, new AuditRecordCipher(opened.auditKeys, opened.auditKey.id), io);
  } catch (err) {
    io.stderr(`emms encryption ${action}: ${(err as Error).message}\n`);
    return 1;
  }
}

function verifyEverything(dataDir: string, databaseKey: Uint8Array, cipher: AuditRecordCipher, io: CommandIo): number {
  let damaged = 0;
  for (const name of databaseFilesIn(dataDir)) {
    const path = join(dataDir, name);
    if (statSync(path).size === 0) continue;
    const result = verifyDatabasePages(path, databaseKey);
    if (result.badPages.length > 0) {
      damaged++;
      io.stdout(`DAMAGED ${path}: page(s) ${result.badPages.join(', ')} of ${result.pages} fail their authentication tag (page size ${result.pageSize})\n`);
    } else io.stdout(`OK ${path}: ${result.pages} pages authenticate\n`);
  }
  const logPath = join(dataDir, AUDIT_LOG_FILE);
  if (existsSync(logPath)) {
    const keyPath = join(dataDir, AUDIT_KEY_FILE);
    const checkpointKey = existsSync(keyPath) ? openKeyFile(keyPath, { purpose: 'audit checkpoint', create: false }) : undefined;
    const audit = verifyAuditLog(logPath, checkpointKey, cipher);
    if (!audit.ok) {
      damaged++;
      io.stdout(`DAMAGED ${logPath}: ${audit.problem}\n`);
    } else io.stdout(`OK ${logPath}: ${audit.records} record(s) open and chain\n`);
  }
  return damaged === 0 ? 0 : 1;
}

export const run = runEncryption;
