/**
 * The context memory of the contextual anomaly detector (cad_detector.ts): our implementation of
 * the "context operator" of CAD OSE (Contextual Anomaly Detector, Open Source Edition, M. Smirnov
 * 2016, https://github.com/smirmik/CAD; NAB's entry `contextOSE`), written from its description,
 * not from its code.
 *
 * A *fact* is a bit of the quantised value (a sensor fact) or an active context standing for a
 * "neuron". A *context* pairs a left semi-context (the facts that held at the previous step)
 * with a right semi-context (the sensor facts that followed them). Left semi-contexts are shared
 * between contexts (cad_semi_contexts.ts); a right one only ever holds sensor facts, so it is
 * kept as their bit mask.
 *
 * Per context the memory counts: facts it predicted (its right side, each time its whole left
 * side held), how many of those came true, and how often it fully came true (its activations).
 * A context "zero-level" was once seen whole (left facts then right facts); new contexts are
 * grown from the partial overlaps of zero-level ones with what actually happened.
 *
 * Contexts are numbered in creation order. A context belongs to one left semi-context, and its
 * record (right mask, id, counters) lives in that semi-context's own typed array, next to its
 * siblings': the crossings visit contexts left semi-context by left semi-context, and with the
 * counters in per-context arrays indexed by id, each visit touched several scattered cache lines.
 * Per step the memory visits the contexts of the left semi-contexts held whole (to settle the
 * previous step's predictions and rank them for the next), and, on a step whose transition is
 * new, those of the left semi-contexts that hold a zero-level context (to grow candidates):
 * nothing else. The scores are those of the earlier layouts bit for bit (golden test).
 */
import { PairTable } from './cad_pair_table.js';
import { FACTS_IN_MASK, grownInt32, LeftSemiContexts } from './cad_semi_contexts.js';

/** Neuron order: more activations first, then the newer context (CAD OSE's order; see cad_detector.ts on ties). */
function ranksBefore(id: number, activations: number, otherId: number, otherActivations: number): boolean {
  return activations > otherActivations || (activations === otherActivations && id > otherId);
}

/** A context's record in its left semi-context's array: these offsets, STRIDE numbers in all. */
const RIGHT = 0;
const ID = 1;
/** 1 once seen whole (left facts, then right facts, on consecutive steps). */
const ZERO_LEVEL = 2;
/** Right-side facts predicted so far (each time the whole left side held). */
const PREDICTED = 3;
/** Of those, the ones that were present. */
const CONFIRMED = 4;
/** CONFIRMED / PREDICTED (0 before any prediction), kept for the left crossing's ranking. */
const WEIGHT = 5;
/** Times the whole right side followed the whole left side. */
const ACTIVATIONS = 6;
/** Facts of the right side (the bits of RIGHT). */
const RIGHT_LENGTH = 7;
/** 8 numbers of 8 bytes: a context's record spans at most two cache lines. */
const STRIDE = 8;

function grownFloat64(array: Float64Array<ArrayBuffer>, needed: number): Float64Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const grown = new Float64Array(Math.max(needed, 2 * array.length));
  grown.set(array);
  return grown;
}

export class ContextMemory {
  readonly #left = new LeftSemiContexts();
  /** Per left semi-context: its contexts' records (STRIDE numbers each, in creation order), and how many numbers are used. */
  readonly #contextsOfLeft: Float64Array[] = [];
  #usedOfLeft = new Int32Array(1024);
  /**
   * Per left semi-context: the best WEIGHT of its contexts and the union of the right masks of
   * those that have it, kept up to date as weights change (only in crossRight) and contexts are
   * added (at weight 0), so that the left crossing's prediction reads one record per whole left
   * semi-context instead of every context of each.
   */
  #bestWeightOfLeft = new Float64Array(1024);
  #bestRightsOfLeft = new Int32Array(1024);
  /** (left semi-context, right mask) → context id. */
  readonly #contextOfPair = new PairTable();
  #size = 0;
  /** Per context: where its record is in its left semi-context's array. */
  #offsetOf = new Int32Array(1024);
  /** Left semi-contexts holding a zero-level context, ascending, and a mark per left semi-context. */
  #zeroLevelLefts = new Int32Array(256);
  #zeroLevelLeftCount = 0;
  #holdsZeroLevel = new Int32Array(1024);
  /** Longest left overlap grown into a new context (CAD OSE's maxLeftSemiContextsLength, 7). */
  readonly #maxLeftFacts: number;
  /** The left facts of the latest step (crossLeftAndPredict): a sensor mask and neuron ids, ascending. */
  #hasLeft = false;
  #leftMask = 0;
  #leftNeurons = new Int32Array(16);
  #leftNeuronCount = 0;
  /** The zero-level context created at this step, which must not predict its own birth. */
  #newContext = -1;
  /** The context of this step's transition (observeTransition). */
  #transitionContext = -1;
  /** Contexts active at the latest right crossing: how many, and the strongest (ranksBefore) in order. */
  #activeCount = 0;
  readonly #maxNeurons: number;
  readonly #topIds: Int32Array;
  readonly #topActivations: Float64Array;
  #topCount = 0;
  /** Overlaps found by the latest right crossing, as flat (left semi-context, right mask) pairs. */
  #candidates = new Int32Array(256);
  #candidateCount = 0;
  /** Marks for counting distinct proposed contexts: context id → the addGrownContexts call that proposed it. */
  #proposedAt = new Int32Array(1024);
  #proposals = 0;
  #added = 0;
  #distinct = 0;

  /**
   * `maxLeftFacts`: longest left overlap grown into a context; `maxNeurons`: active contexts
   * that become facts of the next step (strongestActive).
   */
  constructor(maxLeftFacts: number, maxNeurons: number) {
    this.#maxLeftFacts = maxLeftFacts;
    this.#maxNeurons = maxNeurons;
    this.#topIds = new Int32Array(maxNeurons + 1);
    this.#topActivations = new Float64Array(maxNeurons + 1);
  }

  get size(): number {
    return this.#size;
  }

  /** Whether a step's left facts were crossed yet (there is a transition to observe). */
  get hasLeft(): boolean {
    return this.#hasLeft;
  }

  #markZeroLevel(id: number, left: number): void {
    this.#contextsOfLeft[left]![this.#offsetOf[id]! + ZERO_LEVEL] = 1;
    if (this.#holdsZeroLevel[left] === 1) return;
    this.#holdsZeroLevel[left] = 1;
    // Usually the newest left semi-context (a new transition): an append.
    const lefts = (this.#zeroLevelLefts = grownInt32(this.#zeroLevelLefts, this.#zeroLevelLeftCount + 1));
    let at = this.#zeroLevelLeftCount++;
    while (at > 0 && lefts[at - 1]! > left) {
      lefts[at] = lefts[at - 1]!;
      at--;
    }
    lefts[at] = left;
  }

  /** The context of (left, right), created if new: a new one has id === size before the call. */
  #findOrAdd(left: number, right: number, zeroLevel: boolean): number {
    const lefts = this.#left.size;
    if (lefts > this.#usedOfLeft.length) {
      this.#holdsZeroLevel = grownInt32(this.#holdsZeroLevel, lefts);
      this.#usedOfLeft = grownInt32(this.#usedOfLeft, lefts);
      this.#bestWeightOfLeft = grownFloat64(this.#bestWeightOfLeft, lefts);
      this.#bestRightsOfLeft = grownInt32(this.#bestRightsOfLeft, lefts);
    }
    const known = this.#contextOfPair.get(left, right);
    if (known >= 0) {
      if (zeroLevel && this.#contextsOfLeft[left]![this.#offsetOf[known]! + ZERO_LEVEL] === 0) this.#markZeroLevel(known, left);
      return known;
    }
    const id = this.#size++;
    this.#contextOfPair.add(left, right, id);
    const offset = this.#usedOfLeft[left]!;
    let list = this.#contextsOfLeft[left];
    if (list === undefined || offset + STRIDE > list.length) {
      // New arrays read 0: a new context has predicted, confirmed and activated nothing.
      const grown = new Float64Array(Math.max(2 * STRIDE, 2 * offset));
      if (list !== undefined) grown.set(list);
      list = this.#contextsOfLeft[left] = grown;
    }
    list[offset + RIGHT] = right;
    list[offset + ID] = id;
    list[offset + RIGHT_LENGTH] = FACTS_IN_MASK[right]!;
    this.#usedOfLeft[left] = offset + STRIDE;
    // Its weight is 0: among the best of its left semi-context only when they all are 0.
    if (this.#bestWeightOfLeft[left] === 0) this.#bestRightsOfLeft[left]! |= right;
    if (id >= this.#offsetOf.length) {
      this.#offsetOf = grownInt32(this.#offsetOf, id + 1);
      this.#proposedAt = grownInt32(this.#proposedAt, id + 1);
    }
    this.#offsetOf[id] = offset;
    if (zeroLevel) this.#markZeroLevel(id, left);
    return id;
  }

  /** Records the whole transition (previous left facts → this step's sensor mask); true if it was never seen. */
  observeTransition(sensorMask: number): boolean {
    const before = this.#size;
    const left = this.#left.findOrAdd(this.#leftMask, this.#leftNeurons, this.#leftNeuronCount);
    const id = this.#findOrAdd(left, sensorMask, true);
    const added = id === before;
    this.#transitionContext = id;
    if (added) this.#newContext = id;
    return added;
  }

  /**
   * Crosses the current sensor facts with the right sides and settles the predictions made at
   * the previous step (by the left semi-contexts its facts held whole): every context of those is
   * "selected" and scored on how much of its right side came; one whose right side came whole is
   * active. When this step's transition was new (`growing`), partial overlaps of zero-level
   * contexts become candidates for new contexts (addGrownContexts).
   * Returns the number selected; activeCount and strongestActive tell the active ones until the next call.
   */
  crossRight(sensorMask: number, growing: boolean): number {
    const left = this.#left;
    const newContext = this.#newContext;
    const contextsOfLeft = this.#contextsOfLeft;
    const usedOfLeft = this.#usedOfLeft;
    const bestWeightOfLeft = this.#bestWeightOfLeft;
    const bestRightsOfLeft = this.#bestRightsOfLeft;
    const factsInMask = FACTS_IN_MASK;
    const maxNeurons = this.#maxNeurons;
    const topIds = this.#topIds;
    const topActivations = this.#topActivations;
    let topCount = 0;
    let activeCount = 0;
    let selected = 0;
    const whole = left.whole;
    const wholeCount = left.wholeCount;
    for (let w = 0; w < wholeCount; w++) {
      const l = whole[w]!;
      const list = contextsOfLeft[l];
      if (list === undefined) continue;
      const used = usedOfLeft[l]!;
      let bestWeight = 0;
      let bestRights = 0;
      for (let k = 0; k < used; k += STRIDE) {
        const right = list[k + RIGHT]!;
        const id = list[k + ID]!;
        let weight = 0;
        let came = 0;
        let rightLength = 0;
        if (id === newContext) {
          // Not settled (it must not predict its own birth): its weight stays 0.
        } else {
          selected++;
          rightLength = list[k + RIGHT_LENGTH]!;
          const p = (list[k + PREDICTED]! += rightLength);
          came = factsInMask[right & sensorMask]!;
          weight = list[k + WEIGHT] = (came === 0 ? list[k + CONFIRMED]! : (list[k + CONFIRMED]! += came)) / p;
        }
        if (weight > bestWeight) {
          bestWeight = weight;
          bestRights = right;
        } else if (weight === bestWeight) {
          bestRights |= right;
        }
        if (came !== 0 && came === rightLength) {
          const count = ++list[k + ACTIVATIONS]!;
          activeCount++;
          // Only the strongest maxNeurons are kept, in a short sorted list as they come (a step
          // can have hundreds active; sorting them all was a hot spot). The order is total (ids
          // differ), so this is exactly the head of the full sort.
          if (topCount === maxNeurons && !ranksBefore(id, count, topIds[topCount - 1]!, topActivations[topCount - 1]!)) continue;
          let at = topCount;
          while (at > 0 && ranksBefore(id, count, topIds[at - 1]!, topActivations[at - 1]!)) {
            topIds[at] = topIds[at - 1]!;
            topActivations[at] = topActivations[at - 1]!;
            at--;
          }
          topIds[at] = id;
          topActivations[at] = count;
          if (topCount < maxNeurons) topCount++;
        }
      }
      bestWeightOfLeft[l] = bestWeight;
      bestRightsOfLeft[l] = bestRights;
    }
    this.#activeCount = activeCount;
    this.#topCount = topCount;
    this.#candidateCount = 0;
    if (growing) this.#findCandidates(sensorMask);
    this.#newContext = -1;
    return selected;
  }

  /**
   * The overlaps of zero-level contexts with this step: a left side with 1 to maxLeftFacts facts
   * present at the previous step, a right side partly or wholly come, and not both whole (that
   * context is simply active). In (left semi-context, context) creation order, so new contexts
   * get the numbers they always had (golden test).
   */
  #findCandidates(sensorMask: number): void {
    const left = this.#left;
    const lefts = this.#zeroLevelLefts;
    const maxLeftFacts = this.#maxLeftFacts;
    const newContext = this.#newContext;
    const factsInMask = FACTS_IN_MASK;
    let candidates = this.#candidates;
    let n = 0;
    for (let i = 0; i < this.#zeroLevelLeftCount; i++) {
      const l = lefts[i]!;
      const present = left.presentCount(l, maxLeftFacts);
      if (present === 0 || present > maxLeftFacts) continue;
      const leftWhole = present === left.lengthOf(l);
      const list = this.#contextsOfLeft[l]!;
      const used = this.#usedOfLeft[l]!;
      for (let k = 0; k < used; k += STRIDE) {
        if (list[k + ZERO_LEVEL] === 0 || list[k + ID] === newContext) continue;
        const right = list[k + RIGHT]!;
        const came = factsInMask[right & sensorMask]!;
        if (came === 0 || (leftWhole && came === list[k + RIGHT_LENGTH])) continue;
        if (n + 2 > candidates.length) candidates = this.#candidates = grownInt32(candidates, n + 2);
        candidates[n++] = l;
        candidates[n++] = right;
      }
    }
    this.#candidateCount = n;
  }

  /** Contexts that fully came true at the latest right crossing. */
  get activeCount(): number {
    return this.#activeCount;
  }

  /**
   * The maxNeurons contexts of the latest right crossing's active ones that rank first (more
   * activations, then newer), written into `into` ascending by id; returns how many.
   */
  strongestActive(into: Int32Array): number {
    const n = this.#topCount;
    const ids = this.#topIds;
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      let at = i;
      while (at > 0 && into[at - 1]! > id) {
        into[at] = into[at - 1]!;
        at--;
      }
      into[at] = id;
    }
    return n;
  }

  /**
   * Adds the contexts grown from the latest right crossing's overlaps: (facts of the left
   * semi-context present at the previous step, facts of the right side present now). Afterwards
   * `added` says how many were new, and `distinct` how many distinct contexts were proposed at
   * this step: the candidates and the step's own transition (which a candidate may repeat).
   */
  addGrownContexts(sensorMask: number): void {
    const step = ++this.#proposals;
    let distinct = 0;
    if (this.#transitionContext >= 0) {
      this.#proposedAt[this.#transitionContext] = step;
      distinct++;
    }
    let added = 0;
    const candidates = this.#candidates;
    for (let k = 0; k < this.#candidateCount; k += 2) {
      const grownLeft = this.#left.overlapOf(candidates[k]!);
      const before = this.#size;
      const id = this.#findOrAdd(grownLeft, candidates[k + 1]! & sensorMask, false);
      if (id === before) added++;
      if (this.#proposedAt[id] !== step) {
        this.#proposedAt[id] = step;
        distinct++;
      }
    }
    this.#added = added;
    this.#distinct = distinct;
  }

  get added(): number {
    return this.#added;
  }

  get distinct(): number {
    return this.#distinct;
  }

  /**
   * Crosses the facts of the new step (its sensor mask and active contexts, `count` ids
   * ascending) with the left semi-contexts; the prediction is the union of the right sides of
   * the contexts of the whole ones with the best record (confirmed / predicted), ties all kept.
   * Returns the predicted sensor facts as a mask.
   */
  crossLeftAndPredict(sensorMask: number, neurons: Int32Array, count: number): number {
    this.#hasLeft = true;
    this.#leftMask = sensorMask;
    const leftNeurons = (this.#leftNeurons = grownInt32(this.#leftNeurons, count));
    for (let i = 0; i < count; i++) leftNeurons[i] = neurons[i]!;
    this.#leftNeuronCount = count;
    const left = this.#left;
    left.cross(sensorMask, neurons, count);
    const bestWeightOfLeft = this.#bestWeightOfLeft;
    const bestRightsOfLeft = this.#bestRightsOfLeft;
    let bestWeight = 0;
    let bestRights = 0;
    const whole = left.whole;
    const wholeCount = left.wholeCount;
    for (let w = 0; w < wholeCount; w++) {
      const l = whole[w]!;
      // A left semi-context without contexts reads (0, no facts): it changes nothing.
      if (l >= bestWeightOfLeft.length) continue;
      const weight = bestWeightOfLeft[l]!;
      if (weight > bestWeight) {
        bestWeight = weight;
        bestRights = bestRightsOfLeft[l]!;
      } else if (weight === bestWeight) {
        bestRights |= bestRightsOfLeft[l]!;
      }
    }
    return bestRights;
  }
}
