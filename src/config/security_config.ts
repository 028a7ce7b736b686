/**
 * The `security` section of main.json: authentication, TLS, network controls, egress and
 * per-tenant quotas. Parsed once at start-up; every error is a ConfigError naming the key and
 * the value (never the contents of a secret file: files are named, not read, here).
 *
 *   "security": {
 *     "auth": "on",                      // "off" only on a loopback bind (EMMS_AUTH)
 *     "metrics_access": "open",          // GET /metrics: "open" or "reader" (any tenant's reader)
 *     "tls": { "cert_file", "key_file", "passphrase_file"?, "min_version": "1.3" },
 *     "allowed_networks": ["10.0.0.0/8"],  // clients outside are refused before anything else; [] = any
 *     "admin_networks": ["10.1.0.0/24"],   // never blocked by block_ip (loopback never is either)
 *     "trusted_proxies": ["10.0.5.0/24"],  // load balancers / standbys whose X-Forwarded-For names the client
 *                                          // (METRICS_TRUSTED_PROXIES, comma-separated; [] = trust none)
 *     "allowed_origins": ["https://ops.example.com"],  // browser WebSocket origins besides the server's own
 *     "allowed_hosts": ["emms.internal"],  // Host names accepted on a loopback bind besides localhost/127.0.0.1/[::1]
 *     "egress_allow": ["10.2.0.0/16", "alertmanager.internal"],
 *     "jwt": { "algorithms": ["RS256"], "public_key_file" | "jwks_file" | "secret_file", "issuer", "audience",
 *              "tenant_claim": "tenant", "role_claim": "role", "clock_tolerance_seconds": 30 },
 *     "limits": { "max_connections", "max_connections_per_address", "header_timeout_ms", "body_timeout_ms",
 *                 "auth_failures_per_minute" },
 *     "quotas": { "active_series", "ingest_points_per_second", "query_concurrency", "rules", "targets",
 *                 "channels", "silences", "keys", "api_keys" },
 *     "anonymize": { "source_ip": "truncate_ip", "actor": "hmac" },  // or { "rules", "tenants" }: src/anonymize/anonymize_rules.ts
 *     "anonymize_key_file": "/etc/emms/anonymize.key",                 // default <data>/anonymize.key
 *     "encryption": { "key_file": "/etc/emms/master.key",   // EMMS_ENCRYPTION_KEY_FILE; on when set
 *                     "data_key_max_age_days": 90 }          // docs/format/encryption.md
 *   }
 */
import { AnonymizeConfigError, NO_ANONYMIZATION, parseAnonymizeSettings, renderAnonymizeSettings, type AnonymizeSettings } from '../anonymize/anonymize_rules.js';
import { NetworkListError, parseNetworkList, type NetworkList } from '../net/cidr.js';
import { parseEgressPolicy, type EgressPolicy } from '../net/egress_guard.js';
import { DEFAULT_QUOTAS, QUOTA_CONFIG_KEYS, QUOTA_NAMES, type TenantQuotas } from '../tenancy/quota.js';
import { ConfigError } from './config_error.js';

export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export interface JwtSettings {
  algorithms: JwtAlgorithm[];
  /** Exactly one key source: a PEM public key (RS256/ES256/EdDSA), a local JWKS file, or an HS256 secret file. */
  publicKeyFile?: string;
  jwksFile?: string;
  secretFile?: string;
  issuer: string;
  audience: string;
  tenantClaim: string;
  roleClaim: string;
  clockToleranceSeconds: number;
}

export interface TlsSettings {
  certFile: string;
  keyFile: string;
  passphraseFile?: string;
  minVersion: '1.2' | '1.3';
}

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** A request whose headers have not all arrived by then is dropped (slowloris). */
  headerTimeoutMs: number;
  /** A body that has not fully arrived by then is answered 408 and dropped. */
  bodyTimeoutMs: number;
  /** Failed authentications per source address per minute before it gets 429. */
  authFailuresPerMinute: number;
}

export interface SecurityConfig {
  auth: 'on' | 'off';
  metricsAccess: 'open' | 'reader';
  tls: TlsSettings | undefined;
  allowedNetworks: NetworkList | undefined;
  adminNetworks: NetworkList;
  /**
   * Proxies whose X-Forwarded-For is believed (src/server/forwarded_for.ts): a request whose
   * socket address is in here is taken to come from the address those proxies name.
   */
  trustedProxies: NetworkList;
  allowedOrigins: string[];
  allowedHosts: string[];
  egress: EgressPolicy;
  jwt: JwtSettings | undefined;
  limits: ConnectionLimits;
  quotas: TenantQuotas;
  /**
   * `security.audit.key_file`: the audit log's checkpoint key; default `<data>/audit.key`.
   * Outside the data directory, a copy of the disk alone cannot rewrite the log undetected.
   */
  auditKeyFile: string | undefined;
  /** `security.encryption`: encryption at rest (src/crypto/at_rest.ts); off while keyFile is undefined. */
  encryption: EncryptionSettings;
  /** `security.anonymize`: rules applied to tags and key-event fields before anything is stored. */
  anonymize: AnonymizeSettings;
  /** `security.anonymize_key_file`: the pseudonym master key; default `<data>/anonymize.key`. */
  anonymizeKeyFile: string | undefined;
}

export interface EncryptionSettings {
  /** The master key file (64 hex digits or base64 of 32 bytes, mode 0600). */
  keyFile: string | undefined;
  /** Data keys older than this are rotated at start-up (0 = never by age). */
  dataKeyMaxAgeDays: number;
}

export const DEFAULT_DATA_KEY_MAX_AGE_DAYS = 90;

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConnections: 10_000,
  maxConnectionsPerAddress: 256,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  authFailuresPerMinute: 30,
});

export function defaultSecurityConfig(): SecurityConfig {
  return {
    auth: 'on',
    metricsAccess: 'open',
    tls: undefined,
    allowedNetworks: undefined,
    adminNetworks: parseNetworkList('security.admin_networks', []),
    trustedProxies: parseNetworkList('security.trusted_proxies', []),
    allowedOrigins: [],
    allowedHosts: [],
    egress: parseEgressPolicy('security.egress_allow', []),
    jwt: undefined,
    limits: { ...DEFAULT_CONNECTION_LIMITS },
    quotas: { ...DEFAULT_QUOTAS },
    auditKeyFile: undefined,
    encryption: { keyFile: undefined, dataKeyMaxAgeDays: DEFAULT_DATA_KEY_MAX_AGE_DAYS },
    anonymize: NO_ANONYMIZATION,
    anonymizeKeyFile: undefined,
  };
}

const SECTION_KEYS = new Set([
  'auth', 'metrics_access', 'tls', 'allowed_networks', 'admin_networks', 'trusted_proxies', 'allowed_origins', 'allowed_hosts', 'egress_allow', 'jwt', 'limits', 'quotas', 'audit', 'encryption',
  'anonymize', 'anonymize_key_file',
]);

type Raw = Record<string, unknown>;

function object(key: string, value: unknown, source: string): Raw {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(key, value, source, 'must be an object');
  return value as Raw;
}

function onlyKeys(key: string, body: Raw, allowed: readonly string[], source: string): void {
  for (const name of Object.keys(body)) {
    if (!allowed.includes(name)) throw new ConfigError(`${key}.${name}`, body[name], source, `is not a setting; expected one of ${allowed.join(', ')}`);
  }
}

function str(key: string, value: unknown, source: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 4096) throw new ConfigError(key, value, source, 'must be a non-empty string');
  return value;
}

function int(key: string, value: unknown, min: number, max: number, source: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(key, value, source, `must be an integer in [${min}, ${max}]`);
  }
  return value;
}

function strings(key: string, value: unknown, source: string, item: (s: string) => boolean, rule: string): string[] {
  if (!Array.isArray(value) || value.length > 1000) throw new ConfigError(key, value, source, 'must be an array of at most 1000 strings');
  return value.map((v, i) => {
    if (typeof v !== 'string' || !item(v)) throw new ConfigError(`${key}[${i}]`, v, source, rule);
    return v;
  });
}

function networks(key: string, value: unknown, source: string): NetworkList {
  try {
    return parseNetworkList(key, value);
  } catch (err) {
    if (err instanceof NetworkListError) throw new ConfigError(err.field, err.value, source, 'must be a CIDR or an IP address');
    throw err;
  }
}

/** `security.auth` from a string or boolean; also used for EMMS_AUTH. */
export function parseAuthSwitch(key: string, value: unknown, source: string): 'on' | 'off' {
  const v = typeof value === 'string' ? value.trim().toLowerCase() : value;
  if (v === 'on' || v === true || v === 'true' || v === '1') return 'on';
  if (v === 'off' || v === false || v === 'false' || v === '0') return 'off';
  throw new ConfigError(key, value, source, 'must be "on" or "off"');
}

/** `security.trusted_proxies` from METRICS_TRUSTED_PROXIES: CIDRs or addresses separated by commas. */
export function parseTrustedProxiesEnv(value: string, source: string): NetworkList {
  if (value.length > 65_536) throw new ConfigError('security.trusted_proxies', `(${value.length} characters)`, source, 'must be at most 65536 characters');
  return networks('security.trusted_proxies', value.split(',').map((s) => s.trim()).filter((s) => s !== ''), source);
}

/** Applies a parsed main.json `security` object onto `into`. */
export function applySecuritySection(into: SecurityConfig, raw: unknown, source: string): void {
  const body = object('security', raw, source);
  onlyKeys('security', body, [...SECTION_KEYS], source);
  if (body.auth !== undefined) into.auth = parseAuthSwitch('security.auth', body.auth, source);
  if (body.metrics_access !== undefined) {
    if (body.metrics_access !== 'open' && body.metrics_access !== 'reader') throw new ConfigError('security.metrics_access', body.metrics_access, source, 'must be "open" or "reader"');
    into.metricsAccess = body.metrics_access;
  }
  if (body.tls !== undefined && body.tls !== null) into.tls = parseTls(body.tls, source);
  if (body.allowed_networks !== undefined) into.allowedNetworks = networks('security.allowed_networks', body.allowed_networks, source);
  if (body.admin_networks !== undefined) into.adminNetworks = networks('security.admin_networks', body.admin_networks, source);
  if (body.trusted_proxies !== undefined) into.trustedProxies = networks('security.trusted_proxies', body.trusted_proxies, source);
  if (body.allowed_origins !== undefined) {
    into.allowedOrigins = strings('security.allowed_origins', body.allowed_origins, source, isOrigin, 'must be an origin such as "https://ops.example.com" (scheme, host and optional port; no path)');
  }
  if (body.allowed_hosts !== undefined) {
    into.allowedHosts = strings('security.allowed_hosts', body.allowed_hosts, source, (s) => /^[A-Za-z0-9.:[\]-]{1,260}$/.test(s), 'must be a host name, optionally with :port').map((s) => s.toLowerCase());
  }
  if (body.egress_allow !== undefined) {
    try {
      into.egress = parseEgressPolicy('security.egress_allow', body.egress_allow);
    } catch (err) {
      if (err instanceof NetworkListError) throw new ConfigError(err.field, err.value, source, 'must be a CIDR, an IP address or a host name');
      throw err;
    }
  }
  if (body.jwt !== undefined && body.jwt !== null) into.jwt = parseJwt(body.jwt, source);
  if (body.limits !== undefined) into.limits = parseLimits(body.limits, into.limits, source);
  if (body.quotas !== undefined) into.quotas = parseQuotas('security.quotas', body.quotas, into.quotas, source);
  if (body.audit !== undefined && body.audit !== null) {
    const audit = object('security.audit', body.audit, source);
    onlyKeys('security.audit', audit, ['key_file'], source);
    if (audit.key_file !== undefined) into.auditKeyFile = str('security.audit.key_file', audit.key_file, source);
  }
  if (body.encryption !== undefined && body.encryption !== null) {
    const encryption = object('security.encryption', body.encryption, source);
    onlyKeys('security.encryption', encryption, ['key_file', 'data_key_max_age_days'], source);
    if (encryption.key_file !== undefined) into.encryption.keyFile = str('security.encryption.key_file', encryption.key_file, source);
    if (encryption.data_key_max_age_days !== undefined) into.encryption.dataKeyMaxAgeDays = int('security.encryption.data_key_max_age_days', encryption.data_key_max_age_days, 0, 36_500, source);
  }
  if (body.anonymize !== undefined) {
    try {
      into.anonymize = parseAnonymizeSettings(body.anonymize, 'security.anonymize');
    } catch (err) {
      if (err instanceof AnonymizeConfigError) throw new ConfigError(err.field, err.value, source, err.rule);
      throw err;
    }
  }
  if (body.anonymize_key_file !== undefined) into.anonymizeKeyFile = str('security.anonymize_key_file', body.anonymize_key_file, source);
}

function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === s.replace(/\/$/, '');
  } catch {
    return false;
  }
}

function parseTls(raw: unknown, source: string): TlsSettings {
  const body = object('security.tls', raw, source);
  onlyKeys('security.tls', body, ['cert_file', 'key_file', 'passphrase_file', 'min_version'], source);
  const minVersion = body.min_version ?? '1.3';
  if (minVersion !== '1.2' && minVersion !== '1.3') throw new ConfigError('security.tls.min_version', body.min_version, source, 'must be "1.3" (default) or "1.2"');
  return {
    certFile: str('security.tls.cert_file', body.cert_file, source),
    keyFile: str('security.tls.key_file', body.key_file, source),
    ...(body.passphrase_file === undefined ? {} : { passphraseFile: str('security.tls.passphrase_file', body.passphrase_file, source) }),
    minVersion,
  };
}

function parseJwt(raw: unknown, source: string): JwtSettings {
  const key = 'security.jwt';
  const body = object(key, raw, source);
  onlyKeys(key, body, ['algorithms', 'public_key_file', 'jwks_file', 'secret_file', 'issuer', 'audience', 'tenant_claim', 'role_claim', 'clock_tolerance_seconds'], source);
  const algorithms = strings(`${key}.algorithms`, body.algorithms ?? ['RS256'], source, (s) => (JWT_ALGORITHMS as readonly string[]).includes(s), `must be one of ${JWT_ALGORITHMS.join(', ')}`) as JwtAlgorithm[];
  if (algorithms.length === 0) throw new ConfigError(`${key}.algorithms`, body.algorithms, source, 'must name at least one algorithm');
  const sources = (['public_key_file', 'jwks_file', 'secret_file'] as const).filter((k) => body[k] !== undefined);
  if (sources.length !== 1) throw new ConfigError(key, `(${sources.join(', ') || 'no key source'})`, source, 'must have exactly one of public_key_file, jwks_file, secret_file');
  const hmac = algorithms.includes('HS256');
  // A key file that serves both an HMAC and a public-key algorithm is the classic algorithm
  // confusion: a public key used as an HMAC secret verifies tokens anyone can forge.
  if (hmac && algorithms.length > 1) throw new ConfigError(`${key}.algorithms`, algorithms, source, 'HS256 cannot be combined with public-key algorithms (algorithm confusion)');
  if (hmac !== (body.secret_file !== undefined)) throw new ConfigError(key, sources[0], source, 'HS256 takes secret_file, and secret_file is only for HS256');
  return {
    algorithms,
    ...(body.public_key_file === undefined ? {} : { publicKeyFile: str(`${key}.public_key_file`, body.public_key_file, source) }),
    ...(body.jwks_file === undefined ? {} : { jwksFile: str(`${key}.jwks_file`, body.jwks_file, source) }),
    ...(body.secret_file === undefined ? {} : { secretFile: str(`${key}.secret_file`, body.secret_file, source) }),
    issuer: str(`${key}.issuer`, body.issuer, source),
    audience: str(`${key}.audience`, body.audience, source),
    tenantClaim: body.tenant_claim === undefined ? 'tenant' : str(`${key}.tenant_claim`, body.tenant_claim, source),
    roleClaim: body.role_claim === undefined ? 'role' : str(`${key}.role_claim`, body.role_claim, source),
    clockToleranceSeconds: body.clock_tolerance_seconds === undefined ? 30 : int(`${key}.clock_tolerance_seconds`, body.clock_tolerance_seconds, 0, 600, source),
  };
}

function parseLimits(raw: unknown, base: ConnectionLimits, source: string): ConnectionLimits {
  const key = 'security.limits';
  const body = object(key, raw, source);
  onlyKeys(key, body, ['max_connections', 'max_connections_per_address', 'header_timeout_ms', 'body_timeout_ms', 'auth_failures_per_minute'], source);
  const out = { ...base };
  if (body.max_connections !== undefined) out.maxConnections = int(`${key}.max_connections`, body.max_connections, 1, 1_000_000, source);
  if (body.max_connections_per_address !== undefined) out.maxConnectionsPerAddress = int(`${key}.max_connections_per_address`, body.max_connections_per_address, 1, 1_000_000, source);
  if (body.header_timeout_ms !== undefined) out.headerTimeoutMs = int(`${key}.header_timeout_ms`, body.header_timeout_ms, 100, 600_000, source);
  if (body.body_timeout_ms !== undefined) out.bodyTimeoutMs = int(`${key}.body_timeout_ms`, body.body_timeout_ms, 100, 3_600_000, source);
  if (body.auth_failures_per_minute !== undefined) out.authFailuresPerMinute = int(`${key}.auth_failures_per_minute`, body.auth_failures_per_minute, 1, 1_000_000, source);
  return out;
}

/** Parses a quota object (main.json defaults, or an operator's per-tenant override). */
export function parseQuotas(key: string, raw: unknown, base: Readonly<TenantQuotas>, source: string): TenantQuotas {
  const body = object(key, raw, source);
  const names = QUOTA_NAMES.map((q) => QUOTA_CONFIG_KEYS[q]);
  onlyKeys(key, body, names, source);
  const out = { ...base };
  for (const q of QUOTA_NAMES) {
    const name = QUOTA_CONFIG_KEYS[q];
    if (body[name] !== undefined) out[q] = int(`${key}.${name}`, body[name], 0, 1_000_000_000, source);
  }
  return out;
}

/** The section as main.json spells it (for `emms serve --print-config`); names files, never reads them. */
export function renderSecuritySection(s: SecurityConfig): Record<string, unknown> {
  const limits: Record<string, number> = {
    max_connections: s.limits.maxConnections,
    max_connections_per_address: s.limits.maxConnectionsPerAddress,
    header_timeout_ms: s.limits.headerTimeoutMs,
    body_timeout_ms: s.limits.bodyTimeoutMs,
    auth_failures_per_minute: s.limits.authFailuresPerMinute,
  };
  const quotas: Record<string, number> = {};
  for (const q of QUOTA_NAMES) quotas[QUOTA_CONFIG_KEYS[q]] = s.quotas[q];
  return {
    auth: s.auth,
    metrics_access: s.metricsAccess,
    ...(s.tls === undefined ? {} : {
      tls: { cert_file: s.tls.certFile, key_file: s.tls.keyFile, ...(s.tls.passphraseFile === undefined ? {} : { passphrase_file: s.tls.passphraseFile }), min_version: s.tls.minVersion },
    }),
    ...(s.allowedNetworks === undefined ? {} : { allowed_networks: [...s.allowedNetworks.entries] }),
    admin_networks: [...s.adminNetworks.entries],
    trusted_proxies: [...s.trustedProxies.entries],
    allowed_origins: s.allowedOrigins,
    allowed_hosts: s.allowedHosts,
    egress_allow: [...s.egress.allowNetworks.entries, ...s.egress.allowHosts],
    ...(s.jwt === undefined ? {} : {
      jwt: {
        algorithms: s.jwt.algorithms,
        ...(s.jwt.publicKeyFile === undefined ? {} : { public_key_file: s.jwt.publicKeyFile }),
        ...(s.jwt.jwksFile === undefined ? {} : { jwks_file: s.jwt.jwksFile }),
        ...(s.jwt.secretFile === undefined ? {} : { secret_file: s.jwt.secretFile }),
        issuer: s.jwt.issuer, audience: s.jwt.audience, tenant_claim: s.jwt.tenantClaim, role_claim: s.jwt.roleClaim,
        clock_tolerance_seconds: s.jwt.clockToleranceSeconds,
      },
    }),
    limits,
    quotas,
    ...(s.auditKeyFile === undefined ? {} : { audit: { key_file: s.auditKeyFile } }),
    encryption: { ...(s.encryption.keyFile === undefined ? {} : { key_file: s.encryption.keyFile }), data_key_max_age_days: s.encryption.dataKeyMaxAgeDays },
    ...(Object.keys(s.anonymize.rules).length === 0 && Object.keys(s.anonymize.tenants).length === 0 ? {} : { anonymize: renderAnonymizeSettings(s.anonymize) }),
    ...(s.anonymizeKeyFile === undefined ? {} : { anonymize_key_file: s.anonymizeKeyFile }),
  };
}
