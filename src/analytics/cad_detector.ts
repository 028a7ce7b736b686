/**
 * Contextual anomaly detector: our implementation of CAD OSE (Contextual Anomaly Detector, Open
 * Source Edition, M. Smirnov 2016, https://github.com/smirmik/CAD), NAB's `contextOSE` entry
 * (69.9 standard / 67.0 reward_low_FP on NAB's 58 files), written from the algorithm's
 * description with its published constants, none of them chosen on our files:
 *
 *   - each value is quantised to VALUE_BITS = 3 bits over the value range (level 0–7, the step
 *     a seventh of the range, as CAD OSE) and becomes a set of *facts*, one per bit (position
 *     and value);
 *   - the facts of a step, plus the contexts that became active at that step (its "neurons",
 *     at most MAX_ACTIVE_NEURONS = 15, the most often activated first), form the left side of
 *     the next transition; the sensor facts of the next step its right side (cad_context_memory.ts);
 *   - the anomaly of a step, when one of its bits was not predicted, is
 *       (1 − share of selected contexts that came true + share of new contexts among the
 *        candidates of this step) / 2
 *     and is 0 when every bit was predicted;
 *   - after a score of BASE_THRESHOLD = 0.75 or more, the next `restPoints` scores are reported
 *     as 0 (NAB: a fifth of its probationary period, 150 points on a long series).
 *
 * The value range: NAB hands every detector the file's minimum and maximum before the first row,
 * and CAD OSE quantises over them. A batch tool (`emms detect` on a CSV) may legitimately read
 * its file's range (`range`); a stream has no such oracle. Without `range`, the range is the
 * minimum and maximum of the values seen so far (this one included), which becomes the file's
 * range by its last row; a new extreme rescales the levels, and what was learnt under the old
 * scale partly stops matching (the rest period masks the first points, where that happens most).
 * We first tried fixing the step on the first day of points and giving values beyond that range
 * extra bits: a trending series then minted a new bit every few hundred points, and with more
 * facts per step the context memory grew so fast that 4,000 points of a synthetic trend took
 * 4 minutes; with 3 bits always, the memory's cost per point stays bounded.
 *
 * Where we differ from CAD OSE's code, knowingly: active contexts that tie on activations are
 * ranked newest first (it ranks them by Python tuple hashes, an accident of the language), and
 * its first context (id 0, which it never updates, since 0 == False there) is treated like the
 * others. On NAB's 20 development files this scores 71.2 / 67.2 (standard / reward_low_FP,
 * threshold swept on them) against 70.7 / 66.2 for NAB's own CAD OSE results.
 *
 * Memory grows with every new context; a stream may run for years, so past MAX_CONTEXTS the
 * memory is dropped and learning starts again (the next rest period's worth of points scores 0).
 */
import { ContextMemory } from './cad_context_memory.js';

export const VALUE_BITS = 3;
const MAX_LEVEL_IN_RANGE = 2 ** VALUE_BITS - 1;
export const BASE_THRESHOLD = 0.75;
const MAX_ACTIVE_NEURONS = 15;
const MAX_LEFT_FACTS = 7;
/** NAB's probationary period of a series of 5,000 points or more is 750 points; CAD rests a fifth. */
export const DEFAULT_REST_POINTS = 150;
/**
 * Contexts kept before the memory is dropped: 1.6 times the most any of NAB's 20 development
 * files needs (12,470, cpu_utilization_asg_misconfiguration, 18,050 rows), so their scores are
 * CAD's own. A step's cost grows with the contexts its facts touch, and this cap is what bounds
 * the time per point of a stream that runs for months: with 50,000 a noisy 5-minute cycle
 * (bench/detect.bench.ts) fell to 150 points/s, against ~2,000 at 10,000 contexts (measured
 * before the issue-17 rewrites of the memory's data structures, the first ~4× cheaper per step
 * and the second, which finds whole left semi-contexts from an index instead of visiting every
 * holder of a sensor fact, ~3× again (CPU time, NAB development files), both with identical
 * scores; the cap was left as it was, so the scores did not move).
 */
export const MAX_CONTEXTS = 20_000;

export interface CadOptions {
  /** The series' value range, when known in advance (a batch over a whole file, as NAB gives). */
  range?: { min: number; max: number };
  /** Points after a score ≥ 0.75 that report 0. Default 150 (NAB's on any series ≥ 5,000 points). */
  restPoints?: number;
}

/** Facts of a level in [0, 2^VALUE_BITS): 2·bit + value for each of its VALUE_BITS bits, ascending. */
export function factsOfLevel(level: number): number[] {
  const facts: number[] = [];
  for (let bit = 0; bit < VALUE_BITS; bit++) facts.push(2 * bit + ((level >> bit) & 1));
  return facts;
}

/** The facts of a level as a bit mask (fact f is bit f): the memory keeps sensor facts so. */
function maskOfLevel(level: number): number {
  let mask = 0;
  for (let bit = 0; bit < VALUE_BITS; bit++) mask |= 1 << (2 * bit + ((level >> bit) & 1));
  return mask;
}

export class CadDetector {
  readonly #restPoints: number;
  #memory = new ContextMemory(MAX_LEFT_FACTS, MAX_ACTIVE_NEURONS);
  /** A range given in advance; otherwise the running minimum and maximum. */
  readonly #fixedRange: boolean;
  #min = Infinity;
  #max = -Infinity;
  /** Sensor facts the memory predicted for this step, as a mask. */
  #predicted = 0;
  /** The strongest active contexts of this step, ascending by id: the neuron facts of the next step's left side. */
  readonly #neurons = new Int32Array(MAX_ACTIVE_NEURONS);
  /** Points since the last score ≥ BASE_THRESHOLD (the rest period starts at the first point). */
  #sinceHigh = 0;

  constructor(options: CadOptions = {}) {
    this.#restPoints = options.restPoints ?? DEFAULT_REST_POINTS;
    if (!Number.isInteger(this.#restPoints) || this.#restPoints < 0) {
      throw new RangeError(`CadDetector: restPoints=${this.#restPoints} must be a non-negative integer`);
    }
    if (options.range !== undefined) {
      const { min, max } = options.range;
      if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) {
        throw new RangeError(`CadDetector: range={min: ${min}, max: ${max}} must be finite with min ≤ max`);
      }
      this.#min = min;
      this.#max = max;
    }
    this.#fixedRange = options.range !== undefined;
  }

  /** Contexts in memory (it is dropped past MAX_CONTEXTS). */
  get contextCount(): number {
    return this.#memory.size;
  }

  /** Anomaly score in [0, 1] of the newest value, from it and earlier values only. */
  update(value: number): number {
    if (!Number.isFinite(value)) throw new RangeError(`CadDetector.update: value=${value} must be a finite number`);
    if (!this.#fixedRange) {
      this.#min = Math.min(this.#min, value);
      this.#max = Math.max(this.#max, value);
    }
    // A constant range still needs a step: one unit, as CAD OSE (a flat line then sits at level 0).
    const step = this.#max > this.#min ? (this.#max - this.#min) / MAX_LEVEL_IN_RANGE : 1;
    // Clamped: a value outside a range given in advance is as extreme as its nearer end.
    const level = Math.max(0, Math.min(MAX_LEVEL_IN_RANGE, Math.trunc((value - this.#min) / step)));
    const facts = maskOfLevel(level);
    const unpredicted = (facts & ~this.#predicted) !== 0;
    const raw = this.#learn(facts);
    const anomaly = unpredicted ? raw : 0;
    const resting = this.#sinceHigh < this.#restPoints;
    this.#sinceHigh = anomaly >= BASE_THRESHOLD ? 0 : this.#sinceHigh + 1;
    return resting ? 0 : anomaly;
  }

  /** One step of the context memory on the step's sensor facts (a mask); returns the raw anomaly of the step. */
  #learn(facts: number): number {
    if (this.#memory.size >= MAX_CONTEXTS) {
      this.#memory = new ContextMemory(MAX_LEFT_FACTS, MAX_ACTIVE_NEURONS);
      this.#sinceHigh = 0;
    }
    const memory = this.#memory;
    const growing = memory.hasLeft && memory.observeTransition(facts);
    const selected = memory.crossRight(facts, growing);
    const shareActive = selected > 0 ? memory.activeCount / selected : 0;
    const neuronCount = memory.strongestActive(this.#neurons);
    memory.addGrownContexts(facts);
    // Candidates exist only on a growing step, and then the new transition counts as added too.
    const shareAdded = growing ? (memory.added + 1) / memory.distinct : 0;
    this.#predicted = memory.crossLeftAndPredict(facts, this.#neurons, neuronCount);
    return (1 - shareActive + shareAdded) / 2;
  }
}
