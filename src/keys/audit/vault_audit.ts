/**
 * Reads HashiCorp Vault audit-device logs (the file device's JSON lines) into key events.
 *
 * Format (https://developer.hashicorp.com/vault/docs/audit/schema): one JSON object per line,
 * `{time, type: "request"|"response", auth: {display_name, entity_id …}, request: {id,
 * operation, mount_type, mount_point, path, data, remote_address}, response?, error?}`.
 * Vault writes a request entry and a response entry for each call, sharing `request.id`; one
 * event is made per call, from the response when present (it carries the outcome), else from
 * the request. Only the transit secrets engine (`mount_type: "transit"`) is about keys:
 *
 *   encrypt/:name, datakey/{plaintext,wrapped}/:name → encrypt   decrypt/:name → decrypt
 *   rewrap/:name → decrypt + encrypt    sign/:name, hmac/:name → sign    verify/:name → verify
 *   keys/:name (create/update) → created   keys/:name (delete) → revoked   keys/:name (read) → accessed
 *   keys/:name/rotate → rotated   keys/:name/config, export/…/:name, backup/:name → security_event
 *
 * An entry whose `error` says "permission denied" becomes `unauthorized_access` (outcome
 * denied); any other error keeps the operation with outcome failure. `batch_input` arrays
 * count one operation per item. Keys are named `<key name>` with an optional prefix.
 */
import { isStorableTime, timeInputMs } from '../../model/time.js';
import type { KeyType } from '../key_model.js';
import type { KeyEventType } from '../key_events.js';
import { emptyImport, noteKey, type AuditImport } from './audit_import.js';

/** Vault transit key types (`type` parameter of keys/:name) → our algorithm names. */
const VAULT_KEY_TYPES: Record<string, { algorithm: string; keyType: KeyType }> = {
  'aes128-gcm96': { algorithm: 'AES-128-GCM', keyType: 'encryption' },
  'aes256-gcm96': { algorithm: 'AES-256-GCM', keyType: 'encryption' },
  'chacha20-poly1305': { algorithm: 'ChaCha20-Poly1305', keyType: 'encryption' },
  'xchacha20-poly1305': { algorithm: 'XChaCha20-Poly1305', keyType: 'encryption' },
  ed25519: { algorithm: 'Ed25519', keyType: 'signing' },
  'ecdsa-p256': { algorithm: 'ECDSA-P256', keyType: 'signing' },
  'ecdsa-p384': { algorithm: 'ECDSA-P384', keyType: 'signing' },
  'ecdsa-p521': { algorithm: 'ECDSA-P521', keyType: 'signing' },
  'rsa-2048': { algorithm: 'RSA-2048', keyType: 'encryption' },
  'rsa-3072': { algorithm: 'RSA-3072', keyType: 'encryption' },
  'rsa-4096': { algorithm: 'RSA-4096', keyType: 'encryption' },
  hmac: { algorithm: 'HMAC', keyType: 'hmac' },
};
/** Vault's default when `type` is omitted at creation. */
const VAULT_DEFAULT_KEY_TYPE = 'aes256-gcm96';

interface VaultEntry {
  line: number;
  requestId: string | null;
  time: number;
  type: string;
  error: string;
  actor: string | null;
  remoteAddress: string | null;
  operation: string;
  mountType: string | null;
  mountPoint: string | null;
  path: string;
  data: Record<string, unknown>;
}

export interface VaultImportOptions {
  /** Prepended to every key name, e.g. `vault:transit/`. */
  keyIdPrefix?: string;
  /** Owner recorded for keys first seen in this log. */
  owner?: string;
}

function asObject(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function parseEntry(text: string, line: number): VaultEntry | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  const e = asObject(raw);
  const req = asObject(e.request);
  const auth = asObject(e.auth);
  const time = typeof e.time === 'string' ? timeInputMs(e.time) ?? NaN : NaN;
  if (!isStorableTime(time)) return `time=${JSON.stringify(e.time)?.slice(0, 200)} is not an ISO-8601 time in [1970, 2200)`;
  if (e.type !== 'request' && e.type !== 'response') return `type=${JSON.stringify(e.type)} is neither request nor response`;
  if (typeof req.path !== 'string' || typeof req.operation !== 'string') return 'request.path or request.operation is missing';
  const actor = typeof auth.display_name === 'string' && auth.display_name !== '' ? auth.display_name
    : typeof auth.entity_id === 'string' && auth.entity_id !== '' ? auth.entity_id : null;
  return {
    line,
    requestId: typeof req.id === 'string' && req.id !== '' ? req.id : null,
    time,
    type: e.type,
    error: typeof e.error === 'string' ? e.error : '',
    actor,
    remoteAddress: typeof req.remote_address === 'string' && req.remote_address !== '' ? req.remote_address : null,
    operation: req.operation,
    mountType: typeof req.mount_type === 'string' ? req.mount_type : null,
    mountPoint: typeof req.mount_point === 'string' ? req.mount_point : null,
    path: req.path,
    data: asObject(req.data),
  };
}

interface TransitOp {
  events: KeyEventType[];
  name: string;
  keyType: KeyType | null;
  algorithm: string | null;
}

/** Interprets the path below the mount point; null for transit calls that involve no key. */
function transitOp(rest: string, operation: string, data: Record<string, unknown>): TransitOp | null {
  const seg = rest.split('/').filter((s) => s !== '');
  const [op, a, b, c] = seg;
  const plain = (events: KeyEventType[], name: string | undefined, keyType: KeyType | null = null): TransitOp | null =>
    name === undefined ? null : { events, name, keyType, algorithm: null };
  switch (op) {
    case 'encrypt': return plain(['encrypt'], a, 'encryption');
    case 'decrypt': return plain(['decrypt'], a, 'encryption');
    case 'rewrap': return plain(['decrypt', 'encrypt'], a, 'encryption');
    case 'datakey': return plain(['encrypt'], b, 'encryption');
    case 'sign': return plain(['sign'], a, 'signing');
    case 'verify': return plain(['verify'], a, null);
    case 'hmac': return plain(['sign'], a, 'hmac');
    case 'export': return plain(['security_event'], b);
    case 'backup': return plain(['security_event'], a);
    case 'keys': {
      if (a === undefined) return null;
      if (b === 'rotate') return plain(['rotated'], a);
      if (b === 'config' || b === 'trim') return plain(['security_event'], a);
      if (b !== undefined || c !== undefined) return null;
      if (operation === 'delete') return plain(['revoked'], a);
      if (operation === 'read') return plain(['accessed'], a);
      if (operation === 'create' || operation === 'update') {
        const vaultType = typeof data.type === 'string' ? data.type : VAULT_DEFAULT_KEY_TYPE;
        const known = VAULT_KEY_TYPES[vaultType];
        return { events: ['created'], name: a, keyType: known?.keyType ?? null, algorithm: known?.algorithm ?? vaultType };
      }
      return null;
    }
    default:
      return null;
  }
}

function batchCount(data: Record<string, unknown>): number {
  return Array.isArray(data.batch_input) && data.batch_input.length > 0 ? data.batch_input.length : 1;
}

export function parseVaultAudit(text: string, options: VaultImportOptions = {}): AuditImport {
  const out = emptyImport();
  const prefix = options.keyIdPrefix ?? '';
  // One call = one request id; the response (with the outcome) replaces the request.
  const calls = new Map<string, VaultEntry>();
  const anonymous: VaultEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t === '') continue;
    const entry = parseEntry(t, i + 1);
    if (typeof entry === 'string') {
      out.skipped.push({ record: i + 1, reason: entry });
      continue;
    }
    const id = entry.requestId;
    if (id === null) anonymous.push(entry);
    else {
      const seen = calls.get(id);
      if (seen === undefined || (seen.type === 'request' && entry.type === 'response')) calls.set(id, entry);
    }
  }
  for (const entry of [...calls.values(), ...anonymous]) {
    if (entry.mountType !== null && entry.mountType !== 'transit') {
      out.ignored++;
      continue;
    }
    const mount = entry.mountPoint ?? entry.path.split('/')[0] + '/';
    const rest = entry.path.startsWith(mount) ? entry.path.slice(mount.length) : entry.path;
    const op = transitOp(rest, entry.operation, entry.data);
    if (op === null) {
      out.ignored++;
      continue;
    }
    const keyId = prefix + op.name;
    noteKey(out, { key_id: keyId, backend: 'vault', key_type: op.keyType, algorithm: op.algorithm, owner: options.owner ?? null }, entry.time);
    const denied = /permission denied/i.test(entry.error);
    const count = batchCount(entry.data);
    for (const type of denied ? (['unauthorized_access'] as KeyEventType[]) : op.events) {
      out.events.push({
        key_id: keyId,
        event_type: type,
        timestamp: entry.time,
        count,
        actor: entry.actor,
        source_ip: entry.remoteAddress,
        outcome: denied ? 'denied' : entry.error !== '' ? 'failure' : 'success',
        reason: entry.error !== '' ? entry.error.trim().slice(0, 1024) : null,
        record_id: entry.requestId,
      });
    }
  }
  return out;
}
