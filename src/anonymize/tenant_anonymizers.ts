/**
 * The running server's anonymization: one Anonymizer per tenant, built on first use from
 * `security.anonymize` and the master key, and the functions the engine, the key service and
 * the remote-write forwarder take (they know nothing of rules).
 *
 * The master key is `security.anonymize_key_file`, default `<data>/anonymize.key`: 32 random
 * bytes created with mode 0600 the first time a rule needs it (src/crypto/key_file.ts). It is
 * what makes pseudonyms stable across restarts; losing it means new pseudonyms (new series)
 * for the same values, and anyone holding it can test guesses against stored pseudonyms, so
 * keep it outside the data directory when copies of that directory leave the host.
 *
 * Rules are read at start-up only: a rule change changes series identity (see docs/security.md),
 * which a restart makes explicit.
 */
import { join } from 'node:path';
import { openKeyFile } from '../crypto/key_file.js';
import type { Tags } from '../model/metric.js';
import { Anonymizer, needsKey, rulesOf, type AnonymizeSettings } from './anonymize_rules.js';
import { tenantPseudonymKey } from './pseudonym.js';

export const ANONYMIZE_KEY_FILE = 'anonymize.key';

export class TenantAnonymizers {
  readonly #settings: AnonymizeSettings;
  readonly #master: Buffer | undefined;
  /** undefined: the tenant has no rule that changes anything. */
  readonly #byTenant = new Map<string, Anonymizer | undefined>();

  constructor(settings: AnonymizeSettings, master: Buffer | undefined) {
    if (needsKey(settings) && master === undefined) throw new Error('BUG: security.anonymize has hmac or truncate_ip rules but no key was given');
    this.#settings = settings;
    this.#master = master;
  }

  /**
   * Opens (creating if need be) the key file only when a rule needs it, so a server without
   * hmac or truncate_ip rules writes no key. Throws KeyFileError naming the file.
   */
  static open(settings: AnonymizeSettings, options: { dataDir: string; keyFile: string | undefined; create?: boolean }): TenantAnonymizers {
    const path = options.keyFile ?? join(options.dataDir, ANONYMIZE_KEY_FILE);
    const master = needsKey(settings) ? openKeyFile(path, { purpose: 'anonymization', create: options.create !== false }) : undefined;
    return new TenantAnonymizers(settings, master);
  }

  /** Whether any tenant has a rule (when false, nothing needs wiring). */
  get configured(): boolean {
    return Object.keys(this.#settings.rules).length > 0 || Object.keys(this.#settings.tenants).length > 0;
  }

  /** `tenant`'s anonymizer, or undefined when its rules change nothing. */
  forTenant(tenant: string): Anonymizer | undefined {
    if (this.#byTenant.has(tenant)) return this.#byTenant.get(tenant);
    const rules = rulesOf(this.#settings, tenant);
    const a = rules.size === 0 ? undefined : new Anonymizer(rules, this.#master === undefined ? undefined : tenantPseudonymKey(this.#master, tenant));
    this.#byTenant.set(tenant, a);
    return a;
  }

  /** For MetricsSystemOptions.anonymizeTags: the tag rewrite of `tenant`, if it has rules. */
  readonly tagRewriter = (tenant: string): ((tags: Tags) => Tags) | undefined => {
    const a = this.forTenant(tenant);
    return a === undefined ? undefined : (tags) => a.tags(tags);
  };

  /** For KeyServiceOptions.anonymizeField: the field rewrite of `tenant`, if it has rules. */
  readonly fieldRewriter = (tenant: string): ((name: string, value: string) => string | undefined) | undefined => {
    const a = this.forTenant(tenant);
    return a === undefined ? undefined : (name, value) => a.field(name, value);
  };
}
