/**
 * Wires authentication for one server process from `config.security` and the data directory:
 * opens `auth.db`, builds the key store, tenant registry, JWT verifier (when configured),
 * ticket issuer and authenticator, and the auth routes. The app keeps the returned object for
 * its lifetime and calls `close()` on shutdown (writes pending last-use times, closes the file).
 *
 *   const auth = openAuth({ dataDir, security: config.security, onFailure: (ip, reason) => … });
 *   const boot = auth.bootstrap();   // { tokenPath } on a fresh data directory: log the path only
 *   server: authenticator = auth.authenticator, routes += auth.routes, quotas = auth.quotaLookup
 */
import type { SecurityConfig } from '../config/security_config.js';
import type { RouteDefinition } from '../http/route.js';
import type { QuotaLookup } from '../tenancy/quota.js';
import { AuthDatabase } from './auth_database.js';
import { authRoutes } from './auth_routes.js';
import { ApiKeyStore } from './api_key_store.js';
import { bootstrapOperatorKey, type BootstrapResult } from './bootstrap.js';
import { JwtVerifier } from './jwt_verifier.js';
import { TenantRegistry } from './tenant_registry.js';
import { TokenAuthenticator, type AuthFailureReason } from './token_authenticator.js';
import { WsTicketIssuer } from './ws_tickets.js';

export interface AuthModuleOptions {
  dataDir: string;
  security: SecurityConfig;
  /** Each refused authentication (write `security.auth.failures{source_ip}`); must not throw. */
  onFailure?: (sourceIp: string, reason: AuthFailureReason) => void;
  /** A failed write of last-use times (logged; retried at the next flush). */
  onFlushError?: (err: unknown) => void;
  now?: () => number;
}

export interface AuthModule {
  readonly authenticator: TokenAuthenticator;
  readonly apiKeys: ApiKeyStore;
  readonly tenants: TenantRegistry;
  readonly tickets: WsTicketIssuer;
  /** Per-tenant quotas (config defaults + operator overrides), O(1). */
  readonly quotaLookup: QuotaLookup;
  readonly routes: RouteDefinition[];
  /** Creates the operator key and `admin.token` on a data directory without keys. */
  bootstrap(): BootstrapResult | undefined;
  close(): void;
}

/** Throws JwtKeyError (naming the setting and file) when the configured JWT key is unusable. */
export function openAuth(options: AuthModuleOptions): AuthModule {
  const { dataDir, security } = options;
  const now = options.now ?? Date.now;
  const db = AuthDatabase.open(dataDir, { now });
  try {
    const jwt = security.jwt === undefined ? undefined : new JwtVerifier(security.jwt, { now });
    const apiKeys = new ApiKeyStore(db, { now, onFlushError: options.onFlushError });
    const tenants = new TenantRegistry(db, security.quotas, { now });
    const tickets = new WsTicketIssuer({ now });
    const authenticator = new TokenAuthenticator({
      required: security.auth === 'on',
      apiKeys,
      jwt,
      tickets,
      failuresPerMinute: security.limits.authFailuresPerMinute,
      onFailure: options.onFailure,
      now,
    });
    return {
      authenticator,
      apiKeys,
      tenants,
      tickets,
      quotaLookup: tenants.quotaLookup,
      routes: authRoutes({ apiKeys, tenants, tickets, now }),
      bootstrap: () => bootstrapOperatorKey(apiKeys, dataDir),
      close: () => {
        apiKeys.close();
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
