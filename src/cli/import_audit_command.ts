/**
 * `emms import-audit --format vault|cloudtrail FILE [--data DIR] [--tenant T]`: reads a
 * key-management audit trail into key events of tenant T (default `default`) of the embedded
 * engine at DIR/metrics.db (keys in DIR/keys.db), so derived series, state and policy
 * violations are the same as if the events had been sent live by a writer of that tenant.
 * Keys the trail reveals that are not yet registered are registered first; records the tenant
 * imported before (same Vault request id or CloudTrail eventID) are not counted again.
 * With --config, the file's `security.anonymize` rules (and key file) apply exactly as in the
 * server, so actors and source addresses of the trail are anonymized before anything is written.
 */
import { openCommandEncryption } from '../crypto/command_encryption.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAnonymizeSettings, NO_ANONYMIZATION, type AnonymizeSettings } from '../anonymize/anonymize_rules.js';
import { TenantAnonymizers } from '../anonymize/tenant_anonymizers.js';
import { createMetricsSystem } from '../index.js';
import { importAudit, type AuditImport } from '../keys/audit/audit_import.js';
import { parseCloudTrail } from '../keys/audit/cloudtrail_audit.js';
import { parseVaultAudit } from '../keys/audit/vault_audit.js';
import { parseKeyPolicy } from '../keys/key_policy.js';
import { KeyService } from '../keys/key_service.js';
import { DEFAULT_TENANT, TENANT_NAME_PATTERN } from '../model/tenant.js';

function usage(): string {
  return `Usage: emms import-audit --format vault|cloudtrail FILE [--data DIR] [options]

Reads a key-management audit trail into EMMS key events:
  vault        HashiCorp Vault audit-device log (JSON lines), transit engine calls
  cloudtrail   AWS CloudTrail log ({"Records": [...]}, a JSON array or JSON lines), KMS calls

Options:
  --format F          vault or cloudtrail (required)
  --data DIR          data directory; the database is DIR/metrics.db (default ./data)
  --tenant T          tenant whose keys and series receive the trail (default ${DEFAULT_TENANT})
  --config FILE       main.json whose "key_policies" section sets the policies checked and
                      whose "security.anonymize" rules apply (as in the server)
  --no-register       refuse events of keys not yet registered instead of registering them
  --key-id-prefix P   (vault) prefix for key ids, e.g. "vault:transit/"
  --owner NAME        owner recorded for newly registered keys
  --dry-run           parse and print the summary without writing anything
  -h, --help          this text`;
}

interface Args {
  format: 'vault' | 'cloudtrail';
  file: string;
  data: string;
  tenant: string;
  config: string | null;
  register: boolean;
  keyIdPrefix: string;
  owner: string | null;
  dryRun: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  let format: string | null = null;
  let file: string | null = null;
  const args: Omit<Args, 'format' | 'file'> = { data: './data', tenant: DEFAULT_TENANT, config: null, register: true, keyIdPrefix: '', owner: null, dryRun: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--format') format = value();
    else if (a === '--data') args.data = value();
    else if (a === '--tenant') args.tenant = value();
    else if (a === '--config') args.config = value();
    else if (a === '--key-id-prefix') args.keyIdPrefix = value();
    else if (a === '--owner') args.owner = value();
    else if (a === '--no-register') args.register = false;
    else if (a === '--dry-run') args.dryRun = true;
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (file === null) file = a;
    else throw new UsageError(`unexpected argument ${JSON.stringify(a)} (only one FILE)`);
  }
  if (format !== 'vault' && format !== 'cloudtrail') throw new UsageError(`--format=${JSON.stringify(format)} must be vault or cloudtrail`);
  if (file === null) throw new UsageError('FILE is required');
  if (!TENANT_NAME_PATTERN.test(args.tenant)) throw new UsageError(`--tenant=${JSON.stringify(args.tenant.slice(0, 200))} must match ${TENANT_NAME_PATTERN.source}`);
  return { ...args, format, file };
}

interface ImportConfig {
  keyPolicies: unknown;
  anonymize: AnonymizeSettings;
  anonymizeKeyFile: string | undefined;
}

async function importConfig(configPath: string | null): Promise<ImportConfig> {
  if (configPath === null) return { keyPolicies: undefined, anonymize: NO_ANONYMIZATION, anonymizeKeyFile: undefined };
  const doc = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  const security = (typeof doc.security === 'object' && doc.security !== null ? doc.security : {}) as Record<string, unknown>;
  const keyFile = security.anonymize_key_file;
  if (keyFile !== undefined && typeof keyFile !== 'string') throw new UsageError(`${configPath}: security.anonymize_key_file must be a file name`);
  return { keyPolicies: doc.key_policies, anonymize: parseAnonymizeSettings(security.anonymize), anonymizeKeyFile: keyFile };
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`emms import-audit: ${err.message}\n\n${usage()}\n`);
    return 2;
  }
  const text = await readFile(args.file, 'utf8');
  const owner = args.owner ?? undefined;
  const data: AuditImport = args.format === 'vault'
    ? parseVaultAudit(text, { keyIdPrefix: args.keyIdPrefix, ...(owner !== undefined ? { owner } : {}) })
    : parseCloudTrail(text, owner !== undefined ? { owner } : {});
  for (const s of data.skipped.slice(0, 20)) process.stderr.write(`${args.file}: record ${s.record} skipped: ${s.reason}\n`);
  if (args.dryRun) {
    process.stdout.write(`${args.file}: ${data.events.length} key events for ${data.keys.size} keys, ${data.skipped.length} records skipped, ${data.ignored} not about keys (dry run, nothing written)\n`);
    return 0;
  }
  const config = await importConfig(args.config);
  const policy = parseKeyPolicy(config.keyPolicies);
  const anonymizers = TenantAnonymizers.open(config.anonymize, { dataDir: args.data, keyFile: config.anonymizeKeyFile });
  // An encrypted data directory opens with the master key of EMMS_ENCRYPTION_KEY_FILE.
  await openCommandEncryption(args.data);
  const system = createMetricsSystem({ path: join(args.data, 'metrics.db'), ...(anonymizers.configured ? { anonymizeTags: anonymizers.tagRewriter } : {}) });
  await system.start();
  try {
    const keys = await KeyService.open(system, { policy, ...(anonymizers.configured ? { anonymizeField: anonymizers.fieldRewriter } : {}) });
    try {
      const summary = await importAudit(keys.forTenant(args.tenant), data, args.register, args.format);
      process.stdout.write(
        `${args.file}: imported ${summary.events} key events (${summary.registered} keys registered, ` +
        `${summary.duplicates} already imported, ${summary.violations} policy violations, ` +
        `${summary.skipped} records skipped, ${summary.ignored} not about keys) into ${args.data} for tenant ${args.tenant}\n`,
      );
    } finally {
      await keys.close();
    }
  } finally {
    await system.stop();
  }
  // Skipped records are reported above; the rest of the trail is imported, so this is success.
  return 0;
}
