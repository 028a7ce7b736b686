/**
 * One side (left or right) of the contextual detector's memory (cad_context_memory.ts): the
 * distinct semi-contexts (sets of facts) seen so far, an inverted index fact → semi-contexts,
 * and the result of the latest crossing (which stored semi-contexts hold which facts now).
 *
 * The crossing runs at every step over every semi-context holding a present fact, and the six
 * sensor facts are held by most of them, so it is written for speed: semi-contexts are numbered
 * in creation order, the per-step state (how many of its facts are present) lives in a typed
 * array (zeroed for the previous crossing's semi-contexts only), and which facts of a
 * semi-context are present is worked out only when a caller asks (a growing step), from a
 * stamp per fact holding the number of the crossing that saw it.
 *
 * Fact lists are ascending, non-negative integers, no repeats; the memory's callers build them
 * so, and the keys and "present facts in crossing order" below rely on it.
 */

function grownInt32(array: Int32Array<ArrayBuffer>, needed: number): Int32Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const grown = new Int32Array(Math.max(needed, 2 * array.length));
  grown.set(array);
  return grown;
}

function hashOf(facts: readonly number[]): number {
  // FNV-1a over the fact numbers: cheap, and the lookup compares the facts on every hit anyway.
  let hash = 0x811c9dc5;
  for (const fact of facts) hash = Math.imul(hash ^ fact, 0x01000193);
  return hash;
}

function sameFacts(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const EMPTY = -1;

export class SemiContexts {
  /** Facts of each semi-context, by creation number. */
  readonly #facts: number[][] = [];
  /** Open-addressing table of semi-context numbers by hashOf(facts); a string key per lookup was a hot spot. */
  #byFacts = new Int32Array(2048).fill(EMPTY);
  /** Fact → semi-contexts holding it, ascending (they are appended in creation order). */
  readonly #holders: number[][] = [];

  /** Facts per semi-context. */
  #lengths = new Int32Array(1024);
  /** Number of the latest crossing. */
  #crossing = 0;
  /** Facts present at the latest crossing, per semi-context (0 for those it did not touch). */
  #presentCountOf = new Int32Array(1024);
  /** Per semi-context: the semi-context of its present facts, and the crossing that found it. */
  #overlapOf = new Int32Array(1024);
  #overlapAt = new Int32Array(1024);
  /** Per fact: the crossing that last saw it present. */
  #factStamp = new Int32Array(64);
  #crossed = new Int32Array(1024);
  #crossedCount = 0;

  get size(): number {
    return this.#facts.length;
  }

  factsOf(semiContext: number): readonly number[] {
    return this.#facts[semiContext]!;
  }

  #slotOf(facts: readonly number[]): number {
    const table = this.#byFacts;
    const mask = table.length - 1;
    let slot = hashOf(facts) & mask;
    while (table[slot] !== EMPTY && !sameFacts(this.#facts[table[slot]!]!, facts)) slot = (slot + 1) & mask;
    return slot;
  }

  #growTable(): void {
    this.#byFacts = new Int32Array(2 * this.#byFacts.length).fill(EMPTY);
    for (let id = 0; id < this.#facts.length; id++) this.#byFacts[this.#slotOf(this.#facts[id]!)] = id;
  }

  /** The semi-context holding exactly `facts` (ascending), created if new. */
  findOrAdd(facts: readonly number[]): number {
    let slot = this.#slotOf(facts);
    const known = this.#byFacts[slot]!;
    if (known !== EMPTY) return known;
    const id = this.#facts.length;
    this.#facts.push(facts.slice());
    if (2 * this.#facts.length > this.#byFacts.length) {
      this.#growTable();
      slot = this.#slotOf(facts);
    }
    this.#byFacts[slot] = id;
    for (const fact of facts) {
      const holders = this.#holders[fact];
      if (holders === undefined) this.#holders[fact] = [id];
      else holders.push(id);
    }
    // Grown arrays read 0: a semi-context created after the latest crossing holds nothing of it.
    this.#lengths = grownInt32(this.#lengths, id + 1);
    this.#presentCountOf = grownInt32(this.#presentCountOf, id + 1);
    this.#overlapOf = grownInt32(this.#overlapOf, id + 1);
    this.#overlapAt = grownInt32(this.#overlapAt, id + 1);
    this.#lengths[id] = facts.length;
    return id;
  }

  /** Marks, for every semi-context, how many of `facts` it holds. */
  cross(facts: readonly number[]): void {
    const crossing = ++this.#crossing;
    const countOf = this.#presentCountOf;
    let crossed = this.#crossed;
    for (let k = 0; k < this.#crossedCount; k++) countOf[crossed[k]!] = 0;
    let n = 0;
    for (const fact of facts) {
      if (fact >= this.#factStamp.length) this.#factStamp = grownInt32(this.#factStamp, fact + 1);
      this.#factStamp[fact] = crossing;
      const holders = this.#holders[fact];
      if (holders === undefined) continue;
      for (let h = 0; h < holders.length; h++) {
        const sc = holders[h]!;
        if (countOf[sc]!++ === 0) {
          if (n === crossed.length) crossed = this.#crossed = grownInt32(crossed, n + 1);
          crossed[n++] = sc;
        }
      }
    }
    // Creation order, so that contexts grown from this crossing are numbered the same way
    // whatever order the facts' holder lists interleave in. When most semi-contexts were
    // crossed (the usual case: sensor facts are everywhere), a scan beats a sort.
    if (n > this.#facts.length >>> 3) {
      let k = 0;
      for (let sc = 0; sc < this.#facts.length; sc++) if (countOf[sc] !== 0) crossed[k++] = sc;
    } else {
      crossed.subarray(0, n).sort();
    }
    this.#crossedCount = n;
  }

  /** Semi-contexts holding a fact of the latest crossing, ascending; valid until the next crossing. */
  get crossed(): Int32Array {
    return this.#crossed.subarray(0, this.#crossedCount);
  }

  /**
   * Facts present at the latest crossing, per semi-context, and facts per semi-context: typed
   * arrays for the memory's hot loops; valid until the next crossing or findOrAdd.
   */
  get presentCounts(): Int32Array {
    return this.#presentCountOf;
  }

  get lengths(): Int32Array {
    return this.#lengths;
  }

  /**
   * The semi-context holding exactly the facts of `semiContext` present at the latest crossing
   * (in the crossing's order, which is ascending), created if new; found once per crossing.
   */
  overlapOf(semiContext: number): number {
    // Crossing numbers start at 1, so an unset mark (0) never reads as found.
    if (this.#crossing > 0 && this.#overlapAt[semiContext] === this.#crossing) return this.#overlapOf[semiContext]!;
    const present: number[] = [];
    const stamp = this.#factStamp;
    for (const fact of this.#facts[semiContext]!) if (stamp[fact] === this.#crossing) present.push(fact);
    const overlap = this.findOrAdd(present);
    this.#overlapAt[semiContext] = this.#crossing;
    this.#overlapOf[semiContext] = overlap;
    return overlap;
  }
}
