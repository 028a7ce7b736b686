/**
 * Errors of the storage engine that callers act on by type (the server answers them with a
 * status of their own instead of 500).
 */

/**
 * This node lost the writer lease of a shared store (src/cluster/writer_lease.ts): another
 * node writes it now. Nothing of the refused batch was stored; a client retries on another
 * node (the server answers 503).
 */
export class WriterLeaseLostError extends Error {
  constructor(location: string) {
    super(`${location}: this node no longer holds the writer lease; another node writes the store now`);
    this.name = 'WriterLeaseLostError';
  }
}
