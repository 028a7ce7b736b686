/**
 * The context memory of the contextual anomaly detector (cad_detector.ts): our implementation of
 * the "context operator" of CAD OSE (Contextual Anomaly Detector, Open Source Edition, M. Smirnov
 * 2016, https://github.com/smirmik/CAD; NAB's entry `contextOSE`), written from its description,
 * not from its code.
 *
 * A *fact* is a number (a bit of the quantised value, or an active context standing for a
 * "neuron"). A *context* pairs a left semi-context (the facts that held at the previous step)
 * with a right semi-context (the facts that followed them). Semi-contexts are shared between
 * contexts and indexed by fact (cad_semi_contexts.ts), so one crossing (which stored facts are
 * present now?) visits only the semi-contexts that hold a present fact.
 *
 * Per context the memory counts: facts it predicted (its right side, each time its whole left
 * side held), how many of those came true, and how often it fully came true (its activations).
 * A context "zero-level" was once seen whole (left facts then right facts); new contexts are
 * grown from the partial overlaps of zero-level ones with what actually happened.
 *
 * Contexts are numbered in creation order and their counters kept in parallel arrays, and each
 * left semi-context lists its contexts as (right semi-context, context) pairs in one flat array:
 * the two crossings below walk these lists at every step, and that walk is the detector's cost.
 * All fact lists are ascending (see cad_semi_contexts.ts).
 */
import { PairTable } from './cad_pair_table.js';
import { SemiContexts } from './cad_semi_contexts.js';

export class ContextMemory {
  readonly #left = new SemiContexts();
  readonly #right = new SemiContexts();
  /** Per left semi-context: its contexts as flat (right semi-context, context id) pairs, in creation order. */
  readonly #contextsOfLeft: number[][] = [];
  /** (left, right) semi-context pair → context id. */
  readonly #contextOfPair = new PairTable();
  /** Per context: its right semi-context. */
  readonly #rightOf: number[] = [];
  /** Per context: seen whole at least once (left facts, then right facts, on consecutive steps). */
  readonly #zeroLevel: boolean[] = [];
  /** Per context: right-side facts predicted so far (each time the whole left side held). */
  readonly #predicted: number[] = [];
  /** Per context: of those, the ones that were present. */
  readonly #confirmed: number[] = [];
  /** Per context: times the whole right side followed the whole left side. */
  readonly #activations: number[] = [];
  /** Longest left overlap grown into a new context (CAD OSE's maxLeftSemiContextsLength, 7). */
  readonly #maxLeftFacts: number;
  /** The zero-level context created at this step, which must not predict its own birth. */
  #newContext = -1;
  /** The context of this step's transition (observeTransition). */
  #transitionContext = -1;
  /** Contexts active at the latest right crossing; reused from step to step. */
  readonly #active: number[] = [];
  /** Overlaps found by the latest right crossing, as flat (left, right) semi-context pairs. */
  readonly #candidates: number[] = [];
  /** Marks for counting distinct proposed contexts: context id → the addGrownContexts call that proposed it. */
  readonly #proposedAt: number[] = [];
  #proposals = 0;
  /** Marks for the union of predicted facts: fact → the crossLeftAndPredict call that predicted it. */
  readonly #predictedAt: number[] = [];
  #predictions = 0;
  /** Scratch of crossLeftAndPredict, kept to spare the collector a large array per step. */
  readonly #bestRights: number[] = [];

  constructor(maxLeftFacts: number) {
    this.#maxLeftFacts = maxLeftFacts;
  }

  get size(): number {
    return this.#rightOf.length;
  }

  /** Times context `id` fully came true. */
  activationsOf(id: number): number {
    return this.#activations[id]!;
  }

  /** The context of (left, right), created if new: a new one has id === size before the call. */
  #findOrAdd(left: number, right: number, zeroLevel: boolean): number {
    const known = this.#contextOfPair.get(left, right);
    if (known >= 0) {
      if (zeroLevel) this.#zeroLevel[known] = true;
      return known;
    }
    const id = this.#rightOf.length;
    this.#contextOfPair.add(left, right, id);
    const list = this.#contextsOfLeft[left];
    if (list === undefined) this.#contextsOfLeft[left] = [right, id];
    else list.push(right, id);
    this.#rightOf.push(right);
    this.#zeroLevel.push(zeroLevel);
    this.#predicted.push(0);
    this.#confirmed.push(0);
    this.#activations.push(0);
    return id;
  }

  /** Records the whole transition (previous facts → current facts); true if it was never seen. */
  observeTransition(leftFacts: readonly number[], rightFacts: readonly number[]): boolean {
    const before = this.size;
    const id = this.#findOrAdd(this.#left.findOrAdd(leftFacts), this.#right.findOrAdd(rightFacts), true);
    const added = id === before;
    this.#transitionContext = id;
    if (added) this.#newContext = id;
    return added;
  }

  /**
   * Crosses the current sensor facts with the right semi-contexts and settles the predictions
   * made at the previous step (by the left semi-contexts crossed then): every context whose whole
   * left side held is "selected" and scored on how much of its right side came; one whose right
   * side came whole is active. When this step's transition was new (`growing`), partial overlaps
   * of zero-level contexts become candidates for new contexts (addGrownContexts).
   * Returns the number selected; the active contexts are in `active` until the next call.
   */
  crossRight(sensorFacts: readonly number[], growing: boolean): number {
    const right = this.#right;
    right.cross(sensorFacts);
    const left = this.#left;
    const active = this.#active;
    const candidates = this.#candidates;
    active.length = 0;
    candidates.length = 0;
    const newContext = this.#newContext;
    let selected = 0;
    const leftLengths = left.lengths;
    const leftCounts = left.presentCounts;
    const rightLengths = right.lengths;
    const rightCounts = right.presentCounts;
    const predicted = this.#predicted;
    const confirmed = this.#confirmed;
    const zeroLevel = this.#zeroLevel;
    const maxLeftFacts = this.#maxLeftFacts;
    for (const l of left.crossed) {
      const leftLength = leftLengths[l]!;
      const leftPresent = leftCounts[l]!;
      const leftWhole = leftPresent === leftLength;
      const mayGrow = growing && leftPresent <= maxLeftFacts;
      // A partial left side only ever proposes candidates: skip its contexts when none may grow
      // (most steps of a learnt series; this loop is the detector's main cost).
      if (!leftWhole && !mayGrow) continue;
      const list = this.#contextsOfLeft[l];
      if (list === undefined) continue;
      for (let k = 0; k < list.length; k += 2) {
        const r = list[k]!;
        const id = list[k + 1]!;
        if (id === newContext) continue;
        const came = rightCounts[r]!;
        if (leftWhole) {
          selected++;
          const rightLength = rightLengths[r]!;
          predicted[id]! += rightLength;
          if (came === 0) continue;
          confirmed[id]! += came;
          if (came === rightLength) {
            this.#activations[id]!++;
            active.push(id);
            continue;
          }
        } else if (came === 0) {
          continue;
        }
        if (mayGrow && zeroLevel[id]) candidates.push(l, r);
      }
    }
    this.#newContext = -1;
    return selected;
  }

  /** Contexts that fully came true at the latest right crossing (ids); valid until the next one. */
  get active(): readonly number[] {
    return this.#active;
  }

  /**
   * Adds the contexts grown from the latest right crossing's overlaps: (facts of the left
   * semi-context present at the previous step, facts of the right one present now). Returns how
   * many were new, and how many distinct contexts were proposed at this step: the candidates and
   * the step's own transition (which a candidate may repeat).
   */
  addGrownContexts(): { added: number; distinct: number } {
    const step = ++this.#proposals;
    const proposedAt = this.#proposedAt;
    let distinct = 0;
    const propose = (id: number): void => {
      if (proposedAt[id] !== step) {
        proposedAt[id] = step;
        distinct++;
      }
    };
    if (this.#transitionContext >= 0) propose(this.#transitionContext);
    let added = 0;
    const candidates = this.#candidates;
    if (candidates.length === 0) return { added, distinct };
    for (let k = 0; k < candidates.length; k += 2) {
      // In candidate order, so new semi-contexts and contexts get the numbers they always had (golden test).
      const grownLeft = this.#left.overlapOf(candidates[k]!);
      const grownRight = this.#right.overlapOf(candidates[k + 1]!);
      const before = this.size;
      const id = this.#findOrAdd(grownLeft, grownRight, false);
      if (id === before) added++;
      propose(id);
    }
    return { added, distinct };
  }

  /**
   * Crosses the facts of the new step (sensor facts and active contexts) with the left
   * semi-contexts; the prediction is the union of the right sides of the fully matched contexts
   * with the best record (confirmed / predicted), ties all kept. Returns the predicted facts.
   */
  crossLeftAndPredict(leftFacts: readonly number[]): number[] {
    const left = this.#left;
    left.cross(leftFacts);
    let bestWeight = 0;
    // Right semi-contexts of the best contexts so far; a new best empties it.
    const bestRights = this.#bestRights;
    bestRights.length = 0;
    const leftLengths = left.lengths;
    const leftCounts = left.presentCounts;
    for (const l of left.crossed) {
      if (leftCounts[l] !== leftLengths[l]) continue;
      const list = this.#contextsOfLeft[l];
      if (list === undefined) continue;
      for (let k = 1; k < list.length; k += 2) {
        const id = list[k]!;
        const predicted = this.#predicted[id]!;
        const weight = predicted > 0 ? this.#confirmed[id]! / predicted : 0;
        if (weight > bestWeight) {
          bestWeight = weight;
          bestRights.length = 0;
          bestRights.push(this.#rightOf[id]!);
        } else if (weight === bestWeight) {
          bestRights.push(this.#rightOf[id]!);
        }
      }
    }
    const step = ++this.#predictions;
    const predictedAt = this.#predictedAt;
    const facts: number[] = [];
    for (const r of bestRights) {
      for (const fact of this.#right.factsOf(r)) {
        if (predictedAt[fact] !== step) {
          predictedAt[fact] = step;
          facts.push(fact);
        }
      }
    }
    return facts;
  }
}
