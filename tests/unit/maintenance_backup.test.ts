/**
 * Backup and restore in-process (src/maintenance/backup.ts, restore.ts, archive_*.ts): a backup
 * of a running engine taken while batches keep arriving holds every batch acknowledged before
 * it started and no part of any other; a restore answers queries like the source; tenant
 * backups hold one tenant's rows only; corrupted archives are refused naming the file, and
 * the target is left as it was.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create as tarCreate, extract as tarExtract } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem, SeriesResult } from '../../src/model/api.js';
import { readManifest } from '../../src/maintenance/archive_file.js';
import { ManifestError, parseManifest } from '../../src/maintenance/archive_manifest.js';
import { createBackup } from '../../src/maintenance/backup.js';
import { restoreBackup } from '../../src/maintenance/restore.js';
import { createProgress } from '../../src/maintenance/progress.js';

const T0 = Date.UTC(2026, 0, 1);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function openEngine(dataDir: string): Promise<MetricsSystem> {
  const engine = createMetricsSystem({ path: join(dataDir, 'metrics.db'), queryWorkers: 0 });
  await engine.start();
  return engine;
}

/** A feature database like alerts.db: a table with a tenant column and one without. */
function writeFeatureDb(dataDir: string): void {
  const db = new Database(join(dataDir, 'alerts.db'));
  db.exec('CREATE TABLE rules (tenant TEXT NOT NULL, rule_id TEXT NOT NULL, body TEXT, PRIMARY KEY (tenant, rule_id)); CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT)');
  const insert = db.prepare('INSERT INTO rules VALUES (?, ?, ?)');
  for (const t of ['default', 'acme', 'other']) insert.run(t, `${t}-rule`, 'x'.repeat(50));
  db.prepare('INSERT INTO settings VALUES (?, ?)').run('version', '2');
  db.close();
  writeFileSync(join(dataDir, 'secrets.key'), Buffer.alloc(32, 7), { mode: 0o600 });
  writeFileSync(join(dataDir, 'admin.token'), 'emms_secret_token', { mode: 0o600 });
  writeFileSync(join(dataDir, 'audit.key'), Buffer.alloc(32, 9), { mode: 0o600 });
  // The last line is being written: the copy must stop before it.
  writeFileSync(join(dataDir, 'audit.log'), '{"seq":1}\n{"seq":2}\n{"seq":3,"tor');
}

async function everything(engine: MetricsSystem): Promise<SeriesResult[]> {
  const series = await engine.queryMetrics({ metricPattern: '*', startTime: 0, endTime: T0 + 1e12 });
  return series.sort((a, b) => JSON.stringify(a.tags).localeCompare(JSON.stringify(b.tags)) || a.metricId.localeCompare(b.metricId));
}

describe('backup of a running engine', () => {
  it('holds every batch acknowledged before it started, no part of a later one, and restores to identical answers', async () => {
    const source = tempDir('emms-bk-src-');
    writeFeatureDb(source);
    const engine = await openEngine(source);
    // Batches of 50 points of one series; batch k holds timestamps T0 + k*50 … + 49.
    const acked: number[] = [];
    let k = 0;
    const sendBatch = async (): Promise<void> => {
      const batch = k++;
      const points = Array.from({ length: 50 }, (_, i) => ({ metricId: 'bk.rows', value: batch * 1000 + i, timestamp: T0 + batch * 50 + i, tags: { host: `h${batch % 3}` } }));
      await engine.collectMetrics(points);
      acked.push(batch);
    };
    for (let i = 0; i < 40; i++) await sendBatch();
    await engine.forTenant('acme').collectMetrics([{ metricId: 'acme.only', value: 1, timestamp: T0 }]);
    const ackedBefore = [...acked];
    // Ingest keeps going while the backup runs.
    let streaming = true;
    const writer = (async () => {
      while (streaming) await sendBatch();
    })();
    const out = join(tempDir('emms-bk-out-'), 'nested', 'full.tar.gz');
    const progressLines: string[] = [];
    const result = await createBackup({ dataDir: source, output: out, storage: engine.maintenance!(), progress: createProgress({ write: (t: string) => progressLines.push(t) }) });
    streaming = false;
    await writer;
    expect(acked.length).toBeGreaterThan(ackedBefore.length);
    expect(progressLines.join('')).toMatch(/snapshot: 2 files[\s\S]*archive full\.tar\.gz: [\d.]+ MB[\s\S]*done in/);

    const m = result.manifest;
    expect(m).toMatchObject({ format: 'emms-backup', format_version: 1, backend: 'sqlite', tenant: null, encryption: 'off', tenants: ['acme', 'default'] });
    expect(m.files.map((f) => f.name)).toEqual(['metrics.db', 'alerts.db', 'audit.key', 'secrets.key', 'audit.log']);
    expect(Date.parse(m.created_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(readdirSync(join(out, '..'))).toEqual(['full.tar.gz']);

    const target = join(tempDir('emms-bk-restore-'), 'data');
    const restored = await restoreBackup({ input: out, dataDir: target });
    expect(restored.manifest.files).toEqual(m.files);
    expect(readdirSync(target).sort()).toEqual(['alerts.db', 'audit.key', 'audit.log', 'metrics.db', 'secrets.key']);
    expect(readFileSync(join(target, 'secrets.key'))).toEqual(Buffer.alloc(32, 7));
    expect(readFileSync(join(target, 'audit.log'), 'utf8')).toBe('{"seq":1}\n{"seq":2}\n');
    const copy = await openEngine(target);
    try {
      const rows = (await copy.queryMetrics({ metricPattern: 'bk.rows', startTime: 0, endTime: T0 + 1e12 }));
      const stored = new Map<number, number>();
      for (const s of rows) s.timestamps.forEach((t, i) => stored.set(t, s.values[i]!));
      for (const batch of ackedBefore) for (let i = 0; i < 50; i++) expect(stored.get(T0 + batch * 50 + i)).toBe(batch * 1000 + i);
      // Nothing torn: each later batch is in it whole or not at all.
      for (let batch = ackedBefore.length; batch < k; batch++) {
        const present = Array.from({ length: 50 }, (_, i) => stored.has(T0 + batch * 50 + i)).filter(Boolean).length;
        expect([0, 50]).toContain(present);
      }
      // Identical answers to the source for what the backup holds.
      const inBackup = new Set([...stored.keys()]);
      const sourceRows = (await engine.queryMetrics({ metricPattern: 'bk.rows', startTime: 0, endTime: T0 + 1e12 }));
      for (const s of sourceRows) s.timestamps.forEach((t, i) => {
        if (inBackup.has(t)) expect(stored.get(t)).toBe(s.values[i]);
      });
      expect(await copy.forTenant('acme').queryMetrics({ metricPattern: '*', startTime: 0 })).toHaveLength(1);
    } finally {
      await copy.stop();
      await engine.stop();
    }
  });

  it('restores a stopped directory to the same answers, raw and aggregated', async () => {
    const source = tempDir('emms-bk-stopped-');
    const engine = await openEngine(source);
    const points = Array.from({ length: 5000 }, (_, i) => ({ metricId: `cpu.${i % 4}`, value: Math.sin(i), timestamp: T0 + i * 10_000, tags: { host: `h${i % 7}` } }));
    await engine.collectMetrics(points);
    await engine.stop();
    const out = join(tempDir('emms-bk-out-'), 'stopped.tar.gz');
    await createBackup({ dataDir: source, output: out });
    const target = join(tempDir('emms-bk-r2-'), 'd');
    await restoreBackup({ input: out, dataDir: target });
    const a = await openEngine(source);
    const b = await openEngine(target);
    try {
      expect(await everything(b)).toEqual(await everything(a));
      const agg = { metricPattern: 'cpu.*', startTime: T0, endTime: T0 + 5000 * 10_000, interval: '1h', aggregation: 'avg' } as const;
      expect(await b.queryAggregated(agg)).toEqual(await a.queryAggregated(agg));
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('tenant backup', () => {
  it("keeps one tenant's series and feature rows, the other tenants' nowhere in the files", async () => {
    const source = tempDir('emms-bk-tenant-');
    writeFeatureDb(source);
    const engine = await openEngine(source);
    await engine.collectMetrics([{ metricId: 'default.secret', value: 1, timestamp: T0 }]);
    await engine.forTenant('acme').collectMetrics([{ metricId: 'acme.cpu', value: 2, timestamp: T0 }, { metricId: 'acme.cpu', value: 3, timestamp: T0 + 1 }]);
    await engine.forTenant('other').collectMetrics([{ metricId: 'other.secretseries', value: 4, timestamp: T0 }]);
    const out = join(tempDir('emms-bk-out-'), 'acme.tar.gz');
    const r = await createBackup({ dataDir: source, output: out, storage: engine.maintenance!(), tenant: 'acme' });
    await engine.stop();
    expect(r.manifest).toMatchObject({ tenant: 'acme', tenants: ['acme'], series: 1 });
    // The audit trail is one chain over every tenant: not in a tenant backup.
    expect(r.manifest.files.map((f) => f.name)).toEqual(['metrics.db', 'alerts.db', 'secrets.key']);
    const target = join(tempDir('emms-bk-r3-'), 'd');
    await restoreBackup({ input: out, dataDir: target });
    for (const name of ['metrics.db', 'alerts.db']) {
      const bytes = readFileSync(join(target, name)).toString('latin1');
      expect(bytes).not.toContain('other.secretseries');
      expect(bytes).not.toContain('other-rule');
      expect(bytes).not.toContain('default-rule');
    }
    const db = new Database(join(target, 'alerts.db'), { readonly: true });
    expect(db.prepare('SELECT tenant, rule_id FROM rules').all()).toEqual([{ tenant: 'acme', rule_id: 'acme-rule' }]);
    expect(db.prepare('SELECT v FROM settings').pluck().get()).toBe('2');
    db.close();
    const copy = await openEngine(target);
    try {
      const acme = await copy.forTenant('acme').queryMetrics({ metricPattern: '*', startTime: 0 });
      expect(acme.map((s) => [...s.values])).toEqual([[2, 3]]);
      expect(await copy.queryMetrics({ metricPattern: '*', startTime: 0 })).toEqual([]);
    } finally {
      await copy.stop();
    }
  });
});

/** Rewrites an archive's entries through `edit` (name → bytes), keeping the original manifest. */
async function tamper(archive: string, out: string, edit: (dir: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-tamper-'));
  dirs.push(dir);
  await tarExtract({ file: archive, cwd: dir });
  edit(dir);
  const names = ['manifest.json', ...readdirSync(dir).filter((n) => n !== 'manifest.json').sort()];
  await tarCreate({ gzip: true, file: out, cwd: dir, portable: true }, names);
}

describe('restore refuses', () => {
  let archive: string;
  const setup = async (): Promise<string> => {
    if (archive !== undefined) return archive;
    const source = tempDir('emms-bk-c-');
    writeFeatureDb(source);
    const engine = await openEngine(source);
    await engine.collectMetrics([{ metricId: 'c.m', value: 1, timestamp: T0 }]);
    await engine.stop();
    archive = join(tempDir('emms-bk-c-out-'), 'good.tar.gz');
    await createBackup({ dataDir: source, output: archive });
    return archive;
  };

  it('a file whose checksum does not match, naming it, with the target untouched', async () => {
    const good = await setup();
    const bad = join(tempDir('emms-bad-'), 'bad.tar.gz');
    await tamper(good, bad, (dir) => {
      const p = join(dir, 'alerts.db');
      const bytes = readFileSync(p);
      bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
      writeFileSync(p, bytes);
    });
    const target = join(tempDir('emms-target-'), 'data');
    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'mine');
    await expect(restoreBackup({ input: bad, dataDir: target, force: true })).rejects.toThrow(/checksum mismatch for alerts\.db/);
    expect(readdirSync(target)).toEqual(['keep.txt']);
    expect(readdirSync(join(target, '..'))).toEqual(['data']);
  });

  it('a damaged gzip stream, naming the archive', async () => {
    const good = await setup();
    const bytes = readFileSync(good);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    const bad = join(tempDir('emms-bad-'), 'flipped.tar.gz');
    writeFileSync(bad, bytes);
    await expect(restoreBackup({ input: bad, dataDir: join(tempDir('emms-t-'), 'd') })).rejects.toThrow(/flipped\.tar\.gz/);
  });

  it('entries the manifest does not list, a missing one, a size that differs, no manifest at all', async () => {
    const good = await setup();
    const extra = join(tempDir('emms-bad-'), 'extra.tar.gz');
    await tamper(good, extra, (dir) => writeFileSync(join(dir, 'evil.sh'), 'rm -rf /'));
    await expect(readManifest(extra)).rejects.toThrow(/entry evil\.sh is not listed/);
    const missing = join(tempDir('emms-bad-'), 'missing.tar.gz');
    await tamper(good, missing, (dir) => rmSync(join(dir, 'secrets.key')));
    await expect(readManifest(missing)).rejects.toThrow(/lacks secrets\.key/);
    const grown = join(tempDir('emms-bad-'), 'grown.tar.gz');
    await tamper(good, grown, (dir) => writeFileSync(join(dir, 'secrets.key'), Buffer.alloc(40)));
    await expect(readManifest(grown)).rejects.toThrow(/secrets\.key is 40 bytes, manifest\.json says 32/);
    const bare = join(tempDir('emms-bad-'), 'bare.tar.gz');
    writeFileSync(bare, gzipSync(gunzipSync(readFileSync(good)).subarray(0, 0)));
    await expect(restoreBackup({ input: bare, dataDir: join(tempDir('emms-t-'), 'd') })).rejects.toThrow(/no manifest\.json|not a readable/);
    await expect(restoreBackup({ input: join(tmpdir(), 'no-such-archive.tar.gz'), dataDir: tempDir('x-') })).rejects.toThrow(/does not exist/);
  });

  it('a non-empty target without --force, and replaces it with --force', async () => {
    const good = await setup();
    const target = tempDir('emms-full-');
    writeFileSync(join(target, 'old.txt'), 'old');
    await expect(restoreBackup({ input: good, dataDir: target })).rejects.toThrow(/not empty \(1 entries\); pass --force/);
    expect(readdirSync(target)).toEqual(['old.txt']);
    await restoreBackup({ input: good, dataDir: target, force: true });
    expect(readdirSync(target).sort()).toEqual(['alerts.db', 'audit.key', 'audit.log', 'metrics.db', 'secrets.key']);
    expect(existsSync(join(target, 'admin.token'))).toBe(false);
  });

  it('a target a running engine holds, even with --force', async () => {
    const good = await setup();
    const target = tempDir('emms-busy-');
    const engine = await openEngine(target);
    try {
      await expect(restoreBackup({ input: good, dataDir: target, force: true })).rejects.toThrow(/has it open; stop it first/);
    } finally {
      await engine.stop();
    }
  });

  it('manifests that are not ours, from the future, or name paths', () => {
    const base = { format: 'emms-backup', format_version: 1, created_at: new Date(T0).toISOString(), source_version: '0.1.0', backend: 'sqlite', tenant: null, tenants: [], encryption: 'off', series: 0, files: [{ name: 'metrics.db', bytes: 1, sha256: 'a'.repeat(64) }] };
    expect(parseManifest(JSON.stringify(base), 'x.tar.gz').files).toHaveLength(1);
    const bad = (patch: Record<string, unknown>): string => JSON.stringify({ ...base, ...patch });
    expect(() => parseManifest('{', 'x.tar.gz')).toThrow(ManifestError);
    expect(() => parseManifest(bad({ format: 'zip' }), 'x.tar.gz')).toThrow(/not an EMMS backup/);
    expect(() => parseManifest(bad({ format_version: 9 }), 'x.tar.gz')).toThrow(/newer than this build/);
    expect(() => parseManifest(bad({ encryption: 'aes' }), 'x.tar.gz')).toThrow(/encryption/);
    expect(() => parseManifest(bad({ files: [{ name: '../etc/passwd', bytes: 1, sha256: 'a'.repeat(64) }] }), 'x.tar.gz')).toThrow(/plain file name/);
    expect(() => parseManifest(bad({ files: [{ name: 'a.db', bytes: 1, sha256: 'A'.repeat(64) }] }), 'x.tar.gz')).toThrow(/sha256/);
    expect(() => parseManifest(bad({ files: [base.files[0], base.files[0]] }), 'x.tar.gz')).toThrow(/listed twice/);
    expect(() => parseManifest(bad({ created_at: 'yesterday' }), 'x.tar.gz')).toThrow(/created_at/);
    expect(() => parseManifest(bad({ tenants: [1] }), 'x.tar.gz')).toThrow(/tenants/);
    expect(() => parseManifest(bad({ files: [] }), 'x.tar.gz')).toThrow(/files/);
    expect(() => parseManifest('[]', 'x.tar.gz')).toThrow(/must be an object/);
  });

  it('an archive of another back-end, pointing at issue 15', async () => {
    const good = await setup();
    const other = join(tempDir('emms-pg-'), 'pg.tar.gz');
    await tamper(good, other, (dir) => {
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...m, backend: 'postgresql' }));
    });
    await expect(restoreBackup({ input: other, dataDir: join(tempDir('emms-t-'), 'd') })).rejects.toThrow(/postgresql back-end.*issue 15/);
    await expect(createBackup({ dataDir: tempDir('emms-empty-'), output: join(tempDir('o-'), 'x.tar.gz') })).rejects.toThrow(/not an EMMS data directory/);
  });
});
