/**
 * The context memory of the contextual anomaly detector (cad_detector.ts): our implementation of
 * the "context operator" of CAD OSE (Contextual Anomaly Detector, Open Source Edition, M. Smirnov
 * 2016, https://github.com/smirmik/CAD; NAB's entry `contextOSE`), written from its description,
 * not from its code.
 *
 * A *fact* is a number (a bit of the quantised value, or an active context standing for a
 * "neuron"). A *context* pairs a left semi-context (the facts that held at the previous step)
 * with a right semi-context (the facts that followed them). Semi-contexts are shared between
 * contexts and indexed by fact, so one crossing (which stored facts are present now?) visits
 * only the semi-contexts that hold a present fact.
 *
 * Per context the memory counts: facts it predicted (its right side, each time its whole left
 * side held), how many of those came true, and how often it fully came true (its activations).
 * A context "zero-level" was once seen whole (left facts then right facts); new contexts are
 * grown from the partial overlaps of zero-level ones with what actually happened.
 */

/** A set of facts on one side of a context, with what the latest crossing found of it. */
interface SemiContext {
  /** Creation order; the crossing reports semi-contexts in this order. */
  readonly index: number;
  readonly facts: readonly number[];
  /** Facts of this semi-context present at the latest crossing (in the crossing's fact order). */
  present: number[];
  /** Left semi-contexts only: right semi-context index → context index. */
  readonly contexts: Map<number, number>;
}

interface Context {
  readonly rightFacts: readonly number[];
  /** Seen whole at least once (left facts, then right facts, on consecutive steps). */
  zeroLevel: boolean;
  /** Right-side facts predicted so far (each time the whole left side held). */
  predicted: number;
  /** Of those, the ones that were present. */
  confirmed: number;
  /** Times the whole right side followed the whole left side. */
  activations: number;
}

export interface ActiveContext {
  id: number;
  activations: number;
}

/** What the right-side crossing found: the activity of the step, and contexts worth growing. */
export interface RightCrossing {
  active: ActiveContext[];
  /** Contexts whose whole left side held at the previous step (each predicted something). */
  selected: number;
  /** (left facts, right facts) overlaps of zero-level contexts with what happened. */
  candidates: Array<[number[], number[]]>;
}

function keyOf(facts: readonly number[]): string {
  return facts.join(',');
}

class Side {
  readonly list: SemiContext[] = [];
  readonly #byKey = new Map<string, SemiContext>();
  readonly #byFact = new Map<number, SemiContext[]>();
  /** Semi-contexts with a present fact at the latest crossing, in creation order. */
  crossed: SemiContext[] = [];

  findOrAdd(facts: readonly number[], key = keyOf(facts)): SemiContext {
    let sc = this.#byKey.get(key);
    if (sc === undefined) {
      sc = { index: this.list.length, facts: facts.slice(), present: [], contexts: new Map() };
      this.list.push(sc);
      this.#byKey.set(key, sc);
      for (const fact of facts) {
        const holders = this.#byFact.get(fact);
        if (holders === undefined) this.#byFact.set(fact, [sc]);
        else holders.push(sc);
      }
    }
    return sc;
  }

  /** Marks, in every semi-context, which of `facts` it holds. */
  cross(facts: readonly number[]): void {
    // Emptied in place: a fresh array per semi-context per step was most of the detector's garbage.
    for (const sc of this.crossed) sc.present.length = 0;
    const touched: SemiContext[] = [];
    for (const fact of facts) {
      const holders = this.#byFact.get(fact);
      if (holders === undefined) continue;
      for (const sc of holders) {
        if (sc.present.length === 0) touched.push(sc);
        sc.present.push(fact);
      }
    }
    // Creation order, so that contexts grown from this crossing are numbered the same way
    // whatever order the facts' index lists happen to hold them in.
    touched.sort((a, b) => a.index - b.index);
    this.crossed = touched;
  }
}

export class ContextMemory {
  readonly #left = new Side();
  readonly #right = new Side();
  readonly #contexts: Context[] = [];
  /** Longest left overlap grown into a new context (CAD OSE's maxLeftSemiContextsLength, 7). */
  readonly #maxLeftFacts: number;
  /** The zero-level context created at this step, which must not predict its own birth. */
  #newContext = -1;

  constructor(maxLeftFacts: number) {
    this.#maxLeftFacts = maxLeftFacts;
  }

  get size(): number {
    return this.#contexts.length;
  }

  #findOrAdd(leftFacts: readonly number[], rightFacts: readonly number[], zeroLevel: boolean, leftKey?: string, rightKey?: string): { id: number; added: boolean } {
    const left = this.#left.findOrAdd(leftFacts, leftKey);
    const right = this.#right.findOrAdd(rightFacts, rightKey);
    const known = left.contexts.get(right.index);
    if (known !== undefined) {
      if (zeroLevel) this.#contexts[known]!.zeroLevel = true;
      return { id: known, added: false };
    }
    const id = this.#contexts.length;
    left.contexts.set(right.index, id);
    this.#contexts.push({ rightFacts: right.facts, zeroLevel, predicted: 0, confirmed: 0, activations: 0 });
    return { id, added: true };
  }

  /** Records the whole transition (previous facts → current facts); true if it was never seen. */
  observeTransition(leftFacts: readonly number[], rightFacts: readonly number[]): boolean {
    const leftKey = keyOf(leftFacts);
    const rightKey = keyOf(rightFacts);
    this.#transitionKey = `${leftKey}|${rightKey}`;
    const { id, added } = this.#findOrAdd(leftFacts, rightFacts, true, leftKey, rightKey);
    if (added) this.#newContext = id;
    return added;
  }

  #transitionKey = '';

  /**
   * Adds grown contexts. Returns how many were new, and how many distinct contexts were proposed
   * at this step: the candidates and the step's own transition (which a candidate may repeat).
   */
  addContexts(candidates: ReadonlyArray<readonly [readonly number[], readonly number[]]>): { added: number; distinct: number } {
    let added = 0;
    const proposed = new Set<string>([this.#transitionKey]);
    for (const [l, r] of candidates) {
      const leftKey = keyOf(l);
      const rightKey = keyOf(r);
      proposed.add(`${leftKey}|${rightKey}`);
      if (this.#findOrAdd(l, r, false, leftKey, rightKey).added) added++;
    }
    return { added, distinct: proposed.size };
  }

  /**
   * Crosses the current sensor facts with the right semi-contexts and settles the predictions
   * made at the previous step (by the left semi-contexts crossed then): every context whose whole
   * left side held is "selected" and scored on how much of its right side came; one whose right
   * side came whole is active. When this step's transition was new (`growing`), partial overlaps
   * of zero-level contexts become candidates for new contexts.
   */
  crossRight(sensorFacts: readonly number[], growing: boolean): RightCrossing {
    this.#right.cross(sensorFacts);
    const active: ActiveContext[] = [];
    const candidates: Array<[number[], number[]]> = [];
    let selected = 0;
    for (const left of this.#left.crossed) {
      const leftWhole = left.present.length === left.facts.length;
      const mayGrow = growing && left.present.length <= this.#maxLeftFacts;
      // A partial left side only ever proposes candidates: skip its contexts when none may grow
      // (most steps of a learnt series; this loop is the detector's main cost).
      if (!leftWhole && !mayGrow) continue;
      for (const [rightIndex, id] of left.contexts) {
        if (id === this.#newContext) continue;
        const context = this.#contexts[id]!;
        const right = this.#right.list[rightIndex]!;
        const came = right.present.length;
        if (leftWhole) {
          selected++;
          context.predicted += right.facts.length;
          if (came === 0) continue;
          context.confirmed += came;
          if (came === right.facts.length) {
            context.activations++;
            active.push({ id, activations: context.activations });
            continue;
          }
        } else if (came === 0) {
          continue;
        }
        if (context.zeroLevel && mayGrow) candidates.push([left.present.slice(), right.present.slice()]);
      }
    }
    this.#newContext = -1;
    return { active, selected, candidates };
  }

  /**
   * Crosses the facts of the new step (sensor facts and active contexts) with the left
   * semi-contexts; the prediction is the union of the right sides of the fully matched contexts
   * with the best record (confirmed / predicted), ties all kept.
   */
  crossLeftAndPredict(leftFacts: readonly number[]): Set<number> {
    this.#left.cross(leftFacts);
    let bestWeight = 0;
    let best: Context[] = [];
    for (const left of this.#left.crossed) {
      if (left.present.length !== left.facts.length) continue;
      for (const id of left.contexts.values()) {
        const context = this.#contexts[id]!;
        const weight = context.predicted > 0 ? context.confirmed / context.predicted : 0;
        if (weight > bestWeight) {
          bestWeight = weight;
          best = [context];
        } else if (weight === bestWeight) {
          best.push(context);
        }
      }
    }
    const predicted = new Set<number>();
    for (const context of best) for (const fact of context.rightFacts) predicted.add(fact);
    return predicted;
  }
}
