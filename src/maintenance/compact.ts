/**
 * `emms compact`: flushes the heads, merges small and overlapping chunks into full ones, and
 * returns free pages to the file system, now rather than at the next checkpoint or stop.
 */
import type { MaintainableStorage } from '../model/maintainable_storage.js';
import { measured, type OperationReport } from './operation_report.js';
import { SILENT_PROGRESS, type Progress } from './progress.js';
import { seriesProgress } from './series_progress.js';

export function runCompact(storage: MaintainableStorage, progress: Progress = SILENT_PROGRESS): Promise<OperationReport<Record<string, never>>> {
  return measured('compact', storage, undefined, async () => {
    const tracker = seriesProgress(progress, 'compact');
    await storage.compact(tracker.update);
    tracker.end();
    return {};
  });
}
