/**
 * `emms reindex`: rebuilds the store's indexes (SQLite REINDEX of the series key and the chunk
 * index) and its in-memory chunk catalogue from the stored rows, and deletes chunks of series
 * that do not exist. For a store whose index is suspected damaged (a query missing chunks the
 * table has), or after copying files by hand.
 */
import type { MaintainableStorage, ReindexOutcome } from '../model/maintainable_storage.js';
import { measured, type OperationReport } from './operation_report.js';

export function runReindex(storage: MaintainableStorage): Promise<OperationReport<ReindexOutcome>> {
  return measured('reindex', storage, undefined, () => storage.reindex());
}
