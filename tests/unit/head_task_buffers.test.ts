/**
 * Head-column buffers lent to query workers and handed back (src/query/head_task_buffers.ts):
 * sizes round up to powers of two from 64 KiB, and a returned buffer serves the next lend.
 */
import { describe, expect, it } from 'vitest';
import { lendHeadColumn, returnHeadBuffer } from '../../src/query/head_task_buffers.js';

describe('head task buffers', () => {
  it('lend columns of the asked length over power-of-two buffers of at least 64 KiB', () => {
    const small = lendHeadColumn(10);
    expect([small.length, small.byteOffset, small.buffer.byteLength]).toEqual([10, 0, 65_536]);
    const none = lendHeadColumn(0);
    expect([none.length, none.buffer.byteLength]).toEqual([0, 65_536]);
    // 10,000 points are 80,000 bytes: the next power of two is 128 KiB.
    expect(lendHeadColumn(10_000).buffer.byteLength).toBe(131_072);
    expect(lendHeadColumn(8192).buffer.byteLength).toBe(65_536);
  });

  it('reuse a returned buffer for the next column of that size class, and ignore buffers of other sizes', () => {
    const first = lendHeadColumn(20_000);
    const buffer = first.buffer as ArrayBuffer;
    returnHeadBuffer(buffer);
    const again = lendHeadColumn(17_000);
    expect(again.buffer).toBe(buffer);
    expect(again.length).toBe(17_000);
    returnHeadBuffer(new ArrayBuffer(100_000));
    expect(lendHeadColumn(12_000).buffer.byteLength).toBe(131_072);
    expect(lendHeadColumn(12_000).buffer).not.toBe(buffer);
  });
});
