/**
 * The back-end's size as last measured, for StorageEngine.stats(): stats() is synchronous and
 * asked often (/health, /metrics), and for PostgreSQL and Redis the size is a round trip, so
 * it is refreshed in the background at most every SIZE_REFRESH_MS. One refresh at a time.
 */
import type { StorageBackend } from './backend.js';

/** How often stats() asks the back-end for its size (a network round trip for PostgreSQL and Redis). */
const SIZE_REFRESH_MS = 2000;

export class BackendSizeGauge {
  readonly #backend: StorageBackend;
  #bytes = 0;
  #measuredAt = -Infinity;
  #refreshing = false;

  constructor(backend: StorageBackend) {
    this.#backend = backend;
  }

  /** The last measured bytes; starts a refresh when the figure is older than SIZE_REFRESH_MS (unless `closed`). */
  bytes(closed: boolean): number {
    if (!closed && !this.#refreshing && performance.now() - this.#measuredAt >= SIZE_REFRESH_MS) {
      this.refresh().catch(() => undefined);
    }
    return this.#bytes;
  }

  async refresh(): Promise<void> {
    this.#refreshing = true;
    try {
      this.#bytes = (await this.#backend.size()).bytes;
      this.#measuredAt = performance.now();
    } finally {
      this.#refreshing = false;
    }
  }
}
