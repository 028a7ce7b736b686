/**
 * The writer lease of a shared store: of the EMMS nodes pointed at one PostgreSQL schema or
 * one Redis prefix, exactly one writes (the engine hands out series, chunk and write-ahead ids
 * from memory, so two writers would collide). The others wait as standbys and one takes over
 * within the lease's bound when the writer dies (postgres_lease.ts, redis_lease.ts).
 *
 * Fencing: the engine asks `held` before each write transaction, and the lease turns `held`
 * false before another node can acquire it; a transaction already in flight at that moment is
 * the only overlap, and its ids collide with the new writer's (a primary-key violation there,
 * after which the new writer reloads and sees the late write). A node whose lease is lost stops
 * writing for good: `onLost` tells its owner, which stops it (emms serve exits so that its
 * supervisor restarts it as a standby).
 *
 * Forwarding: the writer publishes the URL other nodes reach it at next to the lease
 * (`advertise`), and a standby, while it waits, listens and forwards every request to the
 * address `WriterDirectory.writerAddress()` answers (src/server/standby/standby_forwarder.ts).
 */
import { isAdvertisedLease, type Lease } from './lease.js';
import { openClusterLease, type ClusterLeaseSettings } from './cluster_lease.js';

export const WRITER_LEASE_NAME = 'writer';

/** A standby's view of the cluster's writer. */
export interface WriterDirectory {
  /** The URL the current writer published; undefined while no node writes or the writer published none. Rejects when the lease's server cannot be asked. */
  writerAddress(): Promise<string | undefined>;
}

export interface WriterLeaseHandlers {
  /** Called once, if another node already writes: this node waits for it to go, and may forward to it through `writer`. */
  onWaiting?: (writer: WriterDirectory) => void;
  /** The lease was taken but publishing `advertise` failed: standbys cannot forward to this node until it restarts. */
  onAdvertiseFailed?: (err: Error) => void;
  /** This node held the lease and lost it: it must not write any more. */
  onLost: (reason: string) => void;
  onError?: (err: Error) => void;
}

/** Resolves once this node holds the writer lease (a standby waits here); rejects when the lease's server cannot be reached. */
export async function acquireWriterLease(settings: ClusterLeaseSettings, handlers: WriterLeaseHandlers, advertise?: string): Promise<Lease> {
  let acquired!: () => void;
  const held = new Promise<void>((resolve) => {
    acquired = resolve;
  });
  let wasHeld = false;
  const lease = await openClusterLease(settings, WRITER_LEASE_NAME, {
    onAcquired: () => {
      wasHeld = true;
      acquired();
    },
    onLost: (reason) => {
      if (wasHeld) handlers.onLost(reason);
    },
    ...(handlers.onError === undefined ? {} : { onError: handlers.onError }),
  });
  if (!lease.held) {
    handlers.onWaiting?.({
      writerAddress: () => (isAdvertisedLease(lease) ? lease.holderAddress() : Promise.resolve(undefined)),
    });
  }
  await held;
  if (advertise !== undefined && isAdvertisedLease(lease)) {
    await lease.advertise(advertise).catch((err: unknown) => handlers.onAdvertiseFailed?.(err as Error));
  }
  return lease;
}
