import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfig, renderConfigFile } from '../../src/config/config.js';

const dir = mkdtempSync(join(tmpdir(), 'emms-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected ConfigError');
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.collector.maxBodyBytes).toBe(16 * 1024 * 1024);
    expect(c.query).toEqual({ maxSeries: 10_000, maxPoints: 1_000_000, rollupMemoryMb: 64 });
    expect(c.storage.path).toBe(join('data', 'metrics.db'));
  });

  it('prints every setting as a main.json that loads back to the same settings, without warnings', () => {
    const tuned = loadConfig({
      configPath: file('tuned.json', {
        deployment: { port: 9100 }, storage: { retention_days: 30, compression: 'none' },
        security: { metrics_access: 'reader', allowed_networks: ['10.0.0.0/8'], egress_allow: ['192.168.1.0/24', 'alertmanager.internal'], quotas: { rules: 5 } },
      }),
      env: {},
    });
    for (const config of [defaultConfig(), tuned]) {
      const printed = renderConfigFile(config);
      const warnings: string[] = [];
      const again = loadConfig({ configPath: file('printed.json', JSON.parse(printed)), env: {}, warn: (m) => warnings.push(m) });
      expect(warnings).toEqual([]);
      expect(renderConfigFile(again)).toBe(printed);
    }
    expect(JSON.parse(renderConfigFile(tuned)).security.quotas.rules).toBe(5);
  });

  it('refuses authentication off on a non-loopback bind, and allows it on loopback', () => {
    expect(() => loadConfig({ env: { EMMS_AUTH: 'off', EMMS_HOST: '0.0.0.0' } })).toThrow(/security\.auth="off".*may be off only on a loopback bind.*deployment\.host=0\.0\.0\.0/);
    expect(loadConfig({ env: { EMMS_AUTH: 'off' } }).security.auth).toBe('off');
    expect(loadConfig({ env: { EMMS_AUTH: 'off', EMMS_HOST: '::1' } }).security.auth).toBe('off');
    expect(loadConfig({ env: {} }).security.auth).toBe('on');
    expect(() => loadConfig({ env: { EMMS_AUTH: 'maybe' } })).toThrow(/security\.auth="maybe" \(from environment EMMS_AUTH\)/);
  });

  it('validates the security section naming the key and value', () => {
    const bad = (security: unknown): string => {
      try {
        loadConfig({ configPath: file('bad-security.json', { security }), env: {} });
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(bad({ allowed_networks: ['10.0.0.0/33'] })).toMatch(/security\.allowed_networks\[0\]="10\.0\.0\.0\/33"/);
    expect(bad({ tls: { cert_file: 'c.pem', key_file: 'k.pem', min_version: '1.1' } })).toMatch(/security\.tls\.min_version="1\.1"/);
    expect(bad({ jwt: { algorithms: ['HS256', 'RS256'], secret_file: 's', issuer: 'i', audience: 'a' } })).toMatch(/algorithm confusion/);
    expect(bad({ jwt: { algorithms: ['none'], public_key_file: 'p', issuer: 'i', audience: 'a' } })).toMatch(/security\.jwt\.algorithms\[0\]="none"/);
    expect(bad({ quotas: { active_series: -1 } })).toMatch(/security\.quotas\.active_series=-1/);
    expect(bad({ allowed_origins: ['https://ops.example.com/path'] })).toMatch(/security\.allowed_origins\[0\]/);
    expect(bad({ superuser: true })).toMatch(/security\.superuser=true .*is not a setting/);
  });

  it('reports a JSON typo by line and column, without the text around it (it may be a password)', () => {
    const path = file('typo.json', '{\n  "alerting": {"smtp_servers": {"r": {"host": "x", "password": cfg-smtp-Pa55-e0c7"}}}\n}');
    const err = configError(() => loadConfig({ configPath: path, env: {} }));
    expect(err.message).toMatch(/is not valid JSON: .* at line 2, column 64/);
    expect(err.message).not.toMatch(/cfg|Pa55|smtp-P/);
  });

  it("never prints a section's contents in an error: only its shape", () => {
    const err = new ConfigError('alerting', { smtp: { password: 'hunter2-secret' }, channels: [] }, 'config file x', 'is wrong');
    expect(err.message).not.toContain('hunter2');
    expect(err.message).toContain('(an object with keys smtp, channels)');
  });

  it('layers file, then environment, then flags', () => {
    const path = file('layers.json', { deployment: { host: '0.0.0.0', port: 9000 }, storage: { retention_days: 7, path: '/f/db' }, monitoring: { log_level: 'warn' } });
    const c = loadConfig({
      configPath: path,
      env: { EMMS_PORT: '9100', METRICS_RETENTION_DAYS: '30', LOG_LEVEL: 'DEBUG', METRICS_BATCH_SIZE: '500', METRICS_COMPRESSION: 'false', METRICS_DB_PATH: '/env/db', EMMS_DURABILITY: 'full' },
      flags: { port: '0', data: '/flag/data' },
    });
    expect(c.host).toBe('0.0.0.0');
    expect(c.port).toBe(0);
    expect(c.storage.retentionDays).toBe(30);
    expect(c.logLevel).toBe('debug');
    expect(c.collector.batchSize).toBe(500);
    expect(c.storage.compression).toBe('none');
    expect(c.storage.durability).toBe('full');
    expect(c.storage.path).toBe(join('/flag/data', 'metrics.db'));
  });

  it('maps 16 MiB of head memory at start unless storage.head_reserve_mb says otherwise', () => {
    expect(loadConfig({ env: {} }).storage.headReserveMb).toBe(16);
    expect(loadConfig({ env: { METRICS_HEAD_RESERVE_MB: '0' } }).storage.headReserveMb).toBe(0);
    expect(loadConfig({ env: { METRICS_HEAD_RESERVE_MB: '64' } }).storage.headReserveMb).toBe(64);
  });

  it.each([
    [{ env: { EMMS_PORT: '70000' } }, 'deployment.port', '70000', 'environment EMMS_PORT'],
    [{ env: { METRICS_STORAGE_TYPE: 'postgres' } }, 'storage.type', 'postgres', 'environment METRICS_STORAGE_TYPE'],
    [{ env: { METRICS_RETENTION_DAYS: '-1' } }, 'storage.retention_days', '-1', 'environment METRICS_RETENTION_DAYS'],
    [{ env: { METRICS_BATCH_SIZE: 'lots' } }, 'collector.batch_size', 'lots', 'environment METRICS_BATCH_SIZE'],
    [{ env: { LOG_LEVEL: 'loud' } }, 'monitoring.log_level', 'loud', 'environment LOG_LEVEL'],
    [{ env: { METRICS_COMPRESSION: 'zstd' } }, 'storage.compression', 'zstd', 'environment METRICS_COMPRESSION'],
    [{ env: { METRICS_HEAD_RESERVE_MB: '-16' } }, 'storage.head_reserve_mb', '-16', 'environment METRICS_HEAD_RESERVE_MB'],
    [{ env: {}, flags: { port: 'http' } }, 'deployment.port', 'http', 'flag --port'],
  ])('refuses %j naming key, value and source', (opts, key, value, source) => {
    const err = configError(() => loadConfig(opts));
    expect(err.key).toBe(key);
    expect(err.value).toBe(value);
    expect(err.message).toContain(key);
    expect(err.message).toContain(JSON.stringify(value));
    expect(err.message).toContain(source);
  });

  it('names the key of a bad file value, and reports unreadable or invalid files', () => {
    const err = configError(() => loadConfig({ configPath: file('bad.json', { query: { max_series: 0 } }), env: {} }));
    expect(err.key).toBe('query.max_series');
    expect(err.message).toMatch(/integer in \[1, /);
    expect(configError(() => loadConfig({ configPath: join(dir, 'missing.json'), env: {} })).message).toMatch(/cannot read/);
    expect(configError(() => loadConfig({ configPath: file('broken.json', '{ nope'), env: {} })).message).toMatch(/not valid JSON/);
    expect(configError(() => loadConfig({ configPath: file('section.json', { storage: 5 }), env: {} })).key).toBe('storage');
  });

  it('warns about unknown keys instead of failing', () => {
    const warnings: string[] = [];
    loadConfig({ configPath: file('unknown.json', { storage: { typo_key: 1 }, extra: {} }), env: {}, warn: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/storage\.typo_key/);
    expect(warnings.join('\n')).toMatch(/extra/);
  });

  it('gives every default a valid value', () => {
    const d = defaultConfig();
    expect(d.collector.decodeThreads).toBeGreaterThanOrEqual(1);
    expect(d.collector.maxUnackedBytes).toBeGreaterThanOrEqual(d.collector.maxFrameBytes);
  });
});
