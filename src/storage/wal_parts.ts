/**
 * The parts of a group commit's write-ahead record (version 2, write_ahead_log.ts), in the
 * batches' order: a batch whose timestamps and values a decode worker already encoded
 * (wal_prepared_columns.ts) is a part of its own and costs this thread only the compression of
 * its series ids; consecutive batches without such a block (the embedded API, HTTP bodies of
 * other protocols, decoding on the main thread) are concatenated into one part encoded here,
 * so that many small batches still compress as one.
 */
import { concatBatches } from './group_columns.js';
import type { IngestBatch } from './ingest_batch.js';
import { takePreparedColumns } from './wal_prepared_columns.js';
import { encodeColumnsBlock, type WalPart } from './write_ahead_log.js';

/**
 * `compress: false` (`storage.compression: none`): a worker's lz4 block is not used, the
 * batch is stored raw. The parts may point into columns reused by the next commit: encode
 * them (encodeWalRecordParts) before anything else commits.
 */
export function walParts(batches: readonly IngestBatch[], compress: boolean): WalPart[] {
  const parts: WalPart[] = [];
  let run: IngestBatch[] = [];
  let runPoints = 0;
  // The shared group columns serve one run only: a second would overwrite the first run's ids.
  let sharedColumnsUsed = false;
  const endRun = (): void => {
    if (run.length === 0) return;
    let merged = run[0]!;
    if (run.length > 1) {
      merged = concatBatches(run, runPoints, !sharedColumnsUsed);
      sharedColumnsUsed = true;
    }
    parts.push({ seriesIds: merged.seriesIds, columns: encodeColumnsBlock(merged.timestamps, merged.values, runPoints, compress) });
    run = [];
    runPoints = 0;
  };
  for (const batch of batches) {
    if (batch.length === 0) continue;
    const prepared = takePreparedColumns(batch.timestamps, batch.length);
    if (prepared !== undefined && (compress || !prepared.lz4)) {
      endRun();
      parts.push({ seriesIds: batch.seriesIds, columns: prepared });
    } else {
      run.push(batch);
      runPoints += batch.length;
    }
  }
  endRun();
  return parts;
}
