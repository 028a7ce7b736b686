/**
 * Scheduled backups (main.json `storage.backup_enabled`, `backup_schedule`, `backup_directory`,
 * `backup_keep`): a cron expression (UTC) says when; each run writes
 * `emms-backup-<UTC time>.tar.gz` into the directory and then deletes the oldest archives past
 * `keep`. Outcomes are counted for /metrics (backup_metrics.ts) and reported to `onOutcome`,
 * which the server uses to raise an alert on a failure (backup_alert.ts).
 *
 * A run that finds another maintenance operation running counts as a failure: a schedule that
 * silently skipped would let backups stop without anyone noticing.
 */
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import type { MaintainableStorage } from '../model/maintainable_storage.js';
import { createBackup, type BackupResult } from './backup.js';
import type { MaintenanceLock } from './maintenance_lock.js';

export interface BackupScheduleSettings {
  enabled: boolean;
  /** Cron expression, UTC. */
  schedule: string;
  /** '' = `<data dir>-backups`. */
  directory: string;
  keep: number;
}

export interface BackupScheduleStatus {
  successes: number;
  failures: number;
  /** Epoch ms of the last successful backup; 0 = none yet. */
  lastSuccessMs: number;
  lastDurationMs: number;
  lastBytes: number;
  /** Whether the most recent run failed. */
  lastFailed: boolean;
  lastError: string | undefined;
  /** Epoch ms of the next run; 0 when not scheduled. */
  nextRunMs: number;
}

export interface BackupSchedulerOptions {
  settings: BackupScheduleSettings;
  dataDir: string;
  storage: () => MaintainableStorage | undefined;
  lock: MaintenanceLock;
  onOutcome?: (outcome: { ok: true; result: BackupResult } | { ok: false; error: Error }) => void;
  now?: () => number;
}

const ARCHIVE_NAME = /^emms-backup-\d{8}T\d{6}Z\.tar\.gz$/;
/** setTimeout's longest delay; a later run is re-armed from there. */
const MAX_TIMER_MS = 2_147_483_647;

/** Where scheduled backups of `dataDir` go. */
export function backupDirectoryOf(settings: BackupScheduleSettings, dataDir: string): string {
  return settings.directory === '' ? `${resolve(dataDir)}-backups` : resolve(settings.directory);
}

/** `emms-backup-20261207T030000Z.tar.gz`: sorts by time. */
export function scheduledArchiveName(ms: number): string {
  return `emms-backup-${new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}.tar.gz`;
}

export class BackupScheduler {
  readonly #opts: BackupSchedulerOptions;
  readonly #now: () => number;
  readonly #directory: string;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;
  readonly #status: BackupScheduleStatus = {
    successes: 0, failures: 0, lastSuccessMs: 0, lastDurationMs: 0, lastBytes: 0, lastFailed: false, lastError: undefined, nextRunMs: 0,
  };

  constructor(options: BackupSchedulerOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
    this.#directory = backupDirectoryOf(options.settings, options.dataDir);
    // Checked again here (config.ts checks it first) so a bad expression fails at start, not at 3 am.
    CronExpressionParser.parse(options.settings.schedule, { tz: 'UTC' });
  }

  get directory(): string {
    return this.#directory;
  }

  status(): BackupScheduleStatus {
    return { ...this.#status };
  }

  /** The first run time strictly after `fromMs`. */
  nextRunAfter(fromMs: number): number {
    return CronExpressionParser.parse(this.#opts.settings.schedule, { tz: 'UTC', currentDate: new Date(fromMs) }).next().getTime();
  }

  start(): void {
    if (!this.#opts.settings.enabled || this.#stopped) return;
    this.#arm(this.nextRunAfter(this.#now()));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#status.nextRunMs = 0;
    await this.#running;
  }

  /** Takes a scheduled backup now (the timer calls this; tests too). Never throws: outcomes are counted. */
  async runOnce(): Promise<void> {
    const started = this.#now();
    try {
      const storage = this.#opts.storage();
      if (storage === undefined) throw new Error('storage is not running');
      await fs.mkdir(this.#directory, { recursive: true, mode: 0o700 });
      const output = join(this.#directory, scheduledArchiveName(started));
      const result = await this.#opts.lock.run('a scheduled backup', () => createBackup({ dataDir: this.#opts.dataDir, output, storage }));
      await this.#prune();
      Object.assign(this.#status, {
        successes: this.#status.successes + 1, lastSuccessMs: this.#now(), lastDurationMs: result.durationMs, lastBytes: result.bytes, lastFailed: false, lastError: undefined,
      });
      this.#opts.onOutcome?.({ ok: true, result });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      Object.assign(this.#status, { failures: this.#status.failures + 1, lastFailed: true, lastError: error.message, lastDurationMs: this.#now() - started });
      this.#opts.onOutcome?.({ ok: false, error });
    }
  }

  #arm(atMs: number): void {
    this.#status.nextRunMs = atMs;
    const delay = Math.max(0, atMs - this.#now());
    this.#timer = setTimeout(() => {
      if (delay > MAX_TIMER_MS || this.#now() < atMs) return this.#arm(atMs);
      this.#running = this.runOnce().finally(() => {
        this.#running = undefined;
        if (!this.#stopped) this.#arm(this.nextRunAfter(this.#now()));
      });
    }, Math.min(delay, MAX_TIMER_MS));
    this.#timer.unref();
  }

  /** Deletes the oldest scheduled archives past `keep` (other files in the directory are left alone). */
  async #prune(): Promise<void> {
    const archives = (await fs.readdir(this.#directory)).filter((n) => ARCHIVE_NAME.test(n)).sort();
    for (const name of archives.slice(0, Math.max(0, archives.length - this.#opts.settings.keep))) {
      await fs.rm(join(this.#directory, name), { force: true });
    }
  }
}
