/**
 * The write turn (src/storage/write_turn.ts): one body at a time in call order, synchronous
 * start when free, and the gate between chunk-deleting bodies and snapshot reads.
 */
import { describe, expect, it } from 'vitest';
import { WriteTurn } from '../../src/storage/write_turn.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WriteTurn', () => {
  it('starts a body at once when free and runs queued ones in call order, one at a time', async () => {
    const turn = new WriteTurn();
    const log: string[] = [];
    let release!: () => void;
    const first = turn.run(async () => {
      log.push('first starts');
      await new Promise<void>((resolve) => { release = resolve; });
      log.push('first ends');
    }, false);
    expect(log).toEqual(['first starts']);
    expect(turn.busy).toBe(true);
    const second = turn.run(async () => { log.push('second'); }, false);
    await tick();
    expect(log).toEqual(['first starts']);
    release();
    await Promise.all([first, second]);
    expect(log).toEqual(['first starts', 'first ends', 'second']);
    expect(turn.busy).toBe(false);
  });

  it('a failing body frees the turn for the next', async () => {
    const turn = new WriteTurn();
    const failed = turn.run(async () => { throw new Error('disk full'); }, false);
    const next = turn.run(async () => 7, false);
    await expect(failed).rejects.toThrow('disk full');
    await expect(next).resolves.toBe(7);
  });

  it('a deleting body waits for running reads and holds new ones back until it ended', async () => {
    const turn = new WriteTurn();
    turn.beginRead();
    const log: string[] = [];
    const deleting = turn.run(async () => { log.push('delete'); }, true);
    let laterRead = false;
    const ready = turn.readReady().then(() => { laterRead = true; });
    await tick();
    expect(log).toEqual([]);
    expect(laterRead).toBe(false);
    turn.endRead();
    await deleting;
    await ready;
    expect(log).toEqual(['delete']);
    expect(laterRead).toBe(true);
    await expect(turn.readReady()).resolves.toBeUndefined();
  });

  it('forgetReads releases a deleting body that waits for abandoned reads', async () => {
    const turn = new WriteTurn();
    turn.beginRead();
    const deleting = turn.run(async () => 'done', true);
    turn.forgetReads();
    await expect(deleting).resolves.toBe('done');
    expect(turn.readers).toBe(0);
  });
});
