/**
 * Scheduled backups (src/maintenance/backup_schedule.ts, backup_metrics.ts, backup_alert.ts),
 * the maintenance lock and progress output, in-process: runs write dated archives and prune
 * past `keep`, outcomes show in /metrics text, and a failed run raises the
 * `maintenance.backup_failed` alert through the real alerting engine.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import { BACKUP_FAILED_RULE, ensureBackupAlertRule, recordBackupOutcome } from '../../src/maintenance/backup_alert.js';
import { backupMetrics } from '../../src/maintenance/backup_metrics.js';
import { BackupScheduler, backupDirectoryOf, scheduledArchiveName } from '../../src/maintenance/backup_schedule.js';
import { MaintenanceBusyError, MaintenanceLock } from '../../src/maintenance/maintenance_lock.js';
import { createProgress, SILENT_PROGRESS } from '../../src/maintenance/progress.js';
import { T, T0, cycleAt, harness } from './alerts_test_kit.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'emms-sched-'));
  dirs.push(d);
  return d;
}

describe('BackupScheduler', () => {
  it('computes run times from the cron expression in UTC, and names archives by time', () => {
    const s = new BackupScheduler({ settings: { enabled: true, schedule: '30 2 * * *', directory: '', keep: 3 }, dataDir: '/srv/emms/data', storage: () => undefined, lock: new MaintenanceLock() });
    expect(new Date(s.nextRunAfter(Date.UTC(2026, 0, 1, 12))).toISOString()).toBe('2026-01-02T02:30:00.000Z');
    expect(s.directory).toBe('/srv/emms/data-backups');
    expect(backupDirectoryOf({ enabled: true, schedule: '* * * * *', directory: '/b', keep: 1 }, 'x')).toBe('/b');
    expect(scheduledArchiveName(Date.UTC(2026, 11, 7, 3, 0, 5, 123))).toBe('emms-backup-20261207T030005Z.tar.gz');
    expect(() => new BackupScheduler({ settings: { enabled: true, schedule: '61 * * * *', directory: '', keep: 1 }, dataDir: 'd', storage: () => undefined, lock: new MaintenanceLock() })).toThrow();
  });

  it('runs write archives, prune the oldest past keep, count outcomes, and show in /metrics', async () => {
    const data = tempDir();
    const engine = createMetricsSystem({ path: join(data, 'metrics.db'), queryWorkers: 0 });
    await engine.start();
    await engine.collectMetrics([{ metricId: 's.m', value: 1, timestamp: T0 }]);
    const directory = join(tempDir(), 'backups');
    let clock = T0;
    const outcomes: boolean[] = [];
    const lock = new MaintenanceLock();
    const s = new BackupScheduler({
      settings: { enabled: true, schedule: '0 * * * *', directory, keep: 2 }, dataDir: data, storage: () => engine.maintenance!(), lock,
      now: () => clock, onOutcome: (o) => outcomes.push(o.ok),
    });
    try {
      for (let i = 0; i < 3; i++) {
        clock = T0 + i * 3_600_000;
        await s.runOnce();
      }
      writeFileSync(join(directory, 'operator-notes.txt'), 'kept');
      expect(readdirSync(directory).sort()).toEqual(['emms-backup-20260101T010000Z.tar.gz', 'emms-backup-20260101T020000Z.tar.gz', 'operator-notes.txt']);
      expect(s.status()).toMatchObject({ successes: 3, failures: 0, lastFailed: false, lastSuccessMs: T0 + 2 * 3_600_000 });
      expect(s.status().lastBytes).toBeGreaterThan(0);
      // Another operation holding the lock makes the run fail, loudly.
      await lock.run('a compaction', async () => s.runOnce());
      expect(s.status()).toMatchObject({ failures: 1, lastFailed: true, lastError: 'a compaction is running; try again when it has finished' });
      expect(outcomes).toEqual([true, true, true, false]);
      const text = backupMetrics(s.status());
      expect(text).toContain(`emms_backup_last_success_timestamp_seconds ${(T0 + 2 * 3_600_000) / 1000}\n`);
      expect(text).toContain('emms_backup_failures_total 1\n');
      expect(text).toContain('emms_backup_successes_total 3\n');
      expect(text).toContain('emms_backup_last_failed 1\n');
      expect(text).toMatch(/# TYPE emms_backup_last_size_bytes gauge\nemms_backup_last_size_bytes \d+\n/);
    } finally {
      await s.stop();
      await engine.stop();
    }
    // A stopped engine is a failure too.
    const stopped = new BackupScheduler({ settings: { enabled: true, schedule: '0 * * * *', directory, keep: 2 }, dataDir: data, storage: () => undefined, lock });
    await stopped.runOnce();
    expect(stopped.status()).toMatchObject({ failures: 1, lastError: 'storage is not running' });
  });

  it('arms a timer only when enabled, fires it, re-arms, and stop() disarms', async () => {
    const data = tempDir();
    const engine = createMetricsSystem({ path: join(data, 'metrics.db'), queryWorkers: 0 });
    await engine.start();
    const off = new BackupScheduler({ settings: { enabled: false, schedule: '* * * * *', directory: join(data, '..', 'off'), keep: 1 }, dataDir: data, storage: () => engine.maintenance!(), lock: new MaintenanceLock() });
    off.start();
    expect(off.status().nextRunMs).toBe(0);
    // Now is 1 ms before a minute boundary: the every-minute schedule fires 1 ms later.
    let clock = Date.UTC(2026, 0, 1, 0, 0, 59, 999);
    const runs: boolean[] = [];
    const on = new BackupScheduler({
      settings: { enabled: true, schedule: '* * * * *', directory: join(tempDir(), 'b'), keep: 1 }, dataDir: data, storage: () => engine.maintenance!(), lock: new MaintenanceLock(),
      now: () => clock, onOutcome: (o) => { runs.push(o.ok); clock += 1000; },
    });
    on.start();
    expect(on.status().nextRunMs).toBe(Date.UTC(2026, 0, 1, 0, 1));
    clock += 1;
    await expect.poll(() => runs.length, { timeout: 10_000, interval: 5 }).toBe(1);
    expect(runs).toEqual([true]);
    await expect.poll(() => on.status().nextRunMs, { timeout: 5000, interval: 5 }).toBe(Date.UTC(2026, 0, 1, 0, 2));
    await on.stop();
    expect(on.status().nextRunMs).toBe(0);
    await engine.stop();
  });
});

describe('the backup failure alert', () => {
  it('installs its rule once and fires when a failure was recorded', async () => {
    const h = harness();
    try {
      ensureBackupAlertRule(h.alerting, T);
      ensureBackupAlertRule(h.alerting, T);
      expect(h.alerting.listRules(T).filter((r) => r.rule_id === BACKUP_FAILED_RULE.rule_id)).toHaveLength(1);
      await recordBackupOutcome(h.system, false, T0 + 500);
      await cycleAt(h, 1);
      expect(h.alerting.listAlerts(T).filter((a) => a.rule_id === BACKUP_FAILED_RULE.rule_id)).toEqual([]);
      await recordBackupOutcome(h.system, true, T0 + 1500);
      await cycleAt(h, 2);
      const fired = h.alerting.listAlerts(T).filter((a) => a.rule_id === BACKUP_FAILED_RULE.rule_id);
      expect(fired).toHaveLength(1);
      expect(fired[0]!.state).toBe('firing');
    } finally {
      await h.cleanup();
    }
  });
});

describe('MaintenanceLock and progress', () => {
  it('refuses a second operation while one runs, and frees itself on failure', async () => {
    const lock = new MaintenanceLock();
    let release!: () => void;
    const first = lock.run('a backup', () => new Promise<void>((r) => { release = r; }));
    expect(lock.running).toBe('a backup');
    await expect(lock.run('a cleanup', async () => 1)).rejects.toThrow(MaintenanceBusyError);
    release();
    await first;
    await expect(lock.run('a cleanup', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await lock.run('a compaction', async () => 7)).toBe(7);
  });

  it('prints plain lines with rate and ETA when not a terminal, at most one a second', () => {
    const out: string[] = [];
    let t = 0;
    const p = createProgress({ write: (s: string) => out.push(s) }, () => t);
    p.phase('archive x', 10e6, 'bytes');
    t = 500;
    p.update(1e6);
    t = 2000;
    p.update(4e6);
    t = 4000;
    p.end();
    p.phase('snapshot', 3, 'files');
    p.end();
    expect(out).toEqual([
      'archive x: 10.0 MB\n',
      'archive x: 40% (4.0 MB of 10.0 MB, 2.0 MB/s, ETA 3 s)\n',
      'archive x: 100% (10.0 MB of 10.0 MB, 2.5 MB/s, ETA 0 s) done in 4.0 s\n',
      'snapshot: 3 files\n',
      'snapshot: 100% (3 files of 3 files, 3000 files/s, ETA 0 s) done in 0.0 s\n',
    ]);
    SILENT_PROGRESS.phase('x', 1, 'files');
    SILENT_PROGRESS.update(1);
    SILENT_PROGRESS.end();
  });

  it('draws a cli-progress bar on a terminal', () => {
    let text = '';
    const tty = { isTTY: true, write: (s: string) => { text += s; return true; }, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, columns: 100, on: () => tty, removeListener: () => tty };
    const p = createProgress(tty as never);
    p.phase('extract a.tar.gz', 5e6, 'bytes');
    p.update(2.5e6);
    p.phase('verify checksums', 2, 'files');
    p.update(1);
    p.end();
    p.end();
    expect(text).toMatch(/extract a\.tar\.gz \[[^\]]*\] \d+% \| [\d.]+\/5 MB \| [\d.]+ MB\/s \| ETA/);
    expect(text).toMatch(/verify checksums \[[^\]]*\] 100% \| 2\/2 files/);
  });
});
