/**
 * Caps on connections overall and per client address (`security.limits.max_connections`,
 * `max_connections_per_address`).
 *
 * uWebSockets.js has no accept hook and no close hook for HTTP connections, so what is counted
 * is what the server can see:
 * - every open WebSocket stream, from its upgrade request to its close;
 * - every HTTP request being answered, from its handler to its answer (or abort).
 * Past a cap the request or upgrade is answered (503 overall, 429 for one address) and its
 * connection closed. Not counted: idle keep-alive HTTP connections between requests and
 * connections still sending their request headers; uWS closes both on its own after 10 s
 * without a complete request (its fixed HTTP idle timeout, also the header deadline), so
 * neither can be held open for long.
 */
export interface ConnectionCaps {
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

export class ConnectionLimiter {
  readonly #caps: ConnectionCaps;
  readonly #byAddress = new Map<string, number>();
  #total = 0;

  constructor(caps: ConnectionCaps) {
    this.#caps = caps;
  }

  /** Counts one more connection of `address`, or names the cap it would pass (nothing counted then). */
  tryOpen(address: string): 'ok' | 'total' | 'address' {
    if (this.#total >= this.#caps.maxConnections) return 'total';
    const n = this.#byAddress.get(address) ?? 0;
    if (n >= this.#caps.maxConnectionsPerAddress) return 'address';
    this.#byAddress.set(address, n + 1);
    this.#total++;
    return 'ok';
  }

  /** Gives back one connection of `address` (exactly once per successful tryOpen). */
  close(address: string): void {
    const n = this.#byAddress.get(address);
    if (n === undefined) return;
    if (n <= 1) this.#byAddress.delete(address);
    else this.#byAddress.set(address, n - 1);
    this.#total--;
  }

  get total(): number {
    return this.#total;
  }

  /** The answer to a refused tryOpen. */
  refusal(kind: 'total' | 'address', address: string): { status: number; body: Record<string, unknown>; headers: Record<string, string>; close: true } {
    const body = kind === 'total'
      ? { error: `server has security.limits.max_connections=${this.#caps.maxConnections} connections open; retry later` }
      : { error: `client address ${address} has security.limits.max_connections_per_address=${this.#caps.maxConnectionsPerAddress} connections open; close some first` };
    return { status: kind === 'total' ? 503 : 429, body, headers: { 'retry-after': '1' }, close: true };
  }
}
