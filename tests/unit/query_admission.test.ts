/**
 * The query admission queue (src/server/query_concurrency.ts): per-tenant quota with waiting,
 * round-robin over clients, alike waiting queries sharing one run, bounded waits and queues,
 * and bounded synchronous work per event-loop turn.
 */
import { describe, expect, it } from 'vitest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { QueryConcurrency } from '../../src/server/query_concurrency.js';
import { queryPressure } from '../../src/query/query_pressure.js';
import { DEFAULT_QUOTAS, QuotaExceededError, fixedQuotas } from '../../src/tenancy/quota.js';

const quotas = (queryConcurrency: number) => fixedQuotas({ ...DEFAULT_QUOTAS, queryConcurrency });

/** A query that finishes when `release()` is called, recording when it started. */
function gated(log: string[], name: string, value: unknown = name): { query: () => Promise<unknown>; release: () => void } {
  let release: () => void = () => undefined;
  const done = new Promise<void>((r) => (release = r));
  return {
    query: async () => {
      log.push(name);
      await done;
      return value;
    },
    release: () => release(),
  };
}

/** Busy-waits `ms` on this thread, as an inline aggregation does. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* holds the thread */ }
}

describe('query admission', () => {
  it('starts queries under the quota at once; past it they wait and start as slots free, in order', async () => {
    const q = new QueryConcurrency(quotas(2));
    const log: string[] = [];
    const a = gated(log, 'a');
    const b = gated(log, 'b');
    const c = gated(log, 'c');
    const pa = q.run('t', a.query);
    const pb = q.run('t', b.query);
    const pc = q.run('t', c.query);
    await nextTurn();
    expect(log).toEqual(['a', 'b']);
    expect(q.running).toBe(2);
    expect(q.waiting).toBe(1);
    expect(queryPressure.waiting).toBe(1);
    a.release();
    expect(await pa).toBe('a');
    await expect.poll(() => log).toEqual(['a', 'b', 'c']);
    expect(q.waiting).toBe(0);
    expect(queryPressure.waiting).toBe(0);
    b.release();
    c.release();
    expect(await Promise.all([pb, pc])).toEqual(['b', 'c']);
    expect(q.running).toBe(0);
  });

  it('the engine sees contention after its first await while another query waits or runs, and not when alone', async () => {
    const q = new QueryConcurrency(quotas(2));
    // As the engine decides: after an await (snapshotReady), not when admission calls it.
    const contendedAfterAwait = async (seen: boolean[]): Promise<void> => {
      await Promise.resolve();
      seen.push(queryPressure.contended);
    };
    const alone: boolean[] = [];
    await q.run('t', () => contendedAfterAwait(alone));
    expect(alone).toEqual([false]);
    expect(queryPressure.running).toBe(0);

    const gate = gated([], 'g');
    const first = q.run('t', gate.query);
    const seen: boolean[] = [];
    // Admitted at once (quota 2) while `first` runs: not alone.
    const second = q.run('t', () => contendedAfterAwait(seen));
    await second;
    expect(seen).toEqual([true]);
    // Past the quota a query waits: the running one is not alone either.
    const other = gated([], 'o');
    const third = q.run('t', other.query);
    const fourth = q.run('t', () => contendedAfterAwait(seen));
    await nextTurn();
    expect([queryPressure.running, queryPressure.waiting, queryPressure.contended]).toEqual([2, 1, true]);
    // Once the others end, the fourth runs alone.
    gate.release();
    other.release();
    await Promise.all([first, third, fourth]);
    expect(seen).toEqual([true, false]);
    expect(queryPressure.running).toBe(0);
    expect(queryPressure.waiting).toBe(0);
  });

  it('another tenant is not held back by a tenant at its quota', async () => {
    const q = new QueryConcurrency(quotas(1));
    const log: string[] = [];
    const a1 = gated(log, 'a1');
    const a2 = gated(log, 'a2');
    const b1 = gated(log, 'b1');
    const p = [q.run('a', a1.query), q.run('a', a2.query), q.run('b', b1.query)];
    await expect.poll(() => log).toEqual(['a1', 'b1']);
    b1.release();
    a1.release();
    await expect.poll(() => log).toEqual(['a1', 'b1', 'a2']);
    a2.release();
    expect(await Promise.all(p)).toEqual(['a1', 'a2', 'b1']);
  });

  it('serves waiting clients round-robin: a burst of one client does not push another back', async () => {
    const q = new QueryConcurrency(quotas(1));
    const log: string[] = [];
    const first = gated(log, 'first');
    const pFirst = q.run('t', first.query, { client: 'x' });
    await nextTurn();
    const burst = Array.from({ length: 3 }, (_, i) => q.run('t', async () => { log.push(`x${i}`); return i; }, { client: 'x' }));
    const other = q.run('t', async () => { log.push('y'); return 'y'; }, { client: 'y' });
    first.release();
    await Promise.all([pFirst, other, ...burst]);
    // y asked after x's whole burst but is served second.
    expect(log).toEqual(['first', 'x0', 'y', 'x1', 'x2']);
  });

  it('alike waiting queries share one run; a running one is never joined', async () => {
    const q = new QueryConcurrency(quotas(1));
    const log: string[] = [];
    const running = gated(log, 'running', 'old');
    const p0 = q.run('t', running.query, { key: 'k' });
    await nextTurn();
    const shared = { series: [] };
    const joiners = Array.from({ length: 5 }, () => q.run('t', async () => { log.push('run'); return shared; }, { key: 'k' }));
    const otherKey = q.run('t', async () => { log.push('other'); return 'other'; }, { key: 'j' });
    expect(q.waiting).toBe(6);
    running.release();
    expect(await p0).toBe('old');
    const answers = await Promise.all(joiners);
    expect(answers.every((a) => a === shared)).toBe(true);
    expect(await otherKey).toBe('other');
    expect(log).toEqual(['running', 'run', 'other']);
  });

  it('a query alike to a running one waits for it to end, and the alike ones asked meanwhile share its run', async () => {
    const q = new QueryConcurrency(quotas(64), { holdBehindAlikeMs: 60_000, maxWaitMs: 60_000 });
    const log: string[] = [];
    const running = gated(log, 'running', 'old');
    const p0 = q.run('t', running.query, { key: 'k' });
    await nextTurn();
    const next = { series: [] };
    // Under the quota and with budget left, yet held: a second identical run would repeat the first.
    const held = Array.from({ length: 4 }, (_, i) => q.run('t', async () => { log.push('next'); return next; }, { client: `c${i}`, key: 'k' }));
    const other = q.run('t', async () => { log.push('other'); return 'other'; }, { key: 'j' });
    expect(await other).toBe('other');
    expect(q.waiting).toBe(4);
    expect(log).toEqual(['running', 'other']);
    running.release();
    expect(await p0).toBe('old');
    const answers = await Promise.all(held);
    expect(answers.every((a) => a === next)).toBe(true);
    expect(log).toEqual(['running', 'other', 'next']);
    expect(q.waiting).toBe(0);
    expect(queryPressure.waiting).toBe(0);
  });

  it('past the hold a query alike to a still running one starts its own run; other queries in its queue are never held', async () => {
    const q = new QueryConcurrency(quotas(64), { holdBehindAlikeMs: 30, maxWaitMs: 60_000 });
    const log: string[] = [];
    const long = gated(log, 'long');
    const p0 = q.run('t', long.query, { client: 'x', key: 'k' });
    await nextTurn();
    const twin = q.run('t', async () => { log.push('twin'); return 'twin'; }, { client: 'x', key: 'k' });
    // Behind the held twin in client x's queue, but not alike: it does not wait for the hold.
    const behind = q.run('t', async () => { log.push('behind'); return 'behind'; }, { client: 'x', key: 'j' });
    // (Which of the two starts first depends on how long this thread was away: no order asserted.)
    expect(await behind).toBe('behind');
    // The hold ends with nothing else happening: the twin starts without the long one ending.
    expect(await twin).toBe('twin');
    expect(log.slice().sort()).toEqual(['behind', 'long', 'twin']);
    long.release();
    expect(await p0).toBe('long');
    expect(q.running).toBe(0);
  });

  it('alike queries of different clients of one tenant share a run; another tenant\'s never', async () => {
    const q = new QueryConcurrency(quotas(1));
    const log: string[] = [];
    const gateA = gated(log, 'a-running');
    const gateB = gated(log, 'b-running');
    const running = [q.run('a', gateA.query), q.run('b', gateB.query)];
    await nextTurn();
    const asked = [
      q.run('a', async () => { log.push('a-run'); return 'a'; }, { client: 'alice', key: 'k' }),
      q.run('a', async () => { log.push('a-run'); return 'a'; }, { client: 'bob', key: 'k' }),
      q.run('b', async () => { log.push('b-run'); return 'b'; }, { client: 'carol', key: 'k' }),
    ];
    gateA.release();
    gateB.release();
    expect(await Promise.all(asked)).toEqual(['a', 'a', 'b']);
    await Promise.all(running);
    expect(log.filter((x) => x === 'a-run')).toHaveLength(1);
    expect(log.filter((x) => x === 'b-run')).toHaveLength(1);
  });

  it('a joined run that fails fails every joiner', async () => {
    const q = new QueryConcurrency(quotas(1));
    const gate = gated([], 'g');
    const p0 = q.run('t', gate.query);
    await nextTurn();
    const boom = new Error('bad chunk');
    const joiners = [0, 1].map(() => q.run('t', () => Promise.reject(boom), { key: 'k' }));
    gate.release();
    await p0;
    for (const j of joiners) await expect(j).rejects.toBe(boom);
    // A query that throws before returning a promise is refused the same way.
    await expect(q.run('t', () => { throw boom; })).rejects.toBe(boom);
    expect(q.running).toBe(0);
  });

  it('refuses a query that waited too long, and one past the tenant queue bound, with QuotaExceededError', async () => {
    const q = new QueryConcurrency(quotas(1), { maxWaitMs: 30, maxQueuedPerTenant: 2 });
    const gate = gated([], 'g');
    const p0 = q.run('t', gate.query);
    await nextTurn();
    const w1 = q.run('t', async () => 1, { key: 'a' });
    const w2 = q.run('t', async () => 2, { key: 'a' });
    const over = q.run('t', async () => 3);
    await expect(over).rejects.toBeInstanceOf(QuotaExceededError);
    await expect(over).rejects.toMatchObject({ quota: 'queryConcurrency', limit: 1, message: expect.stringMatching(/1 queries of this tenant are running and 2 waiting/) });
    await expect(w1).rejects.toThrow(/waited 30 ms behind 1 running queries/);
    await expect(w2).rejects.toBeInstanceOf(QuotaExceededError);
    expect(q.waiting).toBe(0);
    expect(queryPressure.waiting).toBe(0);
    gate.release();
    expect(await p0).toBe('g');
    // Slots and queue are free again.
    expect(await q.run('t', async () => 'again')).toBe('again');
  });

  it('one waiter giving up leaves its joined run to the others', async () => {
    const q = new QueryConcurrency(quotas(1), { maxWaitMs: 40 });
    const gate = gated([], 'g');
    const p0 = q.run('t', gate.query);
    await nextTurn();
    const early = q.run('t', async () => 'shared', { key: 'k' });
    await new Promise((r) => setTimeout(r, 25));
    const late = q.run('t', async () => 'shared', { key: 'k' });
    await expect(early).rejects.toBeInstanceOf(QuotaExceededError);
    gate.release();
    await p0;
    expect(await late).toBe('shared');
  });

  it('bounds synchronous query work per event-loop turn: other callbacks run between queries', async () => {
    const q = new QueryConcurrency(quotas(64), { turnBudgetMs: 4 });
    const order: string[] = [];
    const queries = Array.from({ length: 6 }, (_, i) => q.run('t', async () => {
      spin(3);
      order.push(`q${i}`);
    }));
    // An I/O-like callback queued after all of them (a timer of 0 ms runs in the next loop's timers phase).
    const other = new Promise<void>((r) => setTimeout(() => { order.push('io'); r(); }, 0));
    await Promise.all([...queries, other]);
    // Two 3 ms queries fill a 4 ms turn; the timer runs before the last ones instead of after all six.
    expect(order.indexOf('io')).toBeLessThan(5);
    expect(order.indexOf('io')).toBeGreaterThanOrEqual(1);
    expect(order.filter((x) => x.startsWith('q'))).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
  });

  it('counts the work a query does after its first await (an inline read) against the turn', async () => {
    const q = new QueryConcurrency(quotas(64), { turnBudgetMs: 4 });
    const order: string[] = [];
    const queries = Array.from({ length: 12 }, (_, i) => q.run('t', async () => {
      await Promise.resolve();
      spin(3);
      order.push(`q${i}`);
    }));
    const other = new Promise<void>((r) => setTimeout(() => { order.push('io'); r(); }, 0));
    await Promise.all([...queries, other]);
    // Counting only the synchronous part (nothing here), all twelve (36 ms) ran before the timer.
    // (How many start before it depends on the first estimate and on the machine's load.)
    expect(order.indexOf('io')).toBeLessThan(12);
    expect(order.filter((x) => x.startsWith('q'))).toEqual(Array.from({ length: 12 }, (_, i) => `q${i}`));
    // The turns measured it: ~3 ms a start, so a turn of 4 ms starts one or two of them.
    const later: string[] = [];
    const more = Array.from({ length: 6 }, (_, i) => q.run('t', async () => {
      await Promise.resolve();
      spin(3);
      later.push(`q${i}`);
    }));
    const tick = new Promise<void>((r) => setTimeout(() => { later.push('io'); r(); }, 0));
    await Promise.all([...more, tick]);
    // Loose on purpose: a loaded machine may stretch a turn; what matters is that the timer
    // does not wait for all six.
    expect(later.indexOf('io')).toBeLessThan(6);
  });

  it('while ingest is active, queries take at most their share of the thread: the next start waits for the bucket to refill', async () => {
    const ingest = { active: true, uncommitted: 0 };
    // The thread's clock, moved by hand: a query's work advances it, and so does a timer
    // standing for the rest of the thread's time (ingest, idle), so no reading depends on load.
    let threadMs = 0;
    const clock = { cpuMs: () => threadMs, availableMs: () => threadMs };
    const passing = setInterval(() => { threadMs += 1; }, 1);
    try {
      // A turn budget that never binds here: only the share paces the starts.
      const q = new QueryConcurrency(quotas(64), { turnBudgetMs: 1000, shareWhileIngesting: 0.25, burstMs: 1, ingest, clock });
      const started: number[] = [];
      const order: string[] = [];
      const queries = Array.from({ length: 3 }, (_, i) => q.run('t', async () => {
        started.push(threadMs);
        order.push(`q${i}`);
        threadMs += 2;
      }));
      const other = new Promise<void>((r) => setImmediate(() => { order.push('io'); r(); }));
      await Promise.all([...queries, other]);
      expect(order).toEqual(['q0', 'io', 'q1', 'q2']);
      // Each start is charged its 2 ms plus the estimate of what follows it (1 ms before any
      // turn measured it) against 1 ms in the bucket: the debt of ≥ 2 ms is paid at 0.25 of
      // the thread's time, so the next start comes ≥ 8 ms of thread time later.
      expect(started[1]! - started[0]!).toBeGreaterThanOrEqual(8);
      expect(started[2]! - started[1]!).toBeGreaterThanOrEqual(8);

      // Ingest idle: the share does not apply, the three start in one turn.
      ingest.active = false;
      const idleOrder: string[] = [];
      const idle = Array.from({ length: 3 }, (_, i) => q.run('t', async () => {
        idleOrder.push(`q${i}`);
        threadMs += 2;
      }));
      const tick = new Promise<void>((r) => setImmediate(() => { idleOrder.push('io'); r(); }));
      await Promise.all([...idle, tick]);
      expect(idleOrder).toEqual(['q0', 'q1', 'q2', 'io']);
    } finally {
      clearInterval(passing);
    }
  });

  it('acks first: a drain gives way once to a commit queued in the same check phase', async () => {
    const run = async (uncommitted: number): Promise<string[]> => {
      const q = new QueryConcurrency(quotas(64), { turnBudgetMs: 1, ingest: { active: uncommitted > 0, uncommitted } });
      const order: string[] = [];
      // q0 starts at once and fills the turn; q1 waits for the drain queued behind it.
      const queries = ['q0', 'q1'].map((name) => q.run('t', async () => {
        order.push(name);
        spin(2);
      }));
      // Queued after the drain, as the group commit's flush is when a frame arrives in the poll phase.
      const commit = new Promise<void>((r) => setImmediate(() => { order.push('commit'); r(); }));
      await Promise.all([...queries, commit]);
      return order;
    };
    expect(await run(0)).toEqual(['q0', 'q1', 'commit']);
    expect(await run(1)).toEqual(['q0', 'commit', 'q1']);
  });
});
