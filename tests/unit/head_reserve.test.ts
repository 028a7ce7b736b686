/**
 * HeadTable.reserve (src/storage/head.ts): slab memory mapped up front for a fresh server's
 * first series (issue 16). It adds whole slab pairs up to the bytes asked for and no more,
 * the appends that fit in it take no new slab, and the heads read back what was appended.
 */
import { describe, expect, it } from 'vitest';
import { BLOCK_POINTS, HeadTable } from '../../src/storage/head.js';

const MIB = 1024 * 1024;

describe('HeadTable.reserve', () => {
  it('adds whole 1 MiB slab pairs up to the bytes asked for, and nothing once they are there', () => {
    const table = new HeadTable(4096);
    expect(table.slabBytes).toBe(0);
    expect(table.reserve(2.5 * MIB)).toBe(3 * MIB);
    expect(table.slabBytes).toBe(3 * MIB);
    expect(table.reserve(3 * MIB)).toBe(0);
    expect(table.reserve(1 * MIB)).toBe(0);
    expect(table.reserve(0)).toBe(0);
    expect(new HeadTable(4096).reserve(0)).toBe(0);
    expect(table.blocksInUse).toBe(0);
  });

  it('takes the first series\' blocks from the reserved slabs: no slab is added while they last', () => {
    const table = new HeadTable(4096);
    table.reserve(3 * MIB);
    // 3 slab pairs hold 3,072 blocks; 1,500 series of 100 points take two each (3,000).
    const series = 1_500;
    const points = BLOCK_POINTS + 36;
    for (let i = 0; i < points; i++) {
      for (let sid = 1; sid <= series; sid++) table.append(sid, 1_000 * i + sid, sid + i / 1_000);
    }
    expect(table.blocksInUse).toBe(series * 2);
    expect(table.slabBytes).toBe(3 * MIB);
    for (const sid of [1, 750, series]) {
      const { timestamps, values } = table.sorted(sid);
      expect(timestamps.length).toBe(points);
      expect(timestamps[0]).toBe(sid);
      expect(timestamps[points - 1]).toBe(1_000 * (points - 1) + sid);
      expect(values[points - 1]).toBe(sid + (points - 1) / 1_000);
    }
    // Past the reservation the table grows as before.
    for (let sid = series + 1; sid <= series + 100; sid++) table.append(sid, 1, 1);
    expect(table.slabBytes).toBe(4 * MIB);
  });

  it('rejects a negative or non-finite size, naming the value', () => {
    const table = new HeadTable(4096);
    expect(() => table.reserve(-1)).toThrow(/HeadTable\.reserve: bytes must be a non-negative number; got -1/);
    expect(() => table.reserve(Number.NaN)).toThrow(/got NaN/);
    expect(table.slabBytes).toBe(0);
  });
});
