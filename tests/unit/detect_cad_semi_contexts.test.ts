/**
 * The left semi-context store of the contextual detector (cad_semi_contexts.ts) finds the
 * semi-contexts a step holds whole from an index (no-neuron ones by mask, the others under
 * their newest neuron) instead of counting over every holder of every fact. These tests check
 * that index against the definition, a subset test over every stored semi-context, on random
 * sets shaped like the detector's (a level's sensor mask and up to 15 active context ids), and
 * the counts and overlaps the memory grows contexts from.
 */
import { describe, expect, it } from 'vitest';
import { LeftSemiContexts } from '../../src/analytics/cad_semi_contexts.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

/** A level's sensor facts as a mask: bit 2·b + (level's bit b), for 3 bits. */
function levelMask(level: number): number {
  let mask = 0;
  for (let bit = 0; bit < 3; bit++) mask |= 1 << (2 * bit + ((level >> bit) & 1));
  return mask;
}

/** `count` distinct ids below `universe`, ascending. */
function idsFrom(rng: SeededRandom, count: number, universe: number): number[] {
  const ids = new Set<number>();
  while (ids.size < count) ids.add(rng.below(universe));
  return [...ids].sort((a, b) => a - b);
}

interface Stored {
  mask: number;
  neurons: number[];
}

function isSubset(set: Stored, mask: number, neurons: ReadonlySet<number>): boolean {
  return (set.mask & ~mask) === 0 && set.neurons.every((n) => neurons.has(n));
}

describe('LeftSemiContexts', () => {
  it('finds exactly the semi-contexts a step holds whole, and counts and overlaps the rest', () => {
    const rng = new SeededRandom(17);
    const store = new LeftSemiContexts();
    const stored: Stored[] = [];
    const add = (mask: number, neurons: number[]): number => {
      const id = store.findOrAdd(mask, Int32Array.from(neurons), neurons.length);
      if (id === stored.length) stored.push({ mask, neurons });
      expect(stored[id]).toEqual({ mask, neurons });
      return id;
    };
    // Few ids (40), so that steps share neurons and whole semi-contexts are common.
    for (let step = 0; step < 400; step++) {
      const mask = levelMask(rng.below(8));
      const neurons = idsFrom(rng, rng.below(16), 40);
      // A whole step, and a subset of it (sensor bits and neurons dropped), as the memory stores.
      add(mask, neurons);
      const subsetMask = mask & rng.below(64);
      add(subsetMask, neurons.filter(() => rng.uniform() < 0.3));
      const query = new Set(neurons);
      store.cross(mask, Int32Array.from(neurons), neurons.length);
      const whole = [...store.whole.subarray(0, store.wholeCount)].sort((a, b) => a - b);
      const expected = stored.flatMap((set, id) => (isSubset(set, mask, query) ? [id] : []));
      expect(whole).toEqual(expected);
      // Present facts of a few stored semi-contexts, capped as the memory asks (more than 7: 8).
      for (let k = 0; k < 5; k++) {
        const id = rng.below(stored.length);
        const set = stored[id]!;
        let present = 0;
        for (let bit = 0; bit < 8; bit++) if ((set.mask >> bit) & (mask >> bit) & 1) present++;
        present += set.neurons.filter((n) => query.has(n)).length;
        expect(store.presentCount(id, 7)).toBe(Math.min(present, 8));
        expect(store.lengthOf(id)).toBe(set.neurons.length + (set.mask.toString(2).split('1').length - 1));
        const overlap = store.overlapOf(id);
        if (overlap === stored.length) stored.push({ mask: set.mask & mask, neurons: set.neurons.filter((n) => query.has(n)) });
        expect(stored[overlap]).toEqual({ mask: set.mask & mask, neurons: set.neurons.filter((n) => query.has(n)) });
      }
    }
    expect(store.size).toBe(stored.length);
  });
});
