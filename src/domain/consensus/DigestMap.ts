/**
 * Maps and sets keyed by digest contents (byte-wise equality), without turning digests
 * into strings.
 *
 * Hex-keyed maps pay for a 64-character string per lookup; here a lookup folds the first
 * bytes into a small integer for a numeric Map and compares the full bytes of the few
 * entries behind it. Digests are hashes, so a shared prefix is rare.
 *
 * Guarantees: `get`/`has` find exactly the entries whose key has the same bytes (same
 * length, same contents) as the argument; keys are stored as given, so the caller must
 * not mutate a digest after using it as a key. Iteration visits every entry once.
 */
import { type Digest, digestEquals } from "./Types.ts"

interface Entry<V> {
  readonly digest: Digest
  value: V
  /** Next entry whose digest folds to the same number. */
  next: Entry<V> | undefined
}

// Folds the first bytes into 30 bits: a small integer, the cheapest Map key there is.
const fold = (d: Digest): number =>
  d.length >= 4
    ? d[0] | (d[1] << 8) | (d[2] << 16) | ((d[3] & 0x3f) << 24)
    : d.length === 0
      ? 0
      : d.length === 1
        ? d[0]
        : d.length === 2
          ? d[0] | (d[1] << 8)
          : d[0] | (d[1] << 8) | (d[2] << 16)

export class DigestMap<V> {
  private readonly buckets = new Map<number, Entry<V>>()
  private count = 0

  get size(): number {
    return this.count
  }

  private entry(d: Digest): Entry<V> | undefined {
    for (let e = this.buckets.get(fold(d)); e !== undefined; e = e.next)
      if (digestEquals(e.digest, d)) return e
    return undefined
  }

  get(d: Digest): V | undefined {
    return this.entry(d)?.value
  }

  has(d: Digest): boolean {
    return this.entry(d) !== undefined
  }

  set(d: Digest, value: V): this {
    const key = fold(d)
    const head = this.buckets.get(key)
    for (let e = head; e !== undefined; e = e.next)
      if (digestEquals(e.digest, d)) {
        e.value = value
        return this
      }
    this.buckets.set(key, { digest: d, value, next: head })
    this.count++
    return this
  }

  delete(d: Digest): boolean {
    const key = fold(d)
    let prev: Entry<V> | undefined
    for (let e = this.buckets.get(key); e !== undefined; prev = e, e = e.next) {
      if (!digestEquals(e.digest, d)) continue
      if (prev !== undefined) prev.next = e.next
      else if (e.next !== undefined) this.buckets.set(key, e.next)
      else this.buckets.delete(key)
      this.count--
      return true
    }
    return false
  }

  clear(): void {
    this.buckets.clear()
    this.count = 0
  }

  /** Deletes every entry whose value satisfies `drop`; returns how many. */
  deleteWhere(drop: (value: V) => boolean): number {
    let dropped = 0
    for (const [key, head] of this.buckets) {
      let first: Entry<V> | undefined = head
      while (first !== undefined && drop(first.value)) {
        first = first.next
        dropped++
      }
      let e: Entry<V> | undefined = first
      while (e !== undefined) {
        const next: Entry<V> | undefined = e.next
        if (next !== undefined && drop(next.value)) {
          e.next = next.next
          dropped++
        } else e = next
      }
      if (first === undefined) this.buckets.delete(key)
      else if (first !== head) this.buckets.set(key, first)
    }
    this.count -= dropped
    return dropped
  }
}

/** A set of digests by contents (see DigestMap). */
export class DigestSet {
  private readonly map = new DigestMap<true>()

  get size(): number {
    return this.map.size
  }

  has(d: Digest): boolean {
    return this.map.has(d)
  }

  add(d: Digest): this {
    this.map.set(d, true)
    return this
  }

  delete(d: Digest): boolean {
    return this.map.delete(d)
  }

  clear(): void {
    this.map.clear()
  }
}
