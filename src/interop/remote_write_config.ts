/**
 * The `remote_write` section of main.json: where EMMS forwards series (remote write out).
 *
 *   "remote_write": [{
 *     "url": "https://vm.example/api/v1/write",     required, http or https, no user:password
 *     "name": "vm",                                  label of its /metrics series; default the URL's host
 *     "match": ["cpu.*", "node_*"],                   metric id globs; default ["*"] (everything)
 *     "tenants": ["default"],                        tenants forwarded; default ["default"]; ["*"] = all
 *     "tenant_label": "emms_tenant",                 optional label carrying the tenant's name
 *     "bearer_token_file": "/etc/emms/vm.token",     optional; the token is read at start, never logged
 *     "max_backlog_bytes": 268435456,                queue bound; past it the oldest batches are dropped and counted
 *     "max_samples_per_send": 10000,                 samples per request to the receiver
 *     "timeout_ms": 10000, "min_backoff_ms": 100, "max_backoff_ms": 30000
 *   }]
 *
 * Destinations are chosen by the operator (main.json), but they still go through the egress
 * guard (`security.egress_allow` for a receiver on a private or loopback address): a config
 * file is not always written by whoever runs the machine.
 */
import { readFileSync } from 'node:fs';
import { Glob } from '../text/glob.js';

export interface RemoteWriteTarget {
  name: string;
  url: URL;
  match: readonly Glob[];
  /** `*` for every tenant. */
  tenants: ReadonlySet<string> | '*';
  tenantLabel: string | undefined;
  /** The token itself (read from bearer_token_file); never rendered anywhere. */
  bearerToken: string | undefined;
  maxBacklogBytes: number;
  maxSamplesPerSend: number;
  timeoutMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

const KEYS = ['url', 'name', 'match', 'tenants', 'tenant_label', 'bearer_token_file', 'max_backlog_bytes', 'max_samples_per_send', 'timeout_ms', 'min_backoff_ms', 'max_backoff_ms'] as const;

export const REMOTE_WRITE_DEFAULTS = {
  maxBacklogBytes: 256 * 1024 * 1024,
  // VictoriaMetrics' and Mimir's request limits are tens of MB; 10k samples stay well under 1 MB.
  maxSamplesPerSend: 10_000,
  timeoutMs: 10_000,
  minBackoffMs: 100,
  maxBackoffMs: 30_000,
};

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

function integerIn(where: string, raw: unknown, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) throw new Error(`${where}=${JSON.stringify(raw)} must be an integer in [${min}, ${max}]`);
  return raw;
}

/** Parses the section (undefined = no forwarding); throws an Error naming `remote_write[i].key`. */
export function parseRemoteWriteSection(raw: unknown): RemoteWriteTarget[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new Error('remote_write must be an array of destinations ({url, match, …})');
  const names = new Set<string>();
  return raw.map((entry: unknown, i) => {
    const at = `remote_write[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error(`${at} must be an object with at least url`);
    const e = entry as Record<string, unknown>;
    for (const key of Object.keys(e)) if (!(KEYS as readonly string[]).includes(key)) throw new Error(`${at}.${key} is not a setting; use ${KEYS.join(', ')}`);
    if (typeof e.url !== 'string') throw new Error(`${at}.url is required: the receiver's remote-write URL`);
    let url: URL;
    try {
      url = new URL(e.url);
    } catch {
      throw new Error(`${at}.url is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${at}.url must be http or https; got ${url.protocol}`);
    // Credentials in a URL end up in logs and /metrics labels; they belong in bearer_token_file.
    if (url.username !== '' || url.password !== '') throw new Error(`${at}.url must not carry user:password; use bearer_token_file`);
    const name = e.name === undefined ? url.host : e.name;
    if (typeof name !== 'string' || !NAME.test(name)) throw new Error(`${at}.name=${JSON.stringify(name)} must match ${NAME.source}`);
    if (names.has(name)) throw new Error(`${at}.name=${JSON.stringify(name)} is used twice; give each destination its own name`);
    names.add(name);
    const patterns = e.match === undefined ? ['*'] : e.match;
    if (!Array.isArray(patterns) || patterns.length === 0) throw new Error(`${at}.match must be a non-empty array of metric id globs`);
    const match = patterns.map((p, j) => {
      try {
        return Glob.compile(p);
      } catch (err) {
        throw new Error(`${at}.match[${j}]: ${(err as Error).message}`);
      }
    });
    const tenantList = e.tenants === undefined ? ['default'] : e.tenants;
    if (!Array.isArray(tenantList) || tenantList.length === 0 || !tenantList.every((t) => typeof t === 'string' && t !== '')) {
      throw new Error(`${at}.tenants must be a non-empty array of tenant names, or ["*"]`);
    }
    const tenants = tenantList.includes('*') ? '*' : new Set(tenantList as string[]);
    if (e.tenant_label !== undefined && (typeof e.tenant_label !== 'string' || !LABEL_NAME.test(e.tenant_label) || e.tenant_label === '__name__')) {
      throw new Error(`${at}.tenant_label must be a label name matching ${LABEL_NAME.source}`);
    }
    let bearerToken: string | undefined;
    if (e.bearer_token_file !== undefined) {
      if (typeof e.bearer_token_file !== 'string' || e.bearer_token_file === '') throw new Error(`${at}.bearer_token_file must be a file path`);
      try {
        bearerToken = readFileSync(e.bearer_token_file, 'utf8').trim();
      } catch (err) {
        throw new Error(`${at}.bearer_token_file ${JSON.stringify(e.bearer_token_file)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      if (bearerToken === '') throw new Error(`${at}.bearer_token_file ${JSON.stringify(e.bearer_token_file)} is empty`);
    }
    const d = REMOTE_WRITE_DEFAULTS;
    const minBackoffMs = integerIn(`${at}.min_backoff_ms`, e.min_backoff_ms, 1, 600_000, d.minBackoffMs);
    return {
      name, url, match, tenants,
      tenantLabel: e.tenant_label as string | undefined,
      bearerToken,
      maxBacklogBytes: integerIn(`${at}.max_backlog_bytes`, e.max_backlog_bytes, 1024, 1024 ** 4, d.maxBacklogBytes),
      maxSamplesPerSend: integerIn(`${at}.max_samples_per_send`, e.max_samples_per_send, 1, 1_000_000, d.maxSamplesPerSend),
      timeoutMs: integerIn(`${at}.timeout_ms`, e.timeout_ms, 100, 600_000, d.timeoutMs),
      minBackoffMs,
      maxBackoffMs: integerIn(`${at}.max_backoff_ms`, e.max_backoff_ms, minBackoffMs, 3_600_000, Math.max(minBackoffMs, d.maxBackoffMs)),
    };
  });
}
