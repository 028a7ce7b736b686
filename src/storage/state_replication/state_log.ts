/**
 * The shared state log: one append-only, totally ordered log per cluster in the storage
 * back-end, holding every row change of the nodes' feature databases (sqlite_change_capture.ts).
 * Implementations: postgres/postgres_state_log.ts (a table with a bigserial version), redis/redis_state_log.ts
 * (a stream).
 *
 * Contract:
 * - `append` lands a batch whole or not at all, and entries become visible to `readAfter` in
 *   the order of their positions (no reader can see position n+1 before n); it resolves only
 *   once the back-end has committed the batch.
 * - Compaction: `append` removes the earlier entries of each appended entry's `rowKey`, in the
 *   same atomic step. The log so holds one entry per row (its latest state, or its deletion
 *   until that is dropped, below), not one per change: it grows with the rows, not with time. Replaying from any
 *   cursor still ends in the same state, because only entries that a later one of the same row
 *   overrides are removed, and that later one lies after every cursor the removed one did.
 * - Deletions: an entry that records a row's deletion (a tombstone) stays until
 *   `dropDeletions(ageMs)` removes it once it is older than `ageMs` by the back-end's clock, so
 *   rows created and later deleted (alert history past its retention, expired blocks) do not
 *   grow the log for ever. Dropping raises the log's deletion horizon (the newest dropped
 *   position) in the same atomic step; `missedDeletions(cursor)` says whether a reader at
 *   `cursor` is below it, i.e. may have missed a deletion: such a reader re-reads the whole log
 *   and removes the rows it does not find there (state_replicator.ts, resync).
 * - `readAfter(cursor, limit)` returns the entries after `cursor` (START: from the beginning),
 *   oldest first, at most `limit`.
 * - `claim(name, owner)` is a cluster-wide first-come claim: it returns the owner that holds
 *   `name` (the caller when it was first, or when it already held it).
 * - Positions are opaque strings; only the implementation compares them.
 */

export const START = '0';

export interface StateLogEntry {
  /** The node that wrote the change (its replication id, not a host name). */
  origin: string;
  /** Which feature database: its file name (auth.db, alerts.db …). */
  db: string;
  /** A RowChange as JSON. */
  change: string;
  /** The row the change is of (db, table, key), the same text on every node: compaction's key. */
  rowKey: string;
  /** Whether the change is the row's deletion (a tombstone, dropped after a while). */
  deletion: boolean;
}

export interface StoredStateLogEntry extends Omit<StateLogEntry, 'rowKey' | 'deletion'> {
  position: string;
}

export interface StateLog {
  /** Names the back-end and its location, password redacted (for messages and /metrics). */
  readonly describe: string;
  append(entries: readonly StateLogEntry[]): Promise<void>;
  readAfter(cursor: string, limit: number): Promise<StoredStateLogEntry[]>;
  claim(name: string, owner: string): Promise<string>;
  /** Removes at most `limit` deletion entries older than `ageMs`; returns how many it removed. */
  dropDeletions(ageMs: number, limit: number): Promise<number>;
  /** Whether deletions after `cursor` were dropped (false for START: a new node has nothing to delete). */
  missedDeletions(cursor: string): Promise<boolean>;
  close(): Promise<void>;
}
