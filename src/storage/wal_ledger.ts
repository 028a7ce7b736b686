/**
 * The storage engine's account of the write-ahead records the back-end holds (storage_engine.ts):
 * their ids, sizes and ages, so that it can decide when a checkpoint is due and which records a
 * checkpoint slice deletes without asking the back-end.
 *
 * Invariants: the log lists every record in the back-end, oldest first, and nothing else;
 * `bytes`, `records` and `oldestMs` are its sums. `lastId` is the newest id handed out (records
 * of a failed commit included, so ids never repeat); it survives `clear()` (a checkpoint deleted
 * every record) and is rebuilt only by `reset()` before a replay.
 */

export class WalLedger {
  /** Flat [id, bytes, createdMs] of every write-ahead record, oldest first. */
  #log: number[] = [];
  #lastId = 0;
  #bytes = 0;
  #records = 0;
  #oldestMs = 0;

  /** The records, as flat [id, bytes, createdMs] triples (settle_policy.ts reads them so). */
  get log(): readonly number[] {
    return this.#log;
  }

  get lastId(): number {
    return this.#lastId;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get records(): number {
    return this.#records;
  }

  /** Creation time of the oldest record (0 when there is none). */
  get oldestMs(): number {
    return this.#oldestMs;
  }

  /** Forgets everything, ids included: a replay from the back-end follows. */
  reset(): void {
    this.clear();
    this.#lastId = 0;
  }

  /** Every record was deleted; ids go on from the last one. */
  clear(): void {
    this.#bytes = 0;
    this.#records = 0;
    this.#oldestMs = 0;
    this.#log = [];
  }

  /** A record found by the replay at open. */
  noteReplayed(id: number, bytes: number, createdMs: number): void {
    this.#bytes += bytes;
    this.#records++;
    if (this.#oldestMs === 0) this.#oldestMs = createdMs;
    this.#log.push(id, bytes, createdMs);
    this.#lastId = id;
  }

  /** An id the back-end holds elsewhere (a series' mark): ids handed out continue after it. */
  noteUsedId(id: number): void {
    if (id > this.#lastId) this.#lastId = id;
  }

  /** The id of the next record. */
  nextId(): number {
    return ++this.#lastId;
  }

  /** A record with an id from nextId() was committed. */
  noteCommitted(id: number, bytes: number, createdMs: number): void {
    this.#bytes += bytes;
    if (this.#records++ === 0) this.#oldestMs = createdMs;
    this.#log.push(id, bytes, createdMs);
  }

  /**
   * The oldest records ≤ upTo, up to `maxBytes` of them: `bound` is the newest of them (0 when
   * none), `last` whether they are all the records ≤ upTo.
   */
  planDeletion(upTo: number, maxBytes: number): { bound: number; last: boolean } {
    const log = this.#log;
    let bound = 0;
    let bytes = 0;
    let k = 0;
    while (k < log.length && log[k]! <= upTo && bytes < maxBytes) {
      bound = log[k]!;
      bytes += log[k + 1]!;
      k += 3;
    }
    return { bound, last: !(k < log.length && log[k]! <= upTo) };
  }

  /** Forgets the accounting of records ≤ upTo (deleted by a background checkpoint). */
  dropUpTo(upTo: number): void {
    const log = this.#log;
    let k = 0;
    while (k < log.length && log[k]! <= upTo) k += 3;
    this.#log = log.slice(k);
    this.#bytes = 0;
    for (let j = 1; j < this.#log.length; j += 3) this.#bytes += this.#log[j]!;
    this.#records = this.#log.length / 3;
    this.#oldestMs = this.#records > 0 ? this.#log[2]! : 0;
  }

  /** Bytes of the records ≤ upTo. */
  bytesUpTo(upTo: number): number {
    const log = this.#log;
    let bytes = 0;
    for (let k = 0; k < log.length && log[k]! <= upTo; k += 3) bytes += log[k + 1]!;
    return bytes;
  }
}
