/**
 * Admission of queries (and /federate scrapes): a fair queue in front of the engine, so that
 * many users at once neither stall the ingest acks nor each other.
 *
 * - **Bounded main-thread work per event-loop turn.** Aggregations of small and middling
 *   queries run inline on the thread that also acknowledges ingest (a worker round trip costs
 *   more than they do, see src/query/query_engine.ts). Started as they arrived, 64 clients'
 *   requests read in one poll phase ran back to back: measured with 64 query clients and
 *   half-rate ingest, the acks waited 6–8 s (bench/concurrent_users.bench.ts). Now queries start
 *   while the turn's query time is under TURN_BUDGET_MS (at least one per turn); the rest wait
 *   for the next turn's check phase (setImmediate), and between two turns the poll phase runs
 *   the ingest callbacks. A query's synchronous part is only where its work starts: the engine
 *   reads after its first await, in the microtasks that run right after the callback that
 *   started it, before the poll phase. So each start also counts the measured main-thread time
 *   that queries started in earlier turns took after their start (see #measureTurn); counting
 *   only the synchronous part let 64 started queries run their inline reads back to back.
 * - **A share of the thread for ingest, acks first.** While ingest is active (batches waiting
 *   for their commit, or a commit in the last 100 ms: commit_activity.ts), queries start only
 *   while a token bucket has room: it refills at QUERY_SHARE_WHILE_INGESTING of the thread's
 *   time, up to QUERY_BURST_MS, and each start is charged what it counts against the turn. The
 *   per-turn budget alone bounded a commit's wait behind one turn but not the queries' share
 *   over many turns: measured with 64 clients and half-rate ingest on a quiet machine, the
 *   main thread served 1,160 queries/s and ingest reached 0.32 of the 0.83 M points/s asked.
 *   A drain that finds batches waiting gives way once, so the group commit queued behind it in
 *   the same check phase runs first. The server measures both with the main thread's own
 *   clock (thread_clock.ts), not wall time, which on a shared machine counts other processes'
 *   turns on the core as query work.
 * - **Fair.** Waiting queries queue per (tenant, client) and are started round-robin over
 *   those queues, so one client's burst does not push everyone else's queries back. A tenant
 *   runs at most its `query_concurrency` quota at once; past it its queries wait.
 * - **Bounded.** A query waits at most `maxWaitMs`, and a tenant has at most `maxQueued`
 *   waiting; past either it is refused with QuotaExceededError (429, Retry-After 1).
 * - **Alike queries share one run.** A query whose key equals that of a query of the same
 *   tenant still waiting (not started), whichever client asked it, joins it and gets the same
 *   answer. Only waiting ones: their read starts after
 *   every joiner arrived, so each sees every write acknowledged before it asked. A dashboard
 *   open on many screens asks the same query many times at once.
 * - **An alike query running holds the next one back** (up to HOLD_BEHIND_ALIKE_MS): a query
 *   whose key equals a running one's waits instead of starting a second identical run, and
 *   the alike queries asked meanwhile join it; it starts when the running one ends. Without
 *   this, a query asked while its twin was running (reading on workers, or waiting for the
 *   snapshot) started a second identical run whenever the turn had budget left and nobody
 *   waited: with 32 clients looping on one dashboard query, the same aggregation twice or
 *   more at once. Past the hold it starts anyway: a long query's twin does not wait for all
 *   of it.
 */
import { QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';
import { queryPressure } from '../query/query_pressure.js';
import { commitActivity } from '../ingest/commit_activity.js';
import { WALL_CLOCK, type ThreadClock } from './thread_clock.js';

/** Query time per event-loop turn after which further queries wait for the next turn. */
export const TURN_BUDGET_MS = 4;
/** Longest wait for a slot before a query is refused (a client then retries after 1 s). */
export const MAX_WAIT_MS = 2_000;
/** Waiting queries per tenant, joined ones included. */
export const MAX_QUEUED_PER_TENANT = 256;
/**
 * Longest a query waits for a running alike one to end before it starts its own run. Inline
 * queries end within their turn (a few ms), worker ones within tens of ms; a query still
 * running after this is long enough that its twin would rather start than wait for the end.
 */
export const HOLD_BEHIND_ALIKE_MS = 200;
/**
 * Share of the main thread's time queries may take while ingest is active: the rest is kept
 * for the frames' parsing and the commits, so ingest reaches the rate it is asked for and its
 * acks do not queue behind queries. Swept on a quiet machine (bench/concurrent_users.bench.ts
 * --max-rate 1880000 --seconds 30, 2026-12-08 00:41–00:46 UTC, load 2–3.5; ingest asked 0.94 M
 * points/s; 64 query clients, load generator and server on the same 2 cores), two runs each:
 *   share 0.5: ingest 0.55 / 0.56 M/s, ack p50 151 / 147 ms, p99 414 / 385; query p99 97 / 126 ms, 1,853 / 1,455 q/s
 *   share 0.3: ingest 0.91 / 0.89 M/s, ack p50  70 /  64 ms, p99 216 / 211; query p99 112 / 169 ms, 1,585 / 1,275 q/s
 *   share 0.2: ingest 0.92 / 0.94 M/s, ack p50  64 /  39 ms, p99 176 / 165; query p99 176 / 173 ms,   874 /   941 q/s
 * At 0.5 ingest fell behind, so every ack waited for the 64 frames in flight ahead of it (ack
 * p50 ≈ 64 frames / frames acked per second); 0.3 is where ingest nearly keeps its rate for the
 * smallest loss of query latency. Below it queries lose throughput and the ack tail no longer
 * falls: with ingest at its rate the two cores are full (server ~40 s of CPU in 34 s, clients ~17).
 */
export const QUERY_SHARE_WHILE_INGESTING = 0.3;
/**
 * Query time that may start at once while ingest is active (the bucket's depth): a burst of
 * queries after a pause starts together, but not more than this ahead of the share.
 */
export const QUERY_BURST_MS = 8;
/** Weight of the newest turn in the running estimate of a start's main-thread time after it. */
const AFTER_START_WEIGHT = 0.25;
/** That estimate until turns measured it: a cold server's first burst starts a few queries per turn, not all. */
const AFTER_START_INITIAL_MS = 1;

export interface QueryAdmissionOptions {
  maxWaitMs?: number;
  maxQueuedPerTenant?: number;
  turnBudgetMs?: number;
  holdBehindAlikeMs?: number;
  /** Share of the main thread for queries while ingest is active, in (0, 1]; default QUERY_SHARE_WHILE_INGESTING. */
  shareWhileIngesting?: number;
  /** Default QUERY_BURST_MS. */
  burstMs?: number;
  /** Whether ingest batches wait for this thread; default the process's group commit (commit_activity.ts). */
  ingest?: IngestSignal;
  /**
   * The clock query work and the share are measured by; default wall time. The server passes
   * the main thread's own clock (thread_clock.ts): on a shared machine wall time counts other
   * processes' turns on the core as query work.
   */
  clock?: ThreadClock;
}

/** What admission needs to know of ingest (commit_activity.ts). */
export interface IngestSignal {
  /** Batches submitted and not committed yet. */
  readonly uncommitted: number;
  /** Whether ingest is active now (batches waiting, or a recent commit). */
  readonly active: boolean;
}

function validateShare(value: number): number {
  if (!(value > 0 && value <= 1)) throw new RangeError(`options.shareWhileIngesting=${value} must be in (0, 1]`);
  return value;
}

/** Who asks: the tenant the query reads, the client within it (a credential id), alike queries' key. */
export interface QueryOrigin {
  client?: string | undefined;
  /** Queries with equal keys (of one tenant) give equal answers; undefined: never shared. */
  key?: string | undefined;
}

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

interface Entry {
  tenant: string;
  queue: string;
  key: string | undefined;
  /** `tenant` NUL `key`, the running-alike lookup's key; undefined when never shared. */
  alikeKey: string | undefined;
  query: () => Promise<unknown>;
  waiters: Waiter[];
}

export class QueryConcurrency {
  readonly #quotas: QuotaLookup;
  readonly #maxWaitMs: number;
  readonly #maxQueued: number;
  readonly #turnBudgetMs: number;
  readonly #running = new Map<string, number>();
  /** Waiting entries per queue (tenant + client), in rotation order: served ones move to the end. */
  readonly #queues = new Map<string, Entry[]>();
  readonly #queuedOfTenant = new Map<string, number>();
  /** Running queries by `tenant` NUL `key`: how many, and when the oldest of them started. */
  readonly #runningAlike = new Map<string, { count: number; since: number }>();
  readonly #holdMs: number;
  /** Opens a turn when the earliest hold ends: nothing else may (the alike run still going, no other query). */
  #holdTimer: NodeJS.Timeout | undefined;
  #holdTimerAt = Infinity;
  /** Query time spent in the current turn; a turn ends at the next check phase. */
  #spentMs = 0;
  #turnOpen = false;
  /** Running estimate of the main-thread time one started query takes after its synchronous part. */
  #afterStartMs = AFTER_START_INITIAL_MS;
  /** Queries #drain started in its last run, and when that run returned. */
  #drainStarted = 0;
  #drainEndedAt = 0;
  readonly #ingest: IngestSignal;
  readonly #clock: ThreadClock;
  readonly #share: number;
  readonly #burstMs: number;
  /**
   * Query time (ms) that may still start while ingest is active: a token bucket refilled at
   * #share of the thread's available time (the clock's availableMs) up to #burstMs, charged
   * what #start counts against the turn. Negative
   * after a start that cost more than was left: the debt is paid before the next start.
   */
  #tokensMs: number;
  /** The clock's availableMs() at the last refill; NaN while ingest is idle (the bucket stays full). */
  #tokensAt: number;
  /** Opens a turn when the bucket has refilled enough to start a query. */
  #refillTimer: NodeJS.Timeout | undefined;
  /** The turn's drain already gave way once to a commit waiting in the same check phase. */
  #yieldedToCommit = false;

  constructor(quotas: QuotaLookup, options: QueryAdmissionOptions = {}) {
    this.#quotas = quotas;
    this.#maxWaitMs = options.maxWaitMs ?? MAX_WAIT_MS;
    this.#maxQueued = options.maxQueuedPerTenant ?? MAX_QUEUED_PER_TENANT;
    this.#turnBudgetMs = options.turnBudgetMs ?? TURN_BUDGET_MS;
    this.#holdMs = options.holdBehindAlikeMs ?? HOLD_BEHIND_ALIKE_MS;
    this.#ingest = options.ingest ?? commitActivity;
    this.#clock = options.clock ?? WALL_CLOCK;
    this.#tokensAt = NaN;
    this.#share = validateShare(options.shareWhileIngesting ?? QUERY_SHARE_WHILE_INGESTING);
    this.#burstMs = options.burstMs ?? QUERY_BURST_MS;
    this.#tokensMs = this.#burstMs;
  }

  /** Runs `query` as one of the tenant's queries: now, after a wait, or refused (QuotaExceededError). */
  run<T>(tenant: string, query: () => Promise<T>, origin: QueryOrigin = {}): Promise<T> {
    const limit = this.#quotas(tenant).queryConcurrency;
    const queueName = `${tenant}\u0000${origin.client ?? ''}`;
    const running = this.#running.get(tenant) ?? 0;
    const alikeKey = origin.key === undefined ? undefined : `${tenant}\u0000${origin.key}`;
    const held = this.#heldFor(alikeKey);
    // Nobody waiting (of any tenant), no alike run to wait for and budget left: start now, in this turn.
    if (running < limit && this.#queues.size === 0 && held === 0 && this.#budgetLeft()) {
      return this.#start(tenant, query, alikeKey) as Promise<T>;
    }
    const queued = this.#queuedOfTenant.get(tenant) ?? 0;
    if (queued >= this.#maxQueued) {
      return Promise.reject(new QuotaExceededError(tenant, 'queryConcurrency', limit, `${running} queries of this tenant are running and ${queued} waiting; retry later`));
    }
    let queue = this.#queues.get(queueName);
    const alike = origin.key === undefined ? undefined : this.#waitingAlike(tenant, origin.key);
    const entry: Entry = alike ?? { tenant, queue: queueName, key: origin.key, alikeKey, query, waiters: [] };
    if (alike === undefined) {
      if (queue === undefined) this.#queues.set(queueName, (queue = []));
      queue.push(entry);
    }
    this.#queuedOfTenant.set(tenant, queued + 1);
    queryPressure.add(1);
    const answer = new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: resolve as (value: unknown) => void,
        reject,
        timer: setTimeout(() => this.#giveUp(entry, waiter, limit), this.#maxWaitMs),
      };
      entry.waiters.push(waiter);
    });
    this.#scheduleTurn();
    return answer;
  }

  /** Queries running now, over every tenant. */
  get running(): number {
    let n = 0;
    for (const v of this.#running.values()) n += v;
    return n;
  }

  /** Queries waiting now, over every tenant (joined ones included). */
  get waiting(): number {
    let n = 0;
    for (const v of this.#queuedOfTenant.values()) n += v;
    return n;
  }

  /** Milliseconds a query of `alikeKey` is still held back by a running alike one (0: not held). */
  #heldFor(alikeKey: string | undefined): number {
    if (alikeKey === undefined) return 0;
    const alike = this.#runningAlike.get(alikeKey);
    return alike === undefined ? 0 : Math.max(0, alike.since + this.#holdMs - performance.now());
  }

  #budgetLeft(): boolean {
    this.#scheduleTurn();
    return this.#spentMs < this.#turnBudgetMs && this.#shareLeft();
  }

  /**
   * Whether the queries' share of the main thread has room for another start (always, while
   * ingest is idle). When it has not, a timer opens a turn once the bucket has refilled.
   */
  #shareLeft(): boolean {
    if (!this.#ingest.active) {
      // Full, and refilled from now on when ingest starts (no clock reading: each costs a syscall).
      this.#tokensMs = this.#burstMs;
      this.#tokensAt = NaN;
      return true;
    }
    const now = this.#clock.availableMs();
    const refill = Number.isNaN(this.#tokensAt) ? 0 : (now - this.#tokensAt) * this.#share;
    this.#tokensMs = Math.min(this.#burstMs, this.#tokensMs + refill);
    this.#tokensAt = now;
    if (this.#tokensMs > 0) return true;
    if (this.#refillTimer === undefined) {
      // A timer may fire up to a millisecond early.
      this.#refillTimer = setTimeout(() => {
        this.#refillTimer = undefined;
        this.#scheduleTurn();
      }, Math.ceil(-this.#tokensMs / this.#share) + 1);
    }
    return false;
  }

  /** Opens a turn if none is open: its end (the next check phase) resets the budget and starts waiting queries. */
  #scheduleTurn(): void {
    if (this.#turnOpen) return;
    this.#turnOpen = true;
    this.#spentMs = 0;
    setImmediate(() => this.#openTurn());
    // Queued together, so it runs right after the drain's callback and its microtasks.
    setImmediate(() => this.#measureTurn());
  }

  #openTurn(): void {
    // Acks first: a group commit queued in this check phase runs after this callback, so a
    // drain now would put a turn of query work before it. Given way once, the drain runs in
    // the next check phase, after the commit and a poll phase (a network back-end's commit in
    // flight needs no thread, so it is not waited for longer).
    if (this.#ingest.uncommitted > 0 && !this.#yieldedToCommit && this.#queues.size > 0) {
      this.#yieldedToCommit = true;
      setImmediate(() => this.#openTurn());
      setImmediate(() => this.#measureTurn());
      return;
    }
    this.#yieldedToCommit = false;
    this.#turnOpen = false;
    this.#spentMs = 0;
    this.#drain();
  }

  /**
   * Time since the drain returned: the microtasks that ran after it, which are the continuations
   * of the queries it started (inline reads) and little else. Spread over those queries, it
   * updates the estimate each start counts against the turn's budget.
   */
  #measureTurn(): void {
    if (this.#drainStarted === 0) return;
    const perStart = (this.#clock.cpuMs() - this.#drainEndedAt) / this.#drainStarted;
    this.#afterStartMs += AFTER_START_WEIGHT * (perStart - this.#afterStartMs);
    this.#drainStarted = 0;
  }

  #start(tenant: string, query: () => Promise<unknown>, alikeKey: string | undefined): Promise<unknown> {
    this.#running.set(tenant, (this.#running.get(tenant) ?? 0) + 1);
    if (alikeKey !== undefined) {
      const alike = this.#runningAlike.get(alikeKey);
      if (alike === undefined) this.#runningAlike.set(alikeKey, { count: 1, since: performance.now() });
      else alike.count++;
    }
    // Until it settles: the engine chooses inline or workers after its first await (query_pressure.ts).
    queryPressure.addRunning(1);
    const began = this.#clock.cpuMs();
    let answer: Promise<unknown>;
    try {
      answer = query();
    } catch (error) {
      answer = Promise.reject(error);
    }
    // The synchronous part held this thread, and what follows it in this turn's microtasks (estimated).
    const cost = this.#clock.cpuMs() - began + this.#afterStartMs;
    this.#spentMs += cost;
    this.#tokensMs -= cost;
    return answer.finally(() => {
      queryPressure.addRunning(-1);
      if (alikeKey !== undefined) {
        const alike = this.#runningAlike.get(alikeKey)!;
        if (--alike.count === 0) this.#runningAlike.delete(alikeKey);
      }
      const left = this.#running.get(tenant)! - 1;
      if (left === 0) this.#running.delete(tenant);
      else this.#running.set(tenant, left);
      if (this.#queues.size > 0) this.#scheduleTurn();
    });
  }

  /** Starts waiting queries round-robin while the turn's budget lasts; at least one per turn. */
  #drain(): void {
    let started = 0;
    try {
      this.#drainQueues(() => started++);
    } finally {
      this.#drainStarted = started;
      this.#drainEndedAt = this.#clock.cpuMs();
    }
  }

  #drainQueues(onStart: () => void): void {
    let startedOne = false;
    while (this.#queues.size > 0 && (!startedOne || this.#spentMs < this.#turnBudgetMs) && this.#shareLeft()) {
      const entry = this.#nextEligible();
      if (entry === undefined) return;
      startedOne = true;
      onStart();
      this.#dequeue(entry);
      for (const w of entry.waiters) clearTimeout(w.timer);
      this.#start(entry.tenant, entry.query, entry.alikeKey).then(
        (value) => { for (const w of entry.waiters) w.resolve(value); },
        (error: unknown) => { for (const w of entry.waiters) w.reject(error); },
      );
    }
    if (this.#queues.size > 0) this.#scheduleTurn();
  }

  /** A waiting entry of `tenant` (any client's: the answer depends on the query only) with `key`. */
  #waitingAlike(tenant: string, key: string): Entry | undefined {
    for (const queue of this.#queues.values()) {
      if (queue[0]!.tenant !== tenant) continue;
      const found = queue.find((e) => e.key === key);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /**
   * The first entry not held back by a running alike one (#heldFor), of the first queue in
   * rotation order whose tenant is under its quota. Held entries keep their place: the ones
   * behind them in the same queue are not held back by their wait.
   */
  #nextEligible(): Entry | undefined {
    for (const [name, queue] of this.#queues) {
      const tenant = queue[0]!.tenant;
      if ((this.#running.get(tenant) ?? 0) >= this.#quotas(tenant).queryConcurrency) continue;
      const at = queue.findIndex((e) => {
        const held = this.#heldFor(e.alikeKey);
        if (held > 0) this.#turnAfterHold(held);
        return held === 0;
      });
      if (at < 0) continue;
      const entry = queue[at]!;
      queue.splice(at, 1);
      // Served: the queue goes to the end of the rotation (or away when empty).
      this.#queues.delete(name);
      if (queue.length > 0) this.#queues.set(name, queue);
      return entry;
    }
    return undefined;
  }

  #turnAfterHold(heldMs: number): void {
    // A timer may fire up to a millisecond before performance.now() reaches its time.
    const at = performance.now() + heldMs + 1;
    if (at >= this.#holdTimerAt) return;
    clearTimeout(this.#holdTimer);
    this.#holdTimerAt = at;
    this.#holdTimer = setTimeout(() => {
      this.#holdTimerAt = Infinity;
      this.#holdTimer = undefined;
      this.#scheduleTurn();
    }, at - performance.now());
  }

  #dequeue(entry: Entry): void {
    queryPressure.add(-entry.waiters.length);
    const left = (this.#queuedOfTenant.get(entry.tenant) ?? 0) - entry.waiters.length;
    if (left <= 0) this.#queuedOfTenant.delete(entry.tenant);
    else this.#queuedOfTenant.set(entry.tenant, left);
  }

  #giveUp(entry: Entry, waiter: Waiter, limit: number): void {
    entry.waiters.splice(entry.waiters.indexOf(waiter), 1);
    queryPressure.add(-1);
    const left = (this.#queuedOfTenant.get(entry.tenant) ?? 1) - 1;
    if (left <= 0) this.#queuedOfTenant.delete(entry.tenant);
    else this.#queuedOfTenant.set(entry.tenant, left);
    if (entry.waiters.length === 0) {
      const queue = this.#queues.get(entry.queue);
      if (queue !== undefined) {
        queue.splice(queue.indexOf(entry), 1);
        if (queue.length === 0) this.#queues.delete(entry.queue);
      }
    }
    const running = this.#running.get(entry.tenant) ?? 0;
    waiter.reject(new QuotaExceededError(entry.tenant, 'queryConcurrency', limit, `the query waited ${this.#maxWaitMs} ms behind ${running} running queries of this tenant and others waiting; retry later`));
  }
}
