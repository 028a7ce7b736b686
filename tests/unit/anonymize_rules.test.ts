/**
 * The anonymization rule engine (src/anonymize/): IP truncation edge cases, HMAC pseudonyms
 * against independently computed vectors (RFC 4231 and Python's hmac module), config parsing
 * with errors naming the field and value, per-tenant overrides, idempotence, and the key file.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AnonymizeConfigError, Anonymizer, NO_ANONYMIZATION, needsKey, parseAnonymizeSettings, renderAnonymizeSettings, rulesOf,
} from '../../src/anonymize/anonymize_rules.js';
import { formatIpv6, ipv6Groups, truncateIp } from '../../src/anonymize/ip_truncation.js';
import { isPseudonym, pseudonym, tenantPseudonymKey } from '../../src/anonymize/pseudonym.js';
import { ANONYMIZE_KEY_FILE, TenantAnonymizers } from '../../src/anonymize/tenant_anonymizers.js';
import { KeyFileError } from '../../src/crypto/key_file.js';
import { applySecuritySection, defaultSecurityConfig, renderSecuritySection } from '../../src/config/security_config.js';
import { ConfigError } from '../../src/config/config_error.js';
import { defaultConfig } from '../../src/config/config.js';
import { planReload } from '../../src/app/config_reload.js';

const MASTER = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

describe('truncateIp', () => {
  it.each([
    ['10.1.2.3', '10.1.2.0'],
    ['10.1.2.0', '10.1.2.0'],
    ['255.255.255.255', '255.255.255.0'],
    ['0.0.0.0', '0.0.0.0'],
    ['2001:db8:1234:5678::1', '2001:db8:1234::'],
    ['2001:DB8:abcd:0012:0000:0000:0000:0001', '2001:db8:abcd::'],
    ['2001:0:0:1::1', '2001::'],
    ['::1', '::'],
    ['::', '::'],
    ['fe80::1%eth0', 'fe80::'],
    ['fe80::abcd:1%25', 'fe80::'],
    ['1:2:3:4:5:6:7:8', '1:2:3::'],
    ['::ffff:192.0.2.77', '::ffff:192.0.2.0'],
    ['::FFFF:c000:024d', '::ffff:192.0.2.0'],
    ['64:ff9b::192.0.2.77', '64:ff9b::'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3::'],
  ])('%s → %s', (input, expected) => {
    expect(truncateIp(input)).toBe(expected);
  });

  it.each(['host-a', '', '10.1.2', '10.1.2.3.4', '010.1.2.3', '256.1.1.1', ' 10.1.2.3', '10.1.2.3:8080', '[::1]', 'fe80::1%', 'gggg::1', 'x'.repeat(200)])('%j is not an address', (input) => {
    expect(truncateIp(input)).toBeUndefined();
  });

  it('parses and formats IPv6 groups the RFC 5952 way', () => {
    expect(ipv6Groups('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    expect(ipv6Groups('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(formatIpv6([1, 0, 0, 2, 0, 0, 0, 3])).toBe('1:0:0:2::3');
    expect(formatIpv6([1, 0, 2, 3, 4, 5, 6, 7])).toBe('1:0:2:3:4:5:6:7');
    expect(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
  });
});

describe('pseudonym', () => {
  it('is the first 80 bits of HMAC-SHA256 (RFC 4231 test case 2)', () => {
    expect(pseudonym(Buffer.from('Jefe'), 'what do ya want for nothing?')).toBe('h:5bdcc146bf60754e6a04');
  });

  it('derives a key per tenant (vectors computed with Python hmac)', () => {
    expect(tenantPseudonymKey(MASTER, 'default').toString('hex')).toBe('29ba2c562e8b72bb17de12a9706fb633cd9560d79dff0595a8ea120f9c6f9b81');
    expect(pseudonym(tenantPseudonymKey(MASTER, 'default'), 'alice@example.com')).toBe('h:a8cbd8b0b80c98a779f5');
    expect(pseudonym(tenantPseudonymKey(MASTER, 'acme'), 'alice@example.com')).toBe('h:31d6c8b2e053bf1815a1');
  });

  it('recognizes its own shape only', () => {
    expect(isPseudonym('h:a8cbd8b0b80c98a779f5')).toBe(true);
    expect(isPseudonym('h:A8CBD8B0B80C98A779F5')).toBe(false);
    expect(isPseudonym('h:a8cbd8b0b80c98a779f')).toBe(false);
    expect(isPseudonym('x:a8cbd8b0b80c98a779f5')).toBe(false);
  });
});

describe('parseAnonymizeSettings', () => {
  it('reads the flat form and the form with overrides', () => {
    expect(parseAnonymizeSettings({ source_ip: 'truncate_ip', actor: 'hmac', email: 'drop' })).toEqual({ rules: { source_ip: 'truncate_ip', actor: 'hmac', email: 'drop' }, tenants: {} });
    const s = parseAnonymizeSettings({ rules: { source_ip: 'truncate_ip' }, tenants: { acme: { source_ip: 'keep', user: 'hmac' } } });
    expect({ ...s.rules }).toEqual({ source_ip: 'truncate_ip' });
    expect({ ...s.tenants.acme }).toEqual({ source_ip: 'keep', user: 'hmac' });
    expect(parseAnonymizeSettings(undefined)).toBe(NO_ANONYMIZATION);
    expect(parseAnonymizeSettings({ tenants: { acme: { a: 'drop' } } }).rules).toEqual({});
  });

  it.each([
    [[], 'security.anonymize', 'must be an object'],
    [{ ip: 'mask' }, 'security.anonymize.ip', 'must be one of drop, hmac, truncate_ip, keep'],
    [{ 'bad-key': 'drop' }, 'security.anonymize.bad-key', 'is not a tag key'],
    [{ rules: { ip: 'drop' }, extra: {} }, 'security.anonymize.extra', 'expected rules, tenants'],
    [{ rules: [] , tenants: {} }, 'security.anonymize.rules', 'must be an object'],
    [{ rules: {}, tenants: { 'no way': {} } }, 'security.anonymize.tenants.no way', 'is not a tenant name'],
    [{ tenants: { acme: { ip: 7 } } }, 'security.anonymize.tenants.acme.ip', 'must be one of'],
    [{ tenants: { acme: 'drop' } }, 'security.anonymize.tenants.acme', 'must be an object'],
  ])('refuses %j naming %s', (raw, field, rule) => {
    let err: unknown;
    try {
      parseAnonymizeSettings(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AnonymizeConfigError);
    expect((err as AnonymizeConfigError).field).toBe(field);
    expect((err as AnonymizeConfigError).message).toContain(rule);
  });

  it('bounds the number of rules', () => {
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`t${i}`, 'drop']));
    expect(() => parseAnonymizeSettings(many)).toThrow(/at most 256 rules/);
  });

  it('lays tenant maps over the defaults; keep exempts', () => {
    const s = parseAnonymizeSettings({ rules: { ip: 'truncate_ip', user: 'hmac' }, tenants: { acme: { ip: 'keep', mail: 'drop' } } });
    expect([...rulesOf(s, 'default')]).toEqual([['ip', 'truncate_ip'], ['user', 'hmac']]);
    expect([...rulesOf(s, 'acme')]).toEqual([['user', 'hmac'], ['mail', 'drop']]);
    expect(needsKey(s)).toBe(true);
    expect(needsKey(parseAnonymizeSettings({ a: 'drop', b: 'keep' }))).toBe(false);
    expect(needsKey(parseAnonymizeSettings({ tenants: { x: { a: 'hmac' } } }))).toBe(true);
    expect(renderAnonymizeSettings(s)).toEqual({ rules: { ip: 'truncate_ip', user: 'hmac' }, tenants: { acme: { ip: 'keep', mail: 'drop' } } });
    expect(renderAnonymizeSettings(parseAnonymizeSettings({ a: 'drop' }))).toEqual({ a: 'drop' });
  });

  it('is read from main.json security with a ConfigError naming field and value', () => {
    const into = defaultSecurityConfig();
    applySecuritySection(into, { anonymize: { source_ip: 'truncate_ip' }, anonymize_key_file: '/etc/emms/anon.key' }, 'main.json');
    expect(into.anonymize.rules).toEqual({ source_ip: 'truncate_ip' });
    expect(into.anonymizeKeyFile).toBe('/etc/emms/anon.key');
    expect(renderSecuritySection(into)).toMatchObject({ anonymize: { source_ip: 'truncate_ip' }, anonymize_key_file: '/etc/emms/anon.key' });
    expect(renderSecuritySection(defaultSecurityConfig())).not.toHaveProperty('anonymize');
    expect(() => applySecuritySection(defaultSecurityConfig(), { anonymize: { actor: 'scramble' } }, 'main.json'))
      .toThrow(new ConfigError('security.anonymize.actor', 'scramble', 'main.json', 'must be one of drop, hmac, truncate_ip, keep'));
    expect(() => applySecuritySection(defaultSecurityConfig(), { anonymize_key_file: '' }, 'main.json')).toThrow(/security.anonymize_key_file/);
  });

  it('is not reloaded by SIGHUP: a change is reported as taking effect at restart', () => {
    const before = defaultConfig();
    const after = defaultConfig();
    applySecuritySection(after.security, { anonymize: { rules: { ip: 'truncate_ip' }, tenants: { acme: { ip: 'keep' } } } }, 'main.json');
    const plan = planReload(before, after);
    expect(plan.restartNeeded).toEqual(expect.arrayContaining(['security.anonymize.rules', 'security.anonymize.tenants.acme']));
    expect(plan.live.some((k) => k.includes('anonymize'))).toBe(false);
  });
});

describe('Anonymizer', () => {
  const key = tenantPseudonymKey(MASTER, 'default');
  const a = new Anonymizer(new Map([['ip', 'truncate_ip'], ['actor', 'hmac'], ['email', 'drop'], ['host', 'keep']] as const), key);

  it('rewrites tags and leaves untouched sets as the same object', () => {
    const tags = { ip: '10.9.8.7', actor: 'alice@example.com', email: 'a@b.c', host: 'h1', dc: 'eu' };
    const out = a.tags(tags);
    expect(out).toEqual({ ip: '10.9.8.0', actor: 'h:a8cbd8b0b80c98a779f5', host: 'h1', dc: 'eu' });
    expect(Object.isFrozen(out)).toBe(true);
    const plain = { dc: 'eu' };
    expect(a.tags(plain)).toBe(plain);
    expect(a.active).toBe(true);
  });

  it('never keeps a non-address raw under truncate_ip', () => {
    expect(a.field('ip', 'not-an-ip')).toBe(pseudonym(key, 'not-an-ip'));
  });

  it('is idempotent: applying the rules twice is applying them once', () => {
    const once = a.tags({ ip: '2001:db8:1:2::3', actor: 'bob', email: 'x' });
    expect(a.tags(once)).toEqual(once);
    expect(a.field('ip', a.field('ip', 'weird')!)).toBe(a.field('ip', 'weird'));
  });

  it('fields: drop gives undefined, unnamed fields pass', () => {
    expect(a.field('email', 'a@b.c')).toBeUndefined();
    expect(a.field('other', 'v')).toBe('v');
    expect(a.field('actor', 'alice@example.com')).toBe('h:a8cbd8b0b80c98a779f5');
  });

  it('memo starts over when full and still answers the same', () => {
    const b = new Anonymizer(new Map([['u', 'hmac']] as const), key);
    for (let i = 0; i < 70_000; i++) b.field('u', `user${i}`);
    expect(b.field('u', 'alice@example.com')).toBe('h:a8cbd8b0b80c98a779f5');
  });

  it('refuses an hmac rule without a key (a bug in the caller)', () => {
    expect(() => new Anonymizer(new Map([['u', 'hmac']] as const), undefined)).toThrow(/BUG/);
  });
});

describe('TenantAnonymizers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emms-anon-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the key 0600 on first use and keeps pseudonyms stable across opens', () => {
    const settings = parseAnonymizeSettings({ rules: { actor: 'hmac' }, tenants: { acme: { actor: 'keep' }, beta: { ip: 'drop' } } });
    const first = TenantAnonymizers.open(settings, { dataDir: dir, keyFile: undefined });
    const path = join(dir, ANONYMIZE_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path)).toHaveLength(32);
    const p1 = first.forTenant('default')!.field('actor', 'carol');
    const second = TenantAnonymizers.open(settings, { dataDir: dir, keyFile: undefined });
    expect(second.forTenant('default')!.field('actor', 'carol')).toBe(p1);
    expect(pseudonym(tenantPseudonymKey(readFileSync(path), 'default'), 'carol')).toBe(p1);
    expect(second.forTenant('acme')).toBeUndefined();
    expect(second.tagRewriter('acme')).toBeUndefined();
    // beta: the default rules plus its own; its pseudonyms are under its own key.
    const betaActor = pseudonym(tenantPseudonymKey(readFileSync(path), 'beta'), 'carol');
    expect(betaActor).not.toBe(p1);
    expect(second.tagRewriter('beta')!({ ip: '1.2.3.4', actor: 'carol', x: 'y' })).toEqual({ actor: betaActor, x: 'y' });
    expect(second.fieldRewriter('default')!('actor', 'carol')).toBe(p1);
    expect(second.fieldRewriter('acme')).toBeUndefined();
    expect(second.configured).toBe(true);
  });

  it('needs no key without hmac or truncate_ip rules, and names a bad key file', () => {
    const none = TenantAnonymizers.open(parseAnonymizeSettings({ email: 'drop' }), { dataDir: join(dir, 'missing'), keyFile: undefined });
    expect(none.forTenant('default')!.field('email', 'x')).toBeUndefined();
    expect(TenantAnonymizers.open(NO_ANONYMIZATION, { dataDir: dir, keyFile: undefined }).configured).toBe(false);
    expect(() => TenantAnonymizers.open(parseAnonymizeSettings({ a: 'hmac' }), { dataDir: dir, keyFile: join(dir, 'nodir', 'k') })).toThrow(KeyFileError);
    expect(() => new TenantAnonymizers(parseAnonymizeSettings({ a: 'hmac' }), undefined)).toThrow(/BUG/);
  });
});
