/**
 * Child process of cluster_lease.test.ts: one lease contender. Prints, one per line:
 *   ready                      the lease is open (first attempt made)
 *   acquired <epoch ms>        onAcquired ran
 *   lost <epoch ms> <reason>   onLost ran
 *   state <epoch ms> <0|1>     `held`, sampled every SAMPLE_MS
 * The clock is read BEFORE `held`, so a process stopped between the two reports its sample
 * early and not-held (conservative for the parent's overlap check), never held and late.
 * Exits when its stdin closes (the parent ended), so no contender outlives the test.
 *
 * Usage: node --import tsx tests/integration/cluster_lease_child.ts postgres|redis <url> <name> <options JSON>
 */
import { openPostgresLease } from '../../src/cluster/postgres_lease.js';
import { openRedisLease } from '../../src/cluster/redis_lease.js';
import type { Lease, LeaseHandlers } from '../../src/cluster/lease.js';

const SAMPLE_MS = 20;

async function main(kind: string, url: string, name: string, optionsJson: string): Promise<void> {
  const options = JSON.parse(optionsJson) as Record<string, number | string>;
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const handlers: LeaseHandlers = {
    onAcquired: () => out(`acquired ${Date.now()}`),
    onLost: (reason) => out(`lost ${Date.now()} ${reason.replace(/\n/g, ' ')}`),
    onError: (err) => process.stderr.write(`error ${err.message}\n`),
  };
  const lease: Lease = kind === 'postgres'
    ? await openPostgresLease({ url, name, ...options }, handlers)
    : await openRedisLease({ url, name, ...options }, handlers);
  out('ready');
  setInterval(() => {
    const at = Date.now();
    out(`state ${at} ${lease.held ? 1 : 0}`);
  }, SAMPLE_MS);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

const [kind, url, name, options] = process.argv.slice(2);
main(kind!, url!, name!, options ?? '{}').catch((err: unknown) => {
  process.stderr.write(`fatal ${(err as Error).message}\n`);
  process.exit(1);
});
