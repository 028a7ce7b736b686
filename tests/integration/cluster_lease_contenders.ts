/**
 * Lease contender processes for cluster_lease.test.ts: spawning cluster_lease_child.ts, reading
 * its `held` samples, and the checks over them (never two holders, always one in steady
 * periods), plus the SIGKILL / SIGSTOP handover scenario both back-ends run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const CHILD = fileURLToPath(new URL('./cluster_lease_child.ts', import.meta.url));
/**
 * Allowance for timers and process scheduling on a loaded 2-core machine, added to each
 * stated bound. The measured handovers are printed so a run shows how much of it was used.
 */
export const SCHEDULING_SLACK_MS = 1000;

interface Sample {
  t: number;
  held: boolean;
}

interface Contender {
  readonly index: number;
  readonly child: ChildProcess;
  readonly samples: Sample[];
  readonly acquired: number[];
  readonly lost: Array<{ t: number; reason: string }>;
  readonly ready: Promise<void>;
  stderr: string;
}

const children: ChildProcess[] = [];

function spawnContender(index: number, kind: 'postgres' | 'redis', url: string, name: string, options: object): Contender {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, kind, url, name, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const c: Contender = { index, child, samples: [], acquired: [], lost: [], stderr: '', ready: Promise.resolve() };
  let markReady: () => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  (c as { ready: Promise<void> }).ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    fail = reject;
  });
  child.stderr!.on('data', (d: Buffer) => {
    c.stderr = (c.stderr + d.toString()).slice(-4000);
  });
  child.on('exit', (code, signal) => fail(new Error(`contender ${index} exited (${code ?? signal}) before ready: ${c.stderr}`)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [word, t, rest] = line.split(' ', 3);
    if (word === 'ready') markReady();
    else if (word === 'state') c.samples.push({ t: Number(t), held: rest === '1' });
    else if (word === 'acquired') c.acquired.push(Number(t));
    else if (word === 'lost') c.lost.push({ t: Number(t), reason: line.split(' ').slice(2).join(' ') });
  });
  return c;
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Maximal runs of held samples, as [first, last] sample times. */
function heldIntervals(c: Contender): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start: number | undefined;
  let last = 0;
  for (const s of c.samples) {
    if (s.held) {
      start ??= s.t;
      last = s.t;
    } else if (start !== undefined) {
      out.push([start, last]);
      start = undefined;
    }
  }
  if (start !== undefined) out.push([start, last]);
  return out;
}

/** No two contenders ever reported holding at overlapping times. */
function expectNoOverlap(cs: Contender[]): void {
  for (const a of cs) {
    for (const b of cs) {
      if (a.index >= b.index) continue;
      for (const [s1, e1] of heldIntervals(a)) {
        for (const [s2, e2] of heldIntervals(b)) {
          const overlap = s1 <= e2 && s2 <= e1;
          expect(overlap, `contenders ${a.index} [${s1}, ${e1}] and ${b.index} [${s2}, ${e2}] both held the lease`).toBe(false);
        }
      }
    }
  }
}

/** Every sample of any contender taken in [from, to] falls inside some contender's held interval. */
function expectOneHolderThroughout(cs: Contender[], from: number, to: number): void {
  const intervals = cs.flatMap(heldIntervals);
  const times = cs.flatMap((c) => c.samples.map((s) => s.t)).filter((t) => t >= from && t <= to);
  expect(times.length).toBeGreaterThan(0);
  const uncovered = times.filter((t) => !intervals.some(([s, e]) => s <= t && t <= e));
  expect(uncovered, `sample times with no holder between ${from} and ${to}`).toEqual([]);
}

function holderSince(cs: Contender[], since: number): Contender | undefined {
  return cs.find((c) => c.acquired.some((t) => t >= since));
}

/** Samples of `c` after time `t`. */
function samplesAfter(c: Contender, t: number): Sample[] {
  return c.samples.filter((s) => s.t > t);
}

export interface HandoverBounds {
  /** A killed holder is replaced within this. */
  killedMs: number;
  /** A stopped holder is replaced within this... */
  hungMs: number;
  /** ...and not before this (its tenure runs out; nothing else ends it). */
  hungAtLeastMs: number;
}

/** Three contenders; SIGKILL the first holder, then SIGSTOP the second; returns the measured handovers. */
export async function handoverScenario(kind: 'postgres' | 'redis', url: string, name: string, options: object, bounds: HandoverBounds): Promise<{ killedMs: number; hungMs: number }> {
  const cs = [0, 1, 2].map((i) => spawnContender(i, kind, url, name, options));
  try {
    await Promise.all(cs.map((c) => c.ready));
    await waitFor(() => cs.some((c) => c.acquired.length > 0), 'a first holder');
    const first = cs.find((c) => c.acquired.length > 0)!;
    const firstAt = first.acquired[0]!;
    // A steady period: every contender samples for a while with the first holder in place.
    await waitFor(() => cs.every((c) => samplesAfter(c, firstAt + 600).length > 0), 'a steady period of samples');

    const killAt = Date.now();
    first.child.kill('SIGKILL');
    await waitFor(() => holderSince(cs, killAt) !== undefined, `a new holder after SIGKILL of contender ${first.index}`);
    const second = holderSince(cs, killAt)!;
    const secondAt = second.acquired.find((t) => t >= killAt)!;
    const killedMs = secondAt - killAt;

    await waitFor(() => cs.every((c) => c === first || samplesAfter(c, secondAt + 600).length > 0), 'a steady period under the second holder');
    const stopAt = Date.now();
    second.child.kill('SIGSTOP');
    await waitFor(() => holderSince(cs.filter((c) => c !== second), stopAt) !== undefined, `a new holder after SIGSTOP of contender ${second.index}`, 30_000);
    const third = holderSince(cs.filter((c) => c !== second), stopAt)!;
    const thirdAt = third.acquired.find((t) => t >= stopAt)!;
    const hungMs = thirdAt - stopAt;

    const resumeAt = Date.now();
    second.child.kill('SIGCONT');
    // Resumed, the old holder must see at once that it no longer holds, and report the loss.
    await waitFor(() => second.lost.some((l) => l.t >= resumeAt) && samplesAfter(second, resumeAt).length >= 3, 'the resumed holder to report its loss');
    expect(samplesAfter(second, resumeAt).every((s) => !s.held)).toBe(true);
    await waitFor(() => samplesAfter(third, thirdAt + 300).length > 0, 'samples under the third holder');

    expectNoOverlap(cs);
    expectOneHolderThroughout(cs, firstAt + 50, killAt - 50);
    expectOneHolderThroughout(cs, secondAt + 50, stopAt - 50);
    expect(killedMs).toBeLessThanOrEqual(bounds.killedMs + SCHEDULING_SLACK_MS);
    expect(hungMs).toBeLessThanOrEqual(bounds.hungMs + SCHEDULING_SLACK_MS);
    expect(hungMs).toBeGreaterThanOrEqual(bounds.hungAtLeastMs);
    return { killedMs, hungMs };
  } finally {
    for (const c of cs) {
      c.child.kill('SIGCONT');
      c.child.kill('SIGKILL');
    }
  }
}

/** Kills every contender still running (afterAll): none may outlive the test file. */
export function killContenders(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
