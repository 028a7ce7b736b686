/**
 * storage.type and the PostgreSQL / Redis settings (src/config/storage_settings.ts): defaults,
 * file → environment layering, validation naming key, value and rule, the cross-setting check
 * (a back-end without its URL), what reaches createMetricsSystem, and that the URL's password
 * never shows: not in errors, not in --print-config, not in the start-up line, not in a reload.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_HELP, ConfigError, loadConfig, renderConfigFile, type LoadConfigOptions } from '../../src/config/config.js';
import { storageLocation, storageSystemOptions } from '../../src/config/storage_settings.js';
import { hasPlaceholderPassword, withPasswordRedacted } from '../../src/text/url_password.js';

const dir = mkdtempSync(join(tmpdir(), 'emms-config-storage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'Sup3r-s3cret';
const PG_URL = `postgres://emms:${SECRET}@127.0.0.1:5433/emms`;
const REDIS = `redis://:${SECRET}@127.0.0.1:6390/0`;

let files = 0;
function file(content: unknown): string {
  const path = join(dir, `main-${files++}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

function configError(options: LoadConfigOptions): ConfigError {
  try {
    loadConfig(options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('storage back-end settings', () => {
  it('defaults to sqlite with the documented PostgreSQL and Redis defaults, no URL', () => {
    const c = loadConfig({ env: {} });
    expect(c.storage.type).toBe('sqlite');
    expect(c.storage.postgres).toEqual({ url: undefined, poolSize: 4, statementTimeoutMs: 30_000, schema: 'emms' });
    expect(c.storage.redis).toEqual({ url: undefined, prefix: 'emms:', durability: 'always' });
    expect(storageSystemOptions(c.storage)).toEqual({ storage: 'sqlite' });
  });

  it('switches back-end by METRICS_STORAGE_TYPE alone, passing only that back-end its options', () => {
    const env = { METRICS_POSTGRES_URL: PG_URL, METRICS_REDIS_URL: REDIS };
    const pg = loadConfig({ env: { ...env, METRICS_STORAGE_TYPE: 'PostgreSQL' } });
    expect(storageSystemOptions(pg.storage)).toEqual({ storage: 'postgresql', postgres: { url: PG_URL, poolSize: 4, statementTimeoutMs: 30_000, schema: 'emms' } });
    const redis = loadConfig({ env: { ...env, METRICS_STORAGE_TYPE: 'redis' } });
    expect(storageSystemOptions(redis.storage)).toEqual({ storage: 'redis', redis: { url: REDIS, prefix: 'emms:', durability: 'always' } });
    expect(storageSystemOptions(loadConfig({ env: { ...env, METRICS_STORAGE_TYPE: 'sqlite' } }).storage)).toEqual({ storage: 'sqlite' });
  });

  it('reads storage.postgres and storage.redis from main.json, the environment winning', () => {
    const path = file({
      storage: {
        type: 'postgresql',
        postgres: { url: PG_URL, pool_size: 8, statement_timeout_ms: 5000, schema: 'metrics_a' },
        redis: { url: REDIS, prefix: 'a:', durability: 'everysec' },
      },
    });
    const fromFile = loadConfig({ configPath: path, env: {} });
    expect(fromFile.storage.postgres).toEqual({ url: PG_URL, poolSize: 8, statementTimeoutMs: 5000, schema: 'metrics_a' });
    expect(fromFile.storage.redis).toEqual({ url: REDIS, prefix: 'a:', durability: 'everysec' });
    const overridden = loadConfig({
      configPath: path,
      env: { METRICS_POSTGRES_POOL_SIZE: '16', METRICS_POSTGRES_STATEMENT_TIMEOUT_MS: '600000', METRICS_POSTGRES_SCHEMA: 'metrics_b', METRICS_REDIS_PREFIX: 'b:{x}.y-z_', METRICS_REDIS_DURABILITY: 'Always' },
    });
    expect(overridden.storage.postgres).toMatchObject({ poolSize: 16, statementTimeoutMs: 600_000, schema: 'metrics_b' });
    expect(overridden.storage.redis).toMatchObject({ prefix: 'b:{x}.y-z_', durability: 'always' });
  });

  it('takes REDIS_URL when METRICS_REDIS_URL is unset or empty, and METRICS_REDIS_URL over it', () => {
    const other = 'redis://10.0.0.9:6379/1';
    expect(loadConfig({ env: { REDIS_URL: REDIS } }).storage.redis.url).toBe(REDIS);
    expect(loadConfig({ env: { REDIS_URL: REDIS, METRICS_REDIS_URL: '' } }).storage.redis.url).toBe(REDIS);
    expect(loadConfig({ env: { REDIS_URL: REDIS, METRICS_REDIS_URL: other } }).storage.redis.url).toBe(other);
    expect(configError({ env: { REDIS_URL: 'http://x' } }).message).toContain('(from environment REDIS_URL)');
    expect(CONFIG_HELP.find((h) => h.key === 'storage.redis.url')!.env).toBe('METRICS_REDIS_URL, REDIS_URL');
  });

  it.each([
    ['METRICS_POSTGRES_POOL_SIZE', '0', 'storage.postgres.pool_size', /integer in \[1, 64\]/],
    ['METRICS_POSTGRES_POOL_SIZE', '65', 'storage.postgres.pool_size', /integer in \[1, 64\]/],
    ['METRICS_POSTGRES_STATEMENT_TIMEOUT_MS', '99', 'storage.postgres.statement_timeout_ms', /integer in \[100, 600000\]/],
    ['METRICS_POSTGRES_STATEMENT_TIMEOUT_MS', '600001', 'storage.postgres.statement_timeout_ms', /integer in \[100, 600000\]/],
    ['METRICS_POSTGRES_SCHEMA', 'Emms', 'storage.postgres.schema', /PostgreSQL identifier/],
    ['METRICS_POSTGRES_SCHEMA', '1emms', 'storage.postgres.schema', /PostgreSQL identifier/],
    ['METRICS_POSTGRES_SCHEMA', 'pg_emms', 'storage.postgres.schema', /not starting with a digit or pg_/],
    ['METRICS_POSTGRES_SCHEMA', 'emms; drop table x', 'storage.postgres.schema', /PostgreSQL identifier/],
    ['METRICS_POSTGRES_SCHEMA', 'e'.repeat(64), 'storage.postgres.schema', /at most 63/],
    ['METRICS_REDIS_PREFIX', 'has space', 'storage.redis.prefix', /1 to 64 characters/],
    ['METRICS_REDIS_PREFIX', 'p'.repeat(65), 'storage.redis.prefix', /1 to 64 characters/],
    ['METRICS_STORAGE_TYPE', 'mysql', 'storage.type', /one of sqlite, postgresql, redis/],
    ['METRICS_REDIS_DURABILITY', 'no', 'storage.redis.durability', /one of always, everysec/],
  ])('refuses %s=%s naming the key, the value and the rule', (env, value, key, rule) => {
    const err = configError({ env: { [env]: value } });
    expect(err.key).toBe(key);
    expect(err.value).toBe(value);
    expect(err.message).toContain(`${key}=`);
    expect(err.message).toContain(`(from environment ${env})`);
    expect(err.message).toMatch(rule);
  });

  it.each([
    ['METRICS_POSTGRES_URL', `mysql://emms:${SECRET}@db:3306/emms`, 'storage.postgres.url', 'mysql://emms:***@db:3306/emms', /postgres:\/\/… or postgresql:\/\/…/],
    ['METRICS_POSTGRES_URL', 'postgres:///emms?sslmode=require', 'storage.postgres.url', 'postgres:///emms?sslmode=require', /with a host/],
    ['METRICS_POSTGRES_URL', `postgres://emms:${SECRET}@db:99999/emms`, 'storage.postgres.url', 'postgres://emms:***@db:99999/emms', /does not parse; percent-encode/],
    ['METRICS_REDIS_URL', `http://:${SECRET}@cache:6379`, 'storage.redis.url', 'http://:***@cache:6379', /redis:\/\/… or rediss:\/\/…/],
  ])('refuses %s=<url> naming the URL with its password as ***', (env, value, key, shown, rule) => {
    const err = configError({ env: { [env]: value } });
    expect(err.key).toBe(key);
    expect(err.value).toBe(shown);
    expect(err.message).toContain(`${key}="${shown}"`);
    expect(err.message).toMatch(rule);
    expect(err.message).not.toContain(SECRET);
  });

  it('refuses a URL that is no string or too long, without echoing the long text', () => {
    expect(configError({ configPath: file({ storage: { postgres: { url: 5432 } } }), env: {} }).message).toMatch(/storage\.postgres\.url=5432 .*must be a URL/);
    const long = `postgres://emms:${SECRET}@db/${'x'.repeat(3000)}`;
    const err = configError({ env: { METRICS_POSTGRES_URL: long } });
    expect(err.message).toMatch(/at most 2048 characters/);
    expect(err.message).not.toContain(SECRET);
    expect(err.message.length).toBeLessThan(600);
    // A password longer than the part of the value an error shows is still hidden whole.
    const longPassword = 'p'.repeat(300);
    const cut = configError({ env: { METRICS_POSTGRES_URL: `mysql://emms:${longPassword}@db/emms` } });
    expect(cut.message).toContain('mysql://emms:***@db/emms');
    expect(cut.message).not.toContain('ppppp');
    const section = configError({ configPath: file({ storage: { redis: `redis://:${longPassword}@cache:6379/${'d'.repeat(300)}` } }), env: {} });
    expect(section.message).toMatch(/storage\.redis="redis:\/\/:\*\*\*@cache:6379\/d+"… \(\d+ characters\)/);
    expect(section.message).not.toContain('ppppp');
  });

  it('accepts postgresql:// with options and a Unix socket directory', () => {
    const socket = 'postgresql:///emms?host=/run/postgresql';
    expect(loadConfig({ env: { METRICS_POSTGRES_URL: socket } }).storage.postgres.url).toBe(socket);
    const withOptions = `postgresql://emms:${SECRET}@[::1]:5432/emms?sslmode=require`;
    expect(loadConfig({ env: { METRICS_POSTGRES_URL: ` ${withOptions} ` } }).storage.postgres.url).toBe(withOptions);
    expect(loadConfig({ env: { METRICS_REDIS_URL: 'rediss://cache.internal:6380' } }).storage.redis.url).toBe('rediss://cache.internal:6380');
  });

  it('refuses postgresql or redis without a URL at load, naming the key and its environment variable', () => {
    const pg = configError({ env: { METRICS_STORAGE_TYPE: 'postgresql' } });
    expect(pg.key).toBe('storage.postgres.url');
    expect(pg.message).toMatch(/storage\.postgres\.url.*is required when storage\.type is postgresql: set METRICS_POSTGRES_URL=postgres:\/\//);
    const redis = configError({ configPath: file({ storage: { type: 'redis' } }), env: {} });
    expect(redis.key).toBe('storage.redis.url');
    expect(redis.message).toMatch(/is required when storage\.type is redis: set METRICS_REDIS_URL \(or REDIS_URL\)=redis:\/\//);
    // The URL of the other back-end does not count.
    expect(configError({ env: { METRICS_STORAGE_TYPE: 'redis', METRICS_POSTGRES_URL: PG_URL } }).key).toBe('storage.redis.url');
  });

  it('walks the nested sections of main.json: a non-object is refused, unknown keys warned about', () => {
    // A URL under the section's own key: refused, and its password still not shown.
    const notObject = configError({ configPath: file({ storage: { postgres: PG_URL } }), env: {} });
    expect(notObject.key).toBe('storage.postgres');
    expect(notObject.message).toMatch(/storage\.postgres="postgres:\/\/emms:\*\*\*@127\.0\.0\.1:5433\/emms" .*must be an object/);
    expect(notObject.message).not.toContain(SECRET);
    const warnings: string[] = [];
    loadConfig({ configPath: file({ storage: { postgres: { pool: 3 }, redis: { prefix: 'x:' }, mysql: {} } }), env: {}, warn: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/unknown setting storage\.postgres\.pool\b/);
    expect(warnings.join('\n')).toMatch(/unknown setting storage\.mysql/);
  });
});

describe('the database password is never shown', () => {
  it('prints the URLs with the password as ***, and refuses that placeholder when loaded back', () => {
    const config = loadConfig({ env: { METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: PG_URL, METRICS_REDIS_URL: REDIS } });
    const printed = renderConfigFile(config);
    expect(printed).not.toContain(SECRET);
    const parsed = JSON.parse(printed) as { storage: { type: string; postgres: Record<string, unknown>; redis: Record<string, unknown> } };
    expect(parsed.storage.type).toBe('postgresql');
    expect(parsed.storage.postgres).toEqual({ url: 'postgres://emms:***@127.0.0.1:5433/emms', pool_size: 4, statement_timeout_ms: 30_000, schema: 'emms' });
    expect(parsed.storage.redis).toEqual({ url: 'redis://:***@127.0.0.1:6390/0', prefix: 'emms:', durability: 'always' });
    const path = file(parsed);
    const refused = configError({ configPath: path, env: {} });
    expect(refused.message).toMatch(/storage\.postgres\.url="postgres:\/\/emms:\*\*\*@127\.0\.0\.1:5433\/emms".*password placeholder \*\*\* of a printed configuration.*METRICS_POSTGRES_URL/);
    // With the real URL in the environment (where secrets belong) the printed file loads, and prints the same again.
    const again = loadConfig({ configPath: path, env: { METRICS_POSTGRES_URL: PG_URL, METRICS_REDIS_URL: REDIS } });
    expect(again.storage.postgres.url).toBe(PG_URL);
    expect(renderConfigFile(again)).toBe(printed);
  });

  it('leaves the URL keys out of a printed sqlite configuration that has none', () => {
    const parsed = JSON.parse(renderConfigFile(loadConfig({ env: {} }))) as { storage: { postgres: Record<string, unknown>; redis: Record<string, unknown> } };
    expect(parsed.storage.postgres).toEqual({ pool_size: 4, statement_timeout_ms: 30_000, schema: 'emms' });
    expect(parsed.storage.redis).toEqual({ prefix: 'emms:', durability: 'always' });
  });

  it('names the storage location with the password redacted (start-up line)', () => {
    const pg = loadConfig({ env: { METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: PG_URL, METRICS_POSTGRES_SCHEMA: 'node_a' } });
    expect(storageLocation(pg.storage, pg.storage.path)).toBe('postgresql postgres://emms:***@127.0.0.1:5433/emms schema node_a');
    const redis = loadConfig({ env: { METRICS_STORAGE_TYPE: 'redis', REDIS_URL: REDIS } });
    expect(storageLocation(redis.storage, redis.storage.path)).toBe('redis redis://:***@127.0.0.1:6390/0 prefix emms:');
    expect(storageLocation(loadConfig({ env: {} }).storage, '/d/metrics.db')).toBe('sqlite /d/metrics.db');
  });

  it('reports a changed URL on SIGHUP by key only (restart needed), never its value', async () => {
    // Imported here: config_reload.ts loads the whole app, which the other tests do not need.
    const { planReload } = await import('../../src/app/config_reload.js');
    const before = loadConfig({ env: { METRICS_POSTGRES_URL: PG_URL } });
    const after = loadConfig({ env: { METRICS_POSTGRES_URL: PG_URL.replace(SECRET, 'other-pw'), METRICS_POSTGRES_POOL_SIZE: '9' } });
    const plan = planReload(before, after);
    expect(plan.restartNeeded).toEqual(['storage.postgres.pool_size', 'storage.postgres.url']);
    expect(JSON.stringify(plan)).not.toContain(SECRET);
  });
});

describe('the configured back-end reaches the engine (src/app/emms_app.ts)', () => {
  // Port 1 on loopback refuses at once: the start fails at the back-end's first connection,
  // and its error shows that the URL got there, with the password still hidden.
  it.each([
    ['postgresql', { METRICS_POSTGRES_URL: `postgres://emms:${SECRET}@127.0.0.1:1/emms` }, 'postgres://emms:***@127.0.0.1:1/emms'],
    ['redis', { METRICS_REDIS_URL: `redis://:${SECRET}@127.0.0.1:1/0` }, 'redis://:***@127.0.0.1:1/0'],
  ] as const)('METRICS_STORAGE_TYPE=%s opens that back-end at the configured URL', async (type, env, shown) => {
    const { startEmmsApp } = await import('../../src/app/emms_app.js');
    const config = loadConfig({ env: { METRICS_STORAGE_TYPE: type, ...env }, flags: { data: mkdtempSync(join(dir, 'data-')), port: '0' } });
    const logged: string[] = [];
    const failure = await startEmmsApp(config, (_level, message) => logged.push(message)).then(() => new Error('started'), (err: unknown) => err as Error);
    expect(failure.message).toContain(shown);
    expect(failure.message).toMatch(/ECONNREFUSED/);
    expect([failure.message, failure.stack, ...logged].join('\n')).not.toContain(SECRET);
  }, 30_000);
});

describe('withPasswordRedacted', () => {
  it.each([
    ['postgres://emms:pw@127.0.0.1:5433/emms', 'postgres://emms:***@127.0.0.1:5433/emms'],
    ['postgresql://emms:p%40ss@db/emms?sslmode=require', 'postgresql://emms:***@db/emms?sslmode=require'],
    // A raw @ in the password: the host is after the last @ of the authority.
    ['postgres://emms:p@ss:w@rd@db:5432/emms', 'postgres://emms:***@db:5432/emms'],
    ['redis://:pw@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['redis://default:pw@[::1]:6379', 'redis://default:***@[::1]:6379'],
    // No password: nothing to hide, and a user name alone is kept.
    ['postgres://emms@db/emms', 'postgres://emms@db/emms'],
    ['redis://cache:6379/0?x=a:b@c', 'redis://cache:6379/0?x=a:b@c'],
    ['postgresql:///emms?host=/run/postgresql', 'postgresql:///emms?host=/run/postgresql'],
    ['not a url', 'not a url'],
  ])('%s → %s', (url, shown) => {
    expect(withPasswordRedacted(url)).toBe(shown);
  });

  it('tells a pasted-back placeholder from a real password', () => {
    expect(hasPlaceholderPassword('postgres://emms:***@db/emms')).toBe(true);
    expect(hasPlaceholderPassword('postgres://emms:pw@db/emms')).toBe(false);
    expect(hasPlaceholderPassword('postgres://db/emms')).toBe(false);
  });
});
