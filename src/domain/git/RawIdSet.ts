/**
 * A set of object ids held as raw 20-byte values in typed arrays.
 *
 * A clone's walk meets every entry of every tree of the history (about a million entries
 * for the benchmark repository), and nearly all of them name objects it has already met.
 * Testing those against a `Set<string>` meant making a 40-character hex string for each
 * entry first; this set is probed with the entry's bytes where they lie in the tree, so
 * only ids met for the first time ever become strings.
 *
 * Open addressing with linear probing; the first four bytes of an id (uniformly random for
 * SHA-1) are its hash. Ids are stored as five 32-bit words.
 */
import type { ObjectId } from "./ObjectId.ts"

const WORDS = 5

export class RawIdSet {
  private slots: Int32Array
  private words: Uint32Array
  private count = 0

  constructor(expected = 1024) {
    let capacity = 16
    while (capacity < expected * 2) capacity *= 2
    this.slots = new Int32Array(capacity)
    this.words = new Uint32Array(Math.max(16, expected) * WORDS)
  }

  get size() {
    return this.count
  }

  /** Whether the 20 bytes at `offset` of `bytes` are in the set. */
  hasRaw(bytes: Uint8Array, offset: number): boolean {
    return this.find(bytes, offset) >= 0
  }

  /** Adds the 20 bytes at `offset`; true when they were not there before. */
  addRaw(bytes: Uint8Array, offset: number): boolean {
    const at = this.find(bytes, offset)
    if (at >= 0) return false
    if ((this.count + 1) * 2 > this.slots.length) {
      this.grow()
      return this.addRaw(bytes, offset)
    }
    const slot = -at - 1
    if ((this.count + 1) * WORDS > this.words.length) {
      const bigger = new Uint32Array(this.words.length * 2)
      bigger.set(this.words)
      this.words = bigger
    }
    const base = this.count * WORDS
    for (let w = 0; w < WORDS; w++) this.words[base + w] = wordAt(bytes, offset + w * 4)
    this.count++
    this.slots[slot] = this.count
    return true
  }

  /**
   * The number of the id at `offset` (ids are numbered 0, 1, … in the order they were
   * first added), adding it when it is new.
   */
  indexOfRaw(bytes: Uint8Array, offset: number): number {
    const at = this.find(bytes, offset)
    if (at >= 0) return this.slots[at]! - 1
    this.addRaw(bytes, offset)
    return this.count - 1
  }

  indexOf(id: ObjectId): number {
    return this.indexOfRaw(Buffer.from(id, "hex"), 0)
  }

  /** The id numbered `index`. */
  idAt(index: number): ObjectId {
    let hex = ""
    for (let w = 0; w < WORDS; w++)
      hex += this.words[index * WORDS + w]!.toString(16).padStart(8, "0")
    return hex as ObjectId
  }

  has(id: ObjectId): boolean {
    return this.hasRaw(Buffer.from(id, "hex"), 0)
  }

  add(id: ObjectId): boolean {
    return this.addRaw(Buffer.from(id, "hex"), 0)
  }

  /** The slot index holding the id (≥ 0), or −(free slot index) − 1 where it would go. */
  private find(bytes: Uint8Array, offset: number): number {
    const mask = this.slots.length - 1
    const w0 = wordAt(bytes, offset)
    let slot = w0 & mask
    for (;;) {
      const entry = this.slots[slot]!
      if (entry === 0) return -slot - 1
      const base = (entry - 1) * WORDS
      if (
        this.words[base] === w0 &&
        this.words[base + 1] === wordAt(bytes, offset + 4) &&
        this.words[base + 2] === wordAt(bytes, offset + 8) &&
        this.words[base + 3] === wordAt(bytes, offset + 12) &&
        this.words[base + 4] === wordAt(bytes, offset + 16)
      )
        return slot
      slot = (slot + 1) & mask
    }
  }

  private grow() {
    const slots = new Int32Array(this.slots.length * 2)
    const mask = slots.length - 1
    for (let i = 0; i < this.count; i++) {
      let slot = this.words[i * WORDS]! & mask
      while (slots[slot] !== 0) slot = (slot + 1) & mask
      slots[slot] = i + 1
    }
    this.slots = slots
  }
}

const wordAt = (b: Uint8Array, at: number) =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
