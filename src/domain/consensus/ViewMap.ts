/**
 * A map and a set keyed by views (u64 bigints) that hash numbers where they can.
 *
 * A Map keyed by bigints hashes the bigint on every lookup, several times slower than a
 * number key; the voter and the simulator's monitors look views up on every vote and
 * certificate. Every view up to 2^53 − 1 is stored under its exact number, larger ones
 * under the bigint itself: the two ranges never collide (a number key never equals a
 * bigint key), so each view has exactly one key.
 *
 * Guarantees: the same behaviour as Map<bigint, T> / Set<bigint> for the operations
 * provided, including iteration in insertion order.
 */
import type { View } from "./Types.ts"

type Key = number | bigint

const SAFE = BigInt(Number.MAX_SAFE_INTEGER)

// Converting a bigint to a number is a runtime call; lookups come in runs for one view
// (every report of a certificate, every vote of a round), so the last two conversions
// are remembered (comparing bigints is cheap).
let lastView: View = -1n
let lastKey: Key = -1
let prevView: View = -1n
let prevKey: Key = -1

const keyOf = (view: View): Key => {
  if (view === lastView) return lastKey
  const key = view === prevView ? prevKey : view <= SAFE ? Number(view) : view
  prevView = lastView
  prevKey = lastKey
  lastView = view
  lastKey = key
  return key
}

const viewOf = (key: Key): View => (typeof key === "number" ? BigInt(key) : key)

/** The read side of a ViewMap (what a ReadonlyMap<View, T> offers, minus forEach). */
export interface ReadonlyViewMap<T> extends Iterable<[View, T]> {
  readonly size: number
  get(view: View): T | undefined
  has(view: View): boolean
  keys(): IterableIterator<View>
  values(): IterableIterator<T>
  entries(): IterableIterator<[View, T]>
}

export interface ReadonlyViewSet extends Iterable<View> {
  readonly size: number
  has(view: View): boolean
  values(): IterableIterator<View>
}

export class ViewMap<T> implements ReadonlyViewMap<T> {
  private readonly map = new Map<Key, T>()

  get size(): number {
    return this.map.size
  }

  get(view: View): T | undefined {
    return this.map.get(keyOf(view))
  }

  has(view: View): boolean {
    return this.map.has(keyOf(view))
  }

  set(view: View, value: T): this {
    this.map.set(keyOf(view), value)
    return this
  }

  delete(view: View): boolean {
    return this.map.delete(keyOf(view))
  }

  clear(): void {
    this.map.clear()
  }

  *keys(): IterableIterator<View> {
    for (const k of this.map.keys()) yield viewOf(k)
  }

  values(): IterableIterator<T> {
    return this.map.values()
  }

  *entries(): IterableIterator<[View, T]> {
    for (const [k, v] of this.map) yield [viewOf(k), v]
  }

  [Symbol.iterator](): IterableIterator<[View, T]> {
    return this.entries()
  }
}

export class ViewSet implements ReadonlyViewSet {
  private readonly set = new Set<Key>()

  get size(): number {
    return this.set.size
  }

  has(view: View): boolean {
    return this.set.has(keyOf(view))
  }

  add(view: View): this {
    this.set.add(keyOf(view))
    return this
  }

  delete(view: View): boolean {
    return this.set.delete(keyOf(view))
  }

  clear(): void {
    this.set.clear()
  }

  *values(): IterableIterator<View> {
    for (const k of this.set) yield viewOf(k)
  }

  [Symbol.iterator](): IterableIterator<View> {
    return this.values()
  }
}
