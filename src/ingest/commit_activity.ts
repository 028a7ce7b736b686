/**
 * Whether ingest batches wait for this thread: how many submitted batches are not committed
 * yet, and when the last group committed (src/ingest/group_commit.ts notes both). Query
 * admission (src/server/query_concurrency.ts) reads it to keep a share of the main thread for
 * commits and to start no query while a commit waits in the same check phase (acks first).
 *
 * A process-wide signal, as query_pressure.ts is, because the server's admission and the
 * engine's group commit are wired separately; tests with several engines in one process only
 * make their queries yield to each other's ingest a little more often, with the same answers.
 */
/**
 * Ingest counts as active for this long after a commit: the load generator's frames arrive
 * every few ms at half rate, so 100 ms without a commit means ingest stopped, not a gap.
 * The storage engine's own idea of active ingest uses the same span (maintenance_scheduler.ts).
 */
export const INGEST_ACTIVE_MS = 100;

let uncommitted = 0;
let lastCommitAt = -Infinity;

export const commitActivity = {
  /** Batches submitted and not yet committed (their acks wait). */
  get uncommitted(): number {
    return uncommitted;
  },
  /** Whether a group committed in the last INGEST_ACTIVE_MS or batches wait for their commit. */
  get active(): boolean {
    return uncommitted > 0 || performance.now() - lastCommitAt < INGEST_ACTIVE_MS;
  },
  /** `n` batches submitted. */
  noteSubmitted(n: number): void {
    uncommitted += n;
  },
  /** A group of `n` batches committed or failed: either way their acks no longer wait. */
  noteSettled(n: number, committed: boolean): void {
    uncommitted = Math.max(0, uncommitted - n);
    if (committed) lastCommitAt = performance.now();
  },
};
