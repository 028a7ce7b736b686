/**
 * The `hmac` rule: a value becomes `h:` + the first 80 bits (20 hex digits) of
 * HMAC-SHA256(tenant key, value). The same value always gives the same pseudonym (group-by,
 * joins and alerting keep working, and a restart changes nothing because the key comes from a
 * file), while the value cannot be recovered without the key, and guessing it means one HMAC
 * per guess against a 256-bit key.
 *
 * Why 80 bits: two distinct values that collide would merge into one series. For N distinct
 * values of one tenant the odds of any collision are about N² / 2^81: 4·10^-13 for a million
 * values, 4·10^-7 for a billion. 64 bits would give 3% at a billion; the full 256 bits would
 * add 44 characters to every series key for no practical gain.
 *
 * Each tenant hashes under its own key, derived from the master key file
 * (HMAC-SHA256(master, "emms-anonymize-v1\0" + tenant)), so one tenant's pseudonyms say
 * nothing about another's: the same address seen by two tenants does not link them. Within a
 * tenant the pseudonym does not depend on the tag key, so `src_ip` and `dst_ip`, or a key
 * event's `actor` and a series' `actor` tag, still join on the same person.
 */
import { createHmac } from 'node:crypto';

export const PSEUDONYM_PREFIX = 'h:';
/** Hex digits kept of the HMAC: 80 bits (see the module comment for the collision odds). */
export const PSEUDONYM_HEX_CHARS = 20;
const PSEUDONYM_PATTERN = /^h:[0-9a-f]{20}$/;
const TENANT_KEY_LABEL = 'emms-anonymize-v1\u0000';

/** The key one tenant's pseudonyms are computed under. */
export function tenantPseudonymKey(master: Buffer, tenant: string): Buffer {
  return createHmac('sha256', master).update(TENANT_KEY_LABEL).update(tenant, 'utf8').digest();
}

export function pseudonym(key: Buffer, value: string): string {
  return PSEUDONYM_PREFIX + createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, PSEUDONYM_HEX_CHARS);
}

/**
 * Whether `value` already has a pseudonym's exact shape. Such a value is left as it is, so
 * applying the rules twice is the same as once (a key event's source_ip is pseudonymized, then
 * the auth-failure series derived from it passes the same rules as a tag). A client can send a
 * pseudonym-shaped value of its own choosing; it is stored as sent, which reveals nothing the
 * client did not choose to send.
 */
export function isPseudonym(value: string): boolean {
  return value.length === PSEUDONYM_PREFIX.length + PSEUDONYM_HEX_CHARS && PSEUDONYM_PATTERN.test(value);
}
