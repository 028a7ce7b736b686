/**
 * `emms anonymize --config main.json [--data DIR] [--tenant T] FIELD VALUE…`: prints the form in
 * which the server stores VALUE of tag key (or key-event field) FIELD for tenant T, under the
 * `security.anonymize` rules and key of that configuration. This is how an operator finds a
 * data subject's series when a field is pseudonymized: query, or erase, the printed value
 * (`user="h:…"`, `client_ip="198.51.100.0"`).
 *
 * Reads the key file and never creates one: a new key would print pseudonyms that match
 * nothing stored. Needs read access to the key, which is the point: without the key, a
 * pseudonym cannot be computed from a guess.
 */
import { dirname } from 'node:path';
import { TenantAnonymizers } from '../anonymize/tenant_anonymizers.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { KeyFileError } from '../crypto/key_file.js';
import { DEFAULT_TENANT, TENANT_NAME_PATTERN } from '../model/tenant.js';

function usage(): string {
  return `Usage: emms anonymize --config FILE [--data DIR] [--tenant T] FIELD VALUE...

Prints the stored form of each VALUE of tag key or key-event field FIELD under the
security.anonymize rules of FILE (one line per value: the value as stored, or "(dropped)").
Query or erase by that form to find a data subject's series.

Options:
  --config FILE   main.json with the security.anonymize rules (required)
  --data DIR      data directory, for the default key file DIR/anonymize.key
  --tenant T      tenant whose rules and key apply (default ${DEFAULT_TENANT})
  -h, --help      this text`;
}

interface Args {
  config: string;
  data: string | undefined;
  tenant: string;
  field: string;
  values: string[];
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  let config: string | undefined;
  let data: string | undefined;
  let tenant = DEFAULT_TENANT;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--config') config = value();
    else if (a === '--data') data = value();
    else if (a === '--tenant') tenant = value();
    else if (a === '--') {
      // Values that start with `--` follow a bare `--`.
      rest.push(...argv.slice(i + 1));
      break;
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else rest.push(a);
  }
  if (config === undefined) throw new UsageError('--config is required (the rules and key are in it)');
  if (!TENANT_NAME_PATTERN.test(tenant)) throw new UsageError(`--tenant=${JSON.stringify(tenant.slice(0, 200))} must match ${TENANT_NAME_PATTERN.source}`);
  const [field, ...values] = rest;
  if (field === undefined || values.length === 0) throw new UsageError('FIELD and at least one VALUE are required');
  return { config, data, tenant, field, values };
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
    process.stderr.write(`emms anonymize: ${err.message}\n\n${usage()}\n`);
    return 2;
  }
  try {
    const config = loadConfig({ configPath: args.config, env: {}, flags: args.data === undefined ? {} : { data: args.data } });
    const anonymizers = TenantAnonymizers.open(config.security.anonymize, { dataDir: dirname(config.storage.path), keyFile: config.security.anonymizeKeyFile, create: false });
    const anonymizer = anonymizers.forTenant(args.tenant);
    for (const v of args.values) {
      const stored = anonymizer === undefined ? v : anonymizer.field(args.field, v);
      process.stdout.write(`${stored ?? '(dropped)'}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof KeyFileError) {
      process.stderr.write(`emms anonymize: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
