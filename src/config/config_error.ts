import { withPasswordRedacted } from '../text/url_password.js';

/** An invalid setting: names the key, the value and where it came from (file, environment, flag). */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly value: unknown,
    readonly source: string,
    rule: string,
  ) {
    super(`invalid setting ${key}=${describeSettingValue(value)} (from ${source}): ${rule}`);
    this.name = 'ConfigError';
  }
}

/**
 * The value as shown in an error. Objects and arrays are shown by shape only: a section such as
 * `alerting` holds SMTP passwords and webhook tokens, and the whole section must never reach a
 * log because one key in it is wrong. A string that is a URL with a password (a database URL
 * under the wrong key) shows the password as `***`.
 */
function describeSettingValue(value: unknown): string {
  if (Array.isArray(value)) return `(an array of ${value.length})`;
  if (typeof value === 'object' && value !== null) return `(an object with keys ${Object.keys(value).slice(0, 20).join(', ')})`;
  if (typeof value === 'string') {
    // Redacted before it is cut: a cut inside a long password would hide the `@` that ends it.
    const shown = withPasswordRedacted(value);
    return shown.length > 200 ? `${JSON.stringify(shown.slice(0, 200))}… (${value.length} characters)` : JSON.stringify(shown);
  }
  return JSON.stringify(value) ?? String(value);
}
