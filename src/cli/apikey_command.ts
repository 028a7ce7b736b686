/**
 * `emms apikey create|list|revoke --data DIR …`: manages API keys in `<DIR>/auth.db`, with the
 * server stopped or running on the same directory (a running server notices a revocation
 * within a second; src/auth/auth_database.ts). `create` prints the token alone on stdout,
 * once (so `TOKEN=$(emms apikey create …)` works) and its details on stderr. Quotas are not
 * applied here: whoever runs this can read the data directory and is the operator. Creations
 * and revocations go to the data directory's audit log as `cli:<user>`.
 */
import { existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { AuditTrail } from '../audit/audit_trail.js';
import { openCommandEncryption } from '../crypto/command_encryption.js';
import { AuditRecordCipher } from '../audit/audit_cipher.js';
import type { AuditEvent } from '../audit/audit_record.js';
import { ApiKeyValidationError, checkTenantForRole, parseAllowedNetworks, parseExpiresAt, parseKeyName, parseRole } from '../auth/api_key_input.js';
import { isKeyId } from '../auth/api_key_token.js';
import { ApiKeyStore } from '../auth/api_key_store.js';
import { AuthDatabase } from '../auth/auth_database.js';
import { apiKeyToJson } from '../auth/auth_routes.js';

const USAGE = `Usage:
  emms apikey create --data DIR --name NAME --role ROLE [--tenant TENANT] [--expires-at ISO] [--allowed-networks CIDR,...]
  emms apikey list   --data DIR [--tenant TENANT] [--json]
  emms apikey revoke --data DIR KEY_ID

Manages the API keys of a data directory (its auth.db), whether or not a server runs on it.

  --data DIR               the server's data directory
  --name NAME              what the key is for (shown in lists)
  --role ROLE              reader | writer | admin | operator
  --tenant TENANT          the key's tenant (required except for operator keys, which are global: "*")
  --expires-at ISO         expiry, e.g. 2030-01-31T00:00:00Z (default: never)
  --allowed-networks LIST  comma-separated CIDRs the key may be used from (default: any)
  --json                   list as JSON
  -h, --help               this text

create prints the token on stdout, once; it is stored only as a hash and cannot be shown again.`;

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: CommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Entry point for `emms apikey …`; returns the exit code (0 done, 1 failed, 2 usage). */
export async function runApikeyCommand(argv: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    io.stdout(USAGE + '\n');
    return action === undefined ? 2 : 0;
  }
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(rest);
  } catch (err) {
    io.stderr(`emms apikey: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout(USAGE + '\n');
    return 0;
  }
  const dataDir = values.data;
  if (dataDir === undefined) return usageError(io, '--data DIR is required');
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) return usageError(io, `--data=${JSON.stringify(dataDir)} is not a directory`);
  if (action !== 'create' && action !== 'list' && action !== 'revoke') return usageError(io, `unknown action ${JSON.stringify(action)}; expected create, list or revoke`);
  if (action !== 'revoke' && positionals.length > 0) return usageError(io, `unexpected argument ${JSON.stringify(positionals[0])}`);

  // An encrypted directory: auth.db and the audit records need the master key (EMMS_ENCRYPTION_KEY_FILE).
  const encryption = await openCommandEncryption(dataDir);
  const cipher = encryption === undefined ? undefined : new AuditRecordCipher(encryption.auditKeys, encryption.auditKey.id);
  const db = AuthDatabase.open(dataDir);
  const store = new ApiKeyStore(db, { lastUsedFlushMs: 0 });
  const audit = (event: Pick<AuditEvent, 'action' | 'target' | 'tenant'>): void => {
    const trail = AuditTrail.openWithoutCheckpoints(dataDir, cipher);
    try {
      trail.record({ ...event, actor: `cli:${userInfo().username}`, source: '', requestId: '', outcome: 'ok' });
    } finally {
      trail.close();
    }
  };
  try {
    if (action === 'create') return create(store, values, io, audit);
    if (action === 'list') return list(store, values, io);
    return revoke(store, positionals, io, audit);
  } catch (err) {
    if (err instanceof ApiKeyValidationError) {
      io.stderr(`emms apikey ${action}: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    store.close();
    db.close();
  }
}

/** The `run` every subcommand module exports (src/cli/main.ts). */
export const run = runApikeyCommand;

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      data: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      tenant: { type: 'string' },
      'expires-at': { type: 'string' },
      'allowed-networks': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type Values = ReturnType<typeof parseOptions>['values'];

function usageError(io: CommandIo, message: string): number {
  io.stderr(`emms apikey: ${message}\n\n${USAGE}\n`);
  return 2;
}

type RecordAudit = (event: Pick<AuditEvent, 'action' | 'target' | 'tenant'>) => void;

function create(store: ApiKeyStore, v: Values, io: CommandIo, audit: RecordAudit): number {
  const now = Date.now();
  const role = parseRole(v.role);
  const tenant = checkTenantForRole(role, v.tenant);
  const networks = v['allowed-networks'] === undefined ? undefined : parseAllowedNetworks(v['allowed-networks'].split(',').map((s) => s.trim()).filter((s) => s !== ''));
  const { record, token } = store.create({
    name: parseKeyName(v.name),
    tenant,
    role,
    expiresAt: v['expires-at'] === undefined ? undefined : parseExpiresAt(v['expires-at'], now),
    allowedNetworks: networks,
  });
  audit({ action: 'apikey.create', target: `key_id=${record.keyId} role=${record.role}`, tenant: record.tenant });
  io.stdout(`${token}\n`);
  const expiry = record.expiresAt === undefined ? 'never expires' : `expires ${new Date(record.expiresAt).toISOString()}`;
  const nets = record.allowedNetworks === undefined ? 'any network' : record.allowedNetworks.join(', ');
  io.stderr(`created API key ${record.keyId} (${JSON.stringify(record.name)}, tenant ${record.tenant}, role ${record.role}, ${expiry}, ${nets}); the token above is shown only this once\n`);
  return 0;
}

function list(store: ApiKeyStore, v: Values, io: CommandIo): number {
  const now = Date.now();
  const keys = store.list(v.tenant === undefined ? {} : { tenant: v.tenant }).map((r) => apiKeyToJson(r, now));
  if (v.json === true) {
    io.stdout(JSON.stringify({ keys, count: keys.length }, null, 2) + '\n');
    return 0;
  }
  const columns = ['key_id', 'name', 'tenant', 'role', 'state', 'created_at', 'expires_at', 'last_used_at', 'allowed_networks'] as const;
  const rows = keys.map((k) => columns.map((c) => {
    const value = k[c];
    if (value === null || value === undefined) return '-';
    return Array.isArray(value) ? value.join(',') : String(value);
  }));
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  io.stdout(line(columns));
  for (const r of rows) io.stdout(line(r));
  return 0;
}

function revoke(store: ApiKeyStore, positionals: string[], io: CommandIo, audit: RecordAudit): number {
  const [keyId, extra] = positionals;
  if (keyId === undefined || extra !== undefined) return usageError(io, 'revoke takes exactly one KEY_ID (ak_ + 16 hex digits)');
  if (!isKeyId(keyId)) {
    io.stderr(`emms apikey revoke: KEY_ID=${JSON.stringify(keyId.slice(0, 64))} is not a key id (ak_ + 16 hex digits; see emms apikey list)\n`);
    return 2;
  }
  const record = store.revoke(keyId);
  if (record === undefined) {
    io.stderr(`emms apikey revoke: no API key ${keyId} in this data directory\n`);
    return 1;
  }
  audit({ action: 'apikey.revoke', target: `key_id=${keyId}`, tenant: record.tenant });
  io.stderr(`revoked API key ${keyId} (${JSON.stringify(record.name)}, tenant ${record.tenant}) at ${new Date(record.revokedAt!).toISOString()}\n`);
  return 0;
}
