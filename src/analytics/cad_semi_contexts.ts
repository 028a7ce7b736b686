/**
 * The left semi-contexts of the contextual detector's memory (cad_context_memory.ts): the
 * distinct sets of facts seen on the left of a transition, and the result of the latest crossing
 * (which of them the facts of a step hold whole, and how many facts of any one are present).
 *
 * A left fact set is a step's sensor facts (one per value bit, < 2·VALUE_BITS ≤ 8, so a bit mask)
 * plus active contexts standing for "neurons" (context ids, ascending), or a subset of one. A
 * semi-context is stored as that mask and its neuron ids. The memory needs, at every step, the
 * semi-contexts the step's facts hold whole; a count per semi-context over an inverted index
 * (fact → holders) visited every semi-context holding any present sensor fact, which is most of
 * them (1,000–1,600 per step on NAB files against 40–80 whole), and was the detector's main
 * cost. So the whole ones are found from an index where a semi-context can only be reached when
 * it may be whole:
 *   - one with neurons is listed under one of them (its *anchor*), and is whole only if that
 *     neuron is active now, its mask is inside the step's mask and its other neurons are active
 *     too (a stamp per context holding the number of the crossing that saw it active);
 *   - one without neurons is listed under its mask, and is whole when the mask is a subset of
 *     the step's (2^VALUE_BITS subsets to visit).
 * The anchor is the neuron of the set with the fewest semi-contexts listed so far: one that is
 * often active takes part in many new semi-contexts, so a long list marks a neuron visited
 * often (measured: ~4% less CPU per point on the bench's stream than anchoring on the newest).
 * Where a semi-context is listed changes only which are visited, never which are whole.
 */

export function grownInt32(array: Int32Array<ArrayBuffer>, needed: number): Int32Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const grown = new Int32Array(Math.max(needed, 2 * array.length));
  grown.set(array);
  return grown;
}

function grownUint8(array: Uint8Array<ArrayBuffer>, needed: number): Uint8Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  const grown = new Uint8Array(Math.max(needed, 2 * array.length));
  grown.set(array);
  return grown;
}

/** Set bits of each sensor mask (sensor facts are < 8, so masks are < 256). */
export const FACTS_IN_MASK = Uint8Array.from({ length: 256 }, (_, mask) => {
  let count = 0;
  for (let m = mask; m !== 0; m &= m - 1) count++;
  return count;
});

const EMPTY = -1;

export class LeftSemiContexts {
  #size = 0;
  /** Per semi-context: its sensor facts as a mask, and where its neuron ids sit in #neuronPool. */
  #masks = new Uint8Array(1024);
  #neuronStart = new Int32Array(1024);
  #neuronCount = new Int32Array(1024);
  #neuronPool = new Int32Array(4096);
  #poolLength = 0;
  /** Open-addressing table of semi-context numbers by hashOf(mask, neurons). */
  #byFacts = new Int32Array(2048).fill(EMPTY);
  /** Semi-contexts without neurons, by sensor mask. */
  readonly #byMask: number[][] = Array.from({ length: 256 }, () => []);
  /** Semi-contexts with neurons, by anchor (their newest neuron's context id). */
  readonly #byAnchor: number[][] = [];

  /** Number of the latest crossing (0: none yet), its sensor mask, and per context id the crossing that saw it active. */
  #crossing = 0;
  #crossMask = 0;
  #neuronStamp = new Int32Array(1024);
  /** Semi-contexts held whole by the latest crossing's facts, in no particular order. */
  #whole = new Int32Array(256);
  #wholeCount = 0;
  /** Per semi-context: the semi-context of its facts present at a crossing, and that crossing's number. */
  #overlapOf = new Int32Array(1024);
  #overlapAt = new Int32Array(1024);
  /** Scratch of overlapOf: the present neurons of one semi-context (at most those of a step). */
  #scratch = new Int32Array(32);

  get size(): number {
    return this.#size;
  }

  /** Facts (sensor and neuron) of a semi-context. */
  lengthOf(semiContext: number): number {
    return FACTS_IN_MASK[this.#masks[semiContext]!]! + this.#neuronCount[semiContext]!;
  }

  #hashOf(mask: number, neurons: Int32Array, from: number, count: number): number {
    // FNV-1a over the mask and the neuron ids: cheap, and the lookup compares them on every hit anyway.
    let hash = Math.imul(0x811c9dc5 ^ mask, 0x01000193);
    for (let i = 0; i < count; i++) hash = Math.imul(hash ^ neurons[from + i]!, 0x01000193);
    return hash;
  }

  #holds(id: number, mask: number, neurons: Int32Array, from: number, count: number): boolean {
    if (this.#masks[id] !== mask || this.#neuronCount[id] !== count) return false;
    const pool = this.#neuronPool;
    const start = this.#neuronStart[id]!;
    for (let i = 0; i < count; i++) if (pool[start + i] !== neurons[from + i]) return false;
    return true;
  }

  #slotOf(mask: number, neurons: Int32Array, from: number, count: number): number {
    const table = this.#byFacts;
    const tableMask = table.length - 1;
    let slot = this.#hashOf(mask, neurons, from, count) & tableMask;
    while (table[slot] !== EMPTY && !this.#holds(table[slot]!, mask, neurons, from, count)) slot = (slot + 1) & tableMask;
    return slot;
  }

  #growTable(): void {
    this.#byFacts = new Int32Array(2 * this.#byFacts.length).fill(EMPTY);
    for (let id = 0; id < this.#size; id++) {
      this.#byFacts[this.#slotOf(this.#masks[id]!, this.#neuronPool, this.#neuronStart[id]!, this.#neuronCount[id]!)] = id;
    }
  }

  /** The semi-context of a sensor mask and `count` neuron ids (ascending, from `neurons[0]`), created if new. */
  findOrAdd(mask: number, neurons: Int32Array, count: number): number {
    let slot = this.#slotOf(mask, neurons, 0, count);
    const known = this.#byFacts[slot]!;
    if (known !== EMPTY) return known;
    const id = this.#size++;
    if (2 * this.#size > this.#byFacts.length) {
      this.#growTable();
      slot = this.#slotOf(mask, neurons, 0, count);
    }
    this.#byFacts[slot] = id;
    // Grown arrays read 0: a semi-context created after the latest crossing was not seen whole by it.
    this.#masks = grownUint8(this.#masks, id + 1);
    this.#neuronStart = grownInt32(this.#neuronStart, id + 1);
    this.#neuronCount = grownInt32(this.#neuronCount, id + 1);
    this.#overlapOf = grownInt32(this.#overlapOf, id + 1);
    this.#overlapAt = grownInt32(this.#overlapAt, id + 1);
    this.#neuronPool = grownInt32(this.#neuronPool, this.#poolLength + count);
    this.#masks[id] = mask;
    this.#neuronStart[id] = this.#poolLength;
    this.#neuronCount[id] = count;
    this.#neuronPool.set(neurons.subarray(0, count), this.#poolLength);
    this.#poolLength += count;
    if (count === 0) {
      this.#byMask[mask]!.push(id);
    } else {
      // The neuron with the fewest semi-contexts listed so far: a neuron that is often active
      // takes part in many new semi-contexts, so its list is long and visited often.
      let anchor = neurons[0]!;
      let shortest = this.#byAnchor[anchor]?.length ?? 0;
      for (let i = 1; i < count && shortest > 0; i++) {
        const length = this.#byAnchor[neurons[i]!]?.length ?? 0;
        if (length < shortest) {
          anchor = neurons[i]!;
          shortest = length;
        }
      }
      const list = this.#byAnchor[anchor];
      if (list === undefined) this.#byAnchor[anchor] = [id];
      else list.push(id);
    }
    return id;
  }

  /**
   * Crosses a step's facts (a sensor mask and `count` active context ids, ascending) with the
   * semi-contexts: lists the ones held whole, and remembers the facts for presentCount and overlapOf.
   */
  cross(mask: number, neurons: Int32Array, count: number): void {
    const crossing = ++this.#crossing;
    this.#crossMask = mask;
    let stamp = this.#neuronStamp;
    for (let i = 0; i < count; i++) {
      const neuron = neurons[i]!;
      if (neuron >= stamp.length) stamp = this.#neuronStamp = grownInt32(stamp, neuron + 1);
      stamp[neuron] = crossing;
    }
    let whole = this.#whole;
    let n = 0;
    // Every subset of the mask, the empty one last.
    for (let subset = mask; ; subset = (subset - 1) & mask) {
      const list = this.#byMask[subset]!;
      for (let k = 0; k < list.length; k++) {
        if (n === whole.length) whole = this.#whole = grownInt32(whole, n + 1);
        whole[n++] = list[k]!;
      }
      if (subset === 0) break;
    }
    const masks = this.#masks;
    const pool = this.#neuronPool;
    const starts = this.#neuronStart;
    const counts = this.#neuronCount;
    for (let i = 0; i < count; i++) {
      const list = this.#byAnchor[neurons[i]!];
      if (list === undefined) continue;
      for (let k = 0; k < list.length; k++) {
        const sc = list[k]!;
        if ((masks[sc]! & ~mask) !== 0) continue;
        const start = starts[sc]!;
        const end = start + counts[sc]!;
        let j = start;
        while (j < end && stamp[pool[j]!] === crossing) j++;
        if (j < end) continue;
        if (n === whole.length) whole = this.#whole = grownInt32(whole, n + 1);
        whole[n++] = sc;
      }
    }
    this.#wholeCount = n;
  }

  /** Semi-contexts held whole by the latest crossing; valid until the next one. */
  get whole(): Int32Array {
    return this.#whole;
  }

  get wholeCount(): number {
    return this.#wholeCount;
  }

  /** Facts of `semiContext` present at the latest crossing, or `limit + 1` once it has more than `limit`. */
  presentCount(semiContext: number, limit: number): number {
    let present = FACTS_IN_MASK[this.#masks[semiContext]! & this.#crossMask]!;
    if (present > limit) return limit + 1;
    const crossing = this.#crossing;
    const stamp = this.#neuronStamp;
    const pool = this.#neuronPool;
    const start = this.#neuronStart[semiContext]!;
    const end = start + this.#neuronCount[semiContext]!;
    for (let j = start; j < end; j++) {
      const neuron = pool[j]!;
      if (neuron < stamp.length && stamp[neuron] === crossing && ++present > limit) return limit + 1;
    }
    return present;
  }

  /**
   * The semi-context holding exactly the facts of `semiContext` present at the latest crossing
   * (neurons kept ascending), created if new; found once per crossing.
   */
  overlapOf(semiContext: number): number {
    // Crossing numbers start at 1, so an unset mark (0) never reads as found.
    const crossing = this.#crossing;
    if (crossing > 0 && this.#overlapAt[semiContext] === crossing) return this.#overlapOf[semiContext]!;
    const stamp = this.#neuronStamp;
    const start = this.#neuronStart[semiContext]!;
    const count = this.#neuronCount[semiContext]!;
    this.#scratch = grownInt32(this.#scratch, count);
    const scratch = this.#scratch;
    const pool = this.#neuronPool;
    let n = 0;
    for (let j = start; j < start + count; j++) {
      const neuron = pool[j]!;
      if (neuron < stamp.length && stamp[neuron] === crossing) scratch[n++] = neuron;
    }
    const overlap = this.findOrAdd(this.#masks[semiContext]! & this.#crossMask, scratch, n);
    this.#overlapAt[semiContext] = crossing;
    this.#overlapOf[semiContext] = overlap;
    return overlap;
  }
}
