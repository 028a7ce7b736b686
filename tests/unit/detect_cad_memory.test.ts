/**
 * The contextual detector's memory stays bounded on a hostile series. Independent uniform
 * values never settle into contexts, so every step grows new ones (about 30 per point); past
 * MAX_CONTEXTS the memory is dropped and learning restarts (cad_detector.ts). Left
 * semi-contexts, their whole-set index (one entry each) and the pair table grow only with
 * contexts (a new semi-context always comes with a new context), so the context count bounds them all.
 */
import { describe, expect, it } from 'vitest';
import { CadDetector, MAX_CONTEXTS } from '../../src/analytics/cad_detector.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

describe('CadDetector memory on random values', () => {
  it('never holds more than MAX_CONTEXTS contexts, and restarts instead of growing', () => {
    const rng = new SeededRandom(20_261_207);
    const detector = new CadDetector({ restPoints: 0 });
    let most = 0;
    let drops = 0;
    for (let i = 0; i < 5_000; i++) {
      const before = detector.contextCount;
      const score = detector.update(rng.uniform() * 1e6);
      expect(score).toBeGreaterThanOrEqual(0);
      expect(score).toBeLessThanOrEqual(1);
      if (detector.contextCount < before) drops++;
      most = Math.max(most, detector.contextCount);
    }
    // The memory filled up and was dropped at least once, and one step adds at most a few
    // hundred contexts past the cap (it is checked before each step; about 50 past it on uniform noise).
    expect(drops).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(MAX_CONTEXTS + 500);
  }, 120_000);
});
