/**
 * `emms cleanup --older-than=90d [--tenant T]`: deletes every point older than an age, of one
 * tenant or all, now (retention does the same for whole chunks, in the background, from the
 * configured days). The age is a count and a unit (s, m, h, d, w), bounded.
 */
import type { CleanupOutcome, MaintainableStorage } from '../model/maintainable_storage.js';
import { measured, type OperationReport } from './operation_report.js';
import { SILENT_PROGRESS, type Progress } from './progress.js';
import { seriesProgress } from './series_progress.js';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
/** 1,000 years: past this an age is a typo. */
const MAX_AGE_MS = 1000 * 365 * 86_400_000;
const AGE = /^(\d{1,12})([smhdw])$/;

/** Milliseconds of an age like `90d`; throws naming the value. */
export function parseAge(text: string, field = 'older-than'): number {
  const m = AGE.exec(text.trim());
  if (m === null) throw new RangeError(`${field}=${JSON.stringify(text)} must be a count and a unit (s, m, h, d, w), e.g. 90d`);
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  if (ms <= 0 || ms > MAX_AGE_MS) throw new RangeError(`${field}=${JSON.stringify(text)} must be more than 0 and at most 1000 years`);
  return ms;
}

export function runCleanup(
  storage: MaintainableStorage, ageMs: number, tenant: string | undefined, nowMs = Date.now(), progress: Progress = SILENT_PROGRESS,
): Promise<OperationReport<CleanupOutcome & { cutoff: string }>> {
  const cutoffMs = nowMs - ageMs;
  return measured('cleanup', storage, tenant, async () => {
    const tracker = seriesProgress(progress, 'cleanup');
    const outcome = await storage.deleteOlderThan(cutoffMs, tenant, tracker.update);
    tracker.end();
    return { cutoff: new Date(cutoffMs).toISOString(), ...outcome };
  });
}
