/**
 * An open-addressing hash table from a pair of non-negative int32 numbers to a non-negative
 * int32 value, in typed arrays: the contextual detector (cad_context_memory.ts) looks up a
 * context by its (left, right) semi-context pair for every overlap it proposes, many per
 * growing step, and a Map keyed by a packed pair number (a heap number past 2^30) or by a string
 * was a measurable share of its time. Entries are never removed (the memory is dropped whole).
 */
const EMPTY = -1;

export class PairTable {
  #firsts: Int32Array;
  #seconds: Int32Array;
  #values: Int32Array;
  #mask: number;
  #size = 0;

  constructor(initialCapacity = 1024) {
    let capacity = 16;
    while (capacity < 2 * initialCapacity) capacity *= 2;
    this.#firsts = new Int32Array(capacity).fill(EMPTY);
    this.#seconds = new Int32Array(capacity);
    this.#values = new Int32Array(capacity);
    this.#mask = capacity - 1;
  }

  get size(): number {
    return this.#size;
  }

  #slotOf(first: number, second: number): number {
    // Multiplicative mixing of both halves; linear probing from there.
    let slot = (Math.imul(first, 0x9e3779b1) ^ Math.imul(second + 0x632be5ab, 0x85ebca6b)) & this.#mask;
    while (this.#firsts[slot] !== EMPTY && (this.#firsts[slot] !== first || this.#seconds[slot] !== second)) slot = (slot + 1) & this.#mask;
    return slot;
  }

  /** The value stored for (first, second), or -1. */
  get(first: number, second: number): number {
    const slot = this.#slotOf(first, second);
    return this.#firsts[slot] === EMPTY ? -1 : this.#values[slot]!;
  }

  /** Stores a value for a pair not yet in the table. */
  add(first: number, second: number, value: number): void {
    if (2 * (this.#size + 1) > this.#mask + 1) this.#grow();
    const slot = this.#slotOf(first, second);
    this.#firsts[slot] = first;
    this.#seconds[slot] = second;
    this.#values[slot] = value;
    this.#size++;
  }

  #grow(): void {
    const firsts = this.#firsts;
    const seconds = this.#seconds;
    const values = this.#values;
    const capacity = 2 * firsts.length;
    this.#firsts = new Int32Array(capacity).fill(EMPTY);
    this.#seconds = new Int32Array(capacity);
    this.#values = new Int32Array(capacity);
    this.#mask = capacity - 1;
    for (let i = 0; i < firsts.length; i++) {
      if (firsts[i] === EMPTY) continue;
      const slot = this.#slotOf(firsts[i]!, seconds[i]!);
      this.#firsts[slot] = firsts[i]!;
      this.#seconds[slot] = seconds[i]!;
      this.#values[slot] = values[i]!;
    }
  }
}
