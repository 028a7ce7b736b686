/**
 * The names and DDL of `auth.db` (API keys and the tenant registry), in one place (STYLE habit
 * 20): no other file spells a table or column name of this database.
 *
 * `auth.db` is its own SQLite file, apart from the metrics database, because two processes
 * share it: a running server reads it, and `emms apikey create|revoke` writes it beside the
 * server (WAL mode lets the server keep reading while the CLI commits).
 */

export const AUTH_DB_FILE = 'auth.db';
/** `PRAGMA user_version` of the layout below; a file written by a newer build is refused. */
export const AUTH_SCHEMA_VERSION = 1;

const T_KEYS = 'api_keys';
const T_TENANTS = 'tenants';

export const AUTH_DDL = `
CREATE TABLE IF NOT EXISTS ${T_KEYS} (
  key_id TEXT PRIMARY KEY,
  -- hex SHA-256 of the whole token; the token itself is never stored (api_key_token.ts)
  token_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  -- a tenant name, or '*' for the global operator keys (api_key_store.ts GLOBAL_TENANT)
  tenant TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  -- JSON array of CIDRs, NULL = any address the server accepts
  allowed_networks TEXT,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON ${T_KEYS} (tenant, created_at);
CREATE TABLE IF NOT EXISTS ${T_TENANTS} (
  tenant TEXT PRIMARY KEY,
  -- JSON object of per-tenant quota overrides in main.json spelling ({"api_keys": 5}); '{}' = defaults
  quotas TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

/** Every statement of the auth stores. */
export const AUTH_SQL = {
  insertKey: `INSERT INTO ${T_KEYS} (key_id, token_hash, name, tenant, role, created_at, expires_at, allowed_networks, revoked_at, last_used_at)
              VALUES (@key_id, @token_hash, @name, @tenant, @role, @created_at, @expires_at, @allowed_networks, NULL, NULL)`,
  keyByHash: `SELECT * FROM ${T_KEYS} WHERE token_hash = ?`,
  keyById: `SELECT * FROM ${T_KEYS} WHERE key_id = ?`,
  listKeys: `SELECT * FROM ${T_KEYS} ORDER BY created_at, rowid`,
  listKeysOfTenant: `SELECT * FROM ${T_KEYS} WHERE tenant = ? ORDER BY created_at, rowid`,
  countKeys: `SELECT COUNT(*) FROM ${T_KEYS}`,
  countActiveKeysOfTenant: `SELECT COUNT(*) FROM ${T_KEYS} WHERE tenant = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
  revokeKey: `UPDATE ${T_KEYS} SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL`,
  // MAX: a late flush never moves last use backwards (two servers, or a CLI, on one file).
  touchKey: `UPDATE ${T_KEYS} SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE key_id = ?`,
  ensureTenant: `INSERT OR IGNORE INTO ${T_TENANTS} (tenant, quotas, created_at, updated_at) VALUES (?, '{}', ?, ?)`,
  upsertTenantQuotas: `INSERT INTO ${T_TENANTS} (tenant, quotas, created_at, updated_at) VALUES (@tenant, @quotas, @now, @now)
                       ON CONFLICT (tenant) DO UPDATE SET quotas = excluded.quotas, updated_at = excluded.updated_at`,
  tenantByName: `SELECT * FROM ${T_TENANTS} WHERE tenant = ?`,
  /** Tenant deletion: the registry row and the tenant's API keys (revoked first, so open streams close). */
  deleteTenant: `DELETE FROM ${T_TENANTS} WHERE tenant = ?`,
  deleteKeysOfTenant: `DELETE FROM ${T_KEYS} WHERE tenant = ? AND revoked_at IS NOT NULL`,
  listTenants: `SELECT * FROM ${T_TENANTS} ORDER BY tenant`,
  tenantsWithOverrides: `SELECT tenant, quotas FROM ${T_TENANTS} WHERE quotas <> '{}'`,
  dataVersion: 'PRAGMA data_version',
} as const;

/** A row of the API key table as SQLite returns it. */
export interface ApiKeyRow {
  key_id: string;
  token_hash: string;
  name: string;
  tenant: string;
  role: string;
  created_at: number;
  expires_at: number | null;
  allowed_networks: string | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

/** A row of the tenant table as SQLite returns it. */
export interface TenantRow {
  tenant: string;
  quotas: string;
  created_at: number;
  updated_at: number;
}
