/**
 * Scheduled backups in /metrics (Prometheus text), so that a scrape-based monitor sees a
 * backup that stopped happening (last success time) as well as one that failed.
 */
import type { BackupScheduleStatus } from './backup_schedule.js';

export function backupMetrics(status: BackupScheduleStatus): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  metric('emms_backup_last_success_timestamp_seconds', 'gauge', 'Time of the last successful scheduled backup (0: none yet).', status.lastSuccessMs / 1000);
  metric('emms_backup_last_duration_seconds', 'gauge', 'Duration of the last scheduled backup, successful or not.', status.lastDurationMs / 1000);
  metric('emms_backup_last_size_bytes', 'gauge', 'Size of the last successful scheduled backup archive.', status.lastBytes);
  metric('emms_backup_last_failed', 'gauge', '1 when the most recent scheduled backup failed.', status.lastFailed ? 1 : 0);
  metric('emms_backup_successes_total', 'counter', 'Scheduled backups that succeeded.', status.successes);
  metric('emms_backup_failures_total', 'counter', 'Scheduled backups that failed.', status.failures);
  metric('emms_backup_next_run_timestamp_seconds', 'gauge', 'Time of the next scheduled backup (0: not scheduled).', status.nextRunMs / 1000);
  return `${lines.join('\n')}\n`;
}
