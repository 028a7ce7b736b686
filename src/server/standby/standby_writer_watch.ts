/**
 * A standby's idea of where the writer is and whether it answers: every WATCH_INTERVAL_MS it
 * asks the lease's server for the address the current writer published (writer_lease.ts) and
 * probes that writer's `GET /health/ready`. The forwarder sends requests to `address` and
 * reports `reachable` as its own readiness, so a load balancer keeps a standby in rotation
 * exactly while the writer behind it can take its traffic.
 *
 * A forwarding failure (`suspect()`) starts the next round at once: after a failover the new
 * writer is found within one lease lookup instead of a full interval.
 */
import type { WriterDirectory } from '../../cluster/writer_lease.js';

/** How often the writer's address and readiness are checked, ms: a new writer is found within this (plus its start-up). */
export const WATCH_INTERVAL_MS = 500;
/** Longest wait for the writer's readiness answer; a slower writer counts as unreachable this round. */
const PROBE_TIMEOUT_MS = 2_000;

export interface WriterState {
  /** The published URL of the current writer, if any. */
  address: string | undefined;
  /** The writer answered `GET /health/ready` with 200 on the last round. */
  reachable: boolean;
  /** Why the writer is not reachable (lookup failed, no writer, its answer), for /health and logs. */
  problem: string | undefined;
  /** Date.now() of the last finished round; 0 before the first. */
  checkedAtMs: number;
}

export class WriterWatch {
  #state: WriterState = { address: undefined, reachable: false, problem: 'not checked yet', checkedAtMs: 0 };
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly directory: WriterDirectory,
    /** This node's own advertised URL: never a writer to forward to (it would forward to itself). */
    private readonly ownAddress: string | undefined,
    private readonly onChange: (state: WriterState, previous: WriterState) => void = () => undefined,
  ) {}

  get state(): WriterState {
    return this.#state;
  }

  /** Runs the first round and resolves when it is done; later rounds follow by themselves. */
  start(): Promise<void> {
    return this.#run();
  }

  /** A request to the writer failed: check again now rather than at the next interval. */
  suspect(): void {
    if (this.#stopped || this.#round !== undefined) return;
    clearTimeout(this.#timer);
    void this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
  }

  #run(): Promise<void> {
    this.#round ??= this.#check().finally(() => {
      this.#round = undefined;
      if (this.#stopped) return;
      this.#timer = setTimeout(() => void this.#run(), WATCH_INTERVAL_MS);
      this.#timer.unref();
    });
    return this.#round;
  }

  async #check(): Promise<void> {
    let next: WriterState;
    try {
      const address = await this.directory.writerAddress();
      if (address === undefined) next = { address, reachable: false, problem: 'no node holds the writer lease, or the writer published no address (storage.advertise_url)', checkedAtMs: Date.now() };
      else if (address === this.ownAddress) next = { address: undefined, reachable: false, problem: 'the published writer address is this node\'s own', checkedAtMs: Date.now() };
      else next = { address, ...(await probe(address)), checkedAtMs: Date.now() };
    } catch (err) {
      next = { address: this.#state.address, reachable: false, problem: `looking up the writer failed: ${(err as Error).message}`, checkedAtMs: Date.now() };
    }
    if (this.#stopped) return;
    const previous = this.#state;
    this.#state = next;
    if (previous.address !== next.address || previous.reachable !== next.reachable) this.onChange(next, previous);
  }
}

async function probe(address: string): Promise<{ reachable: boolean; problem: string | undefined }> {
  try {
    const r = await fetch(`${address}/health/ready`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), redirect: 'manual' });
    await r.body?.cancel();
    return r.status === 200 ? { reachable: true, problem: undefined } : { reachable: false, problem: `the writer ${address} answered /health/ready with ${r.status}` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    // OpenSSL's verification codes (DEPTH_ZERO_SELF_SIGNED_CERT, CERT_HAS_EXPIRED, …) mean the
    // writer answered but this node does not trust it: say so, and where trust comes from.
    if (cause !== undefined && /CERT|SELF_SIGNED|ERR_TLS_CERT_ALTNAME_INVALID/.test(cause)) {
      return { reachable: false, problem: `the writer ${address} presents a certificate this node does not trust (${cause}); give it the CA (NODE_EXTRA_CA_CERTS)` };
    }
    return { reachable: false, problem: `the writer ${address} does not answer: ${cause ?? (err as Error).message}` };
  }
}
