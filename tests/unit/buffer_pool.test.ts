// BufferPool (src/workers/buffer_pool.ts): buffers come back by exact byte length, with their
// contents, and the pool never keeps more than maxBytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/workers/buffer_pool.js';

describe('BufferPool', () => {
  it('hands back a given buffer, as it was, only for its exact byte length', () => {
    const pool = new BufferPool<ArrayBuffer>(1 << 20);
    expect(pool.take(64)).toBeUndefined();
    const buffer = new ArrayBuffer(64);
    new Uint8Array(buffer).fill(7);
    pool.give(buffer);
    expect(pool.take(63)).toBeUndefined();
    expect(pool.take(65)).toBeUndefined();
    const again = pool.take(64);
    expect(again).toBe(buffer);
    expect(new Uint8Array(again!).every((b) => b === 7)).toBe(true);
    // Taken means gone: the same buffer is never handed to two borrowers.
    expect(pool.take(64)).toBeUndefined();
  });

  it('pools SharedArrayBuffers (the chunk encoder\'s cut buffers) the same way', () => {
    const pool = new BufferPool<SharedArrayBuffer>(4096);
    const a = new SharedArrayBuffer(1024);
    const b = new SharedArrayBuffer(1024);
    pool.give(a);
    pool.give(b);
    const taken = new Set([pool.take(1024), pool.take(1024)]);
    expect(taken).toEqual(new Set([a, b]));
    expect(pool.take(1024)).toBeUndefined();
  });

  it('drops a returned buffer that would take it past maxBytes, and has room again after a take', () => {
    const pool = new BufferPool<ArrayBuffer>(1000);
    const first = new ArrayBuffer(600);
    pool.give(first);
    pool.give(new ArrayBuffer(600)); // 1,200 > 1,000: left to the collector
    pool.give(new ArrayBuffer(401)); // 1,001 > 1,000
    const fits = new ArrayBuffer(400); // exactly 1,000
    pool.give(fits);
    expect(pool.take(401)).toBeUndefined();
    expect(pool.take(400)).toBe(fits);
    expect(pool.take(600)).toBe(first);
    expect(pool.take(600)).toBeUndefined();
    const later = new ArrayBuffer(1000);
    pool.give(later);
    expect(pool.take(1000)).toBe(later);
  });

  it('matches a model of itself over any sequence of gives and takes (its byte count never drifts)', () => {
    const op = fc.oneof(
      fc.record({ give: fc.constantFrom(16, 64, 100, 256) }),
      fc.record({ take: fc.constantFrom(16, 64, 100, 256) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const maxBytes = 700;
        const pool = new BufferPool<ArrayBuffer>(maxBytes);
        const kept = new Map<number, ArrayBuffer[]>();
        let keptBytes = 0;
        for (const o of ops) {
          if ('give' in o) {
            const buffer = new ArrayBuffer(o.give);
            pool.give(buffer);
            if (keptBytes + o.give <= maxBytes) {
              kept.set(o.give, [...(kept.get(o.give) ?? []), buffer]);
              keptBytes += o.give;
            }
          } else {
            const list = kept.get(o.take) ?? [];
            const expected = list.pop();
            if (expected !== undefined) keptBytes -= o.take;
            expect(pool.take(o.take)).toBe(expected);
          }
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});
