/** Shared set-up of the auth tests: a temp data directory, a settable clock, real components. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthDatabase } from '../../src/auth/auth_database.js';
import { ApiKeyStore } from '../../src/auth/api_key_store.js';
import { TenantRegistry } from '../../src/auth/tenant_registry.js';
import { TokenAuthenticator, type AuthFailureReason } from '../../src/auth/token_authenticator.js';
import { WsTicketIssuer } from '../../src/auth/ws_tickets.js';
import type { AuthResult, Credentials } from '../../src/auth/authenticator.js';
import type { Principal } from '../../src/http/route.js';
import { DEFAULT_QUOTAS } from '../../src/tenancy/quota.js';
import type { JwtVerifier } from '../../src/auth/jwt_verifier.js';

export const T0 = Date.UTC(2030, 0, 1);

export interface AuthKit {
  dir: string;
  clock: { now: number };
  now: () => number;
  db: AuthDatabase;
  apiKeys: ApiKeyStore;
  tenants: TenantRegistry;
  tickets: WsTicketIssuer;
  authenticator: TokenAuthenticator;
  failures: Array<{ ip: string; reason: AuthFailureReason }>;
  /** Authenticates like the server does (await covers the JWT path). */
  auth(c: Partial<Credentials>): Promise<AuthResult>;
  /** The principal of a token, failing the test when it is refused. */
  principal(token: string, tenantHeader?: string): Promise<Principal>;
  cleanup(): void;
}

export function authKit(options: { required?: boolean; failuresPerMinute?: number; jwt?: JwtVerifier; dir?: string } = {}): AuthKit {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'emms-auth-'));
  const clock = { now: T0 };
  const now = () => clock.now;
  const db = AuthDatabase.open(dir, { now });
  const apiKeys = new ApiKeyStore(db, { now, lastUsedFlushMs: 0 });
  const tenants = new TenantRegistry(db, DEFAULT_QUOTAS, { now });
  const tickets = new WsTicketIssuer({ now });
  const failures: AuthKit['failures'] = [];
  const authenticator = new TokenAuthenticator({
    required: options.required ?? true,
    apiKeys,
    tickets,
    jwt: options.jwt,
    failuresPerMinute: options.failuresPerMinute ?? 30,
    onFailure: (ip, reason) => failures.push({ ip, reason }),
    now,
  });
  const auth = async (c: Partial<Credentials>) => authenticator.authenticate({ authorization: undefined, tenantHeader: undefined, remoteAddress: '10.0.0.1', ...c });
  return {
    dir, clock, now, db, apiKeys, tenants, tickets, authenticator, failures, auth,
    async principal(token, tenantHeader) {
      const r = await auth({ authorization: `Bearer ${token}`, tenantHeader });
      if (!r.ok) throw new Error(`expected the token to authenticate; got ${r.status} ${r.error}`);
      return r.principal;
    },
    cleanup() {
      apiKeys.close();
      db.close();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
