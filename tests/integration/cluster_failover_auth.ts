/**
 * One credential for the whole cluster, as clients behind a load balancer need: every node's
 * main.json trusts the same identity provider key (security.jwt, ES256), so a token works on
 * whichever node writes. (API keys would do too since they are shared through the database,
 * src/storage/state_replication/; a JWT keeps this test independent of that.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';

export interface ClusterCredentials {
  /** main.json for every node (`--config`). */
  configPath: string;
  /** `Authorization` of a writer of `tenant`, valid for the whole test. */
  auth: Record<string, string>;
}

const ISSUER = 'https://idp.failover.test';
const AUDIENCE = 'emms';

/** Writes the provider's public key and main.json into `dir`; signs one writer token for `tenant`. */
export async function clusterCredentials(dir: string, tenant: string): Promise<ClusterCredentials> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const pemFile = join(dir, 'idp.pem');
  writeFileSync(pemFile, await exportSPKI(publicKey));
  const configPath = join(dir, 'main.json');
  writeFileSync(configPath, JSON.stringify({
    security: { jwt: { algorithms: ['ES256'], public_key_file: pemFile, issuer: ISSUER, audience: AUDIENCE, tenant_claim: 'org', role_claim: 'emms_role' } },
  }));
  const token = await new SignJWT({ org: tenant, emms_role: 'writer' }).setProtectedHeader({ alg: 'ES256' })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('failover-client').setIssuedAt().setExpirationTime('30m').sign(privateKey);
  return { configPath, auth: { authorization: `Bearer ${token}` } };
}
