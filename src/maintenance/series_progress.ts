/**
 * Adapts a storage operation's per-series callback (SeriesProgress) to a Progress: the phase
 * starts at the first call, when the number of series is known, and ends once.
 */
import type { SeriesProgress } from '../model/maintainable_storage.js';
import type { Progress } from './progress.js';

export function seriesProgress(progress: Progress, name: string): { update: SeriesProgress; end: () => void } {
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        started = true;
        progress.phase(name, total, 'series');
      }
      progress.update(done);
    },
    end: () => {
      if (started) progress.end();
    },
  };
}
