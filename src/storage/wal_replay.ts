/**
 * Replay of the write-ahead records when the storage engine (re)builds its state (open, a
 * failed commit, `emms reindex`): every point of a record not yet in chunks goes back into its
 * series' head. A series' mark says its points of records up to the mark are in chunks (a cut
 * landed), so those are skipped; nothing is applied twice or lost.
 */
import type { WalRecordRow } from './backend.js';
import type { HeadTable } from './head.js';
import type { HeadAges } from './settle_policy.js';
import type { WalLedger } from './wal_ledger.js';
import { decodeWalRecord } from './write_ahead_log.js';

/** Replays `records` (oldest first) into empty heads and ledger; returns the points appended. */
export async function replayWal(
  records: AsyncIterable<WalRecordRow>, marks: ReadonlyMap<number, number>, into: { heads: HeadTable; headAges: HeadAges; wal: WalLedger },
): Promise<number> {
  const { heads, headAges, wal } = into;
  let points = 0;
  for await (const { id: walId, data, createdMs } of records) {
    const { seriesIds, timestamps, values } = decodeWalRecord(data, walId);
    for (let i = 0; i < seriesIds.length; i++) {
      const sid = seriesIds[i]!;
      const mark = marks.get(sid);
      if (mark !== undefined && mark >= walId) continue;
      heads.append(sid, timestamps[i]!, values[i]!);
      points++;
      headAges.noteAppend(sid, walId, createdMs);
    }
    wal.noteReplayed(walId, data.length, createdMs);
  }
  // Ids the engine hands out continue after every id the back-end holds (a failed commit's are skipped).
  for (const [, walId] of marks) wal.noteUsedId(walId);
  return points;
}
