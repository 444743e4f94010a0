/**
 * Merge bases: the best common ancestors of two commits (`git merge-base --all`), over an
 * object loader, and the loader contract the merge and diff modules share.
 *
 * Guarantees:
 * - `mergeBases(load, a, b)` is the set git computes: common ancestors of a and b that are
 *   not ancestors of another common ancestor. It uses git's own walk (newest committer time
 *   first, stopping once every queued commit is known common), so when committer times do
 *   not go backwards along parent links it is exact, and under clock skew it errs as git
 *   does. A criss-cross history has several; they come newest first, ties in git's walk
 *   order, and `mergeBase` picks the first: the one `git merge-base` prints.
 * - A commit is its own merge base with itself and with its descendants.
 * - Deterministic: every node walking the same objects takes the same steps.
 * - Bad input fails with a typed error naming the object: MissingObject (the loader has no
 *   such object), WrongObjectType (e.g. a tree where a commit is expected), MalformedObject.
 *
 * The loader: `(id) => Effect<{ type, content } | undefined, E>`, undefined when the object
 * is absent. Over an ObjectStore: `(id) => store.getMany([id]).pipe(Effect.map(([o]) => o))`;
 * over plain data: `mapLoader(map)`.
 */
import { Data, Effect } from "effect"
import {
  type Commit,
  commitLinks,
  ObjectParseError,
  parseCommit,
  parseTree,
  type TreeEntry,
} from "./GitObject.ts"
import type { ObjectId, ObjectType } from "./ObjectId.ts"
import type { LoadedObject } from "./Walk.ts"

export type { LoadedObject } from "./Walk.ts"

/** Reads one object: its type and content, or undefined when it is not there. */
export type ObjectLoader<E = never> = (id: ObjectId) => Effect.Effect<LoadedObject | undefined, E>

/** A loader over objects held in memory (keys are object ids). */
export const mapLoader =
  (objects: ReadonlyMap<string, LoadedObject>): ObjectLoader =>
  (id) =>
    Effect.sync(() => objects.get(id))

export class MissingObject extends Data.TaggedError("MissingObject")<{
  readonly id: ObjectId
  /** What the object was expected to be. */
  readonly expected: ObjectType
}> {
  override get message() {
    return `${this.expected} ${this.id} is missing`
  }
}

export class WrongObjectType extends Data.TaggedError("WrongObjectType")<{
  readonly id: ObjectId
  readonly expected: ObjectType
  readonly actual: ObjectType
}> {
  override get message() {
    return `object ${this.id} is a ${this.actual}, expected a ${this.expected}`
  }
}

export class MalformedObject extends Data.TaggedError("MalformedObject")<{
  readonly id: ObjectId
  readonly type: ObjectType
  readonly reason: string
}> {
  override get message() {
    return `${this.type} ${this.id} is malformed: ${this.reason}`
  }
}

/** Why an object could not be read as what it was expected to be. */
export type ObjectReadError = MissingObject | WrongObjectType | MalformedObject

/** The content of an object that must exist and be of type `expected`. */
export const readObject = <E>(
  load: ObjectLoader<E>,
  id: ObjectId,
  expected: ObjectType,
): Effect.Effect<Uint8Array, E | MissingObject | WrongObjectType> =>
  Effect.flatMap(load(id), (o): Effect.Effect<Uint8Array, MissingObject | WrongObjectType> => {
    if (o === undefined) return Effect.fail(new MissingObject({ id, expected }))
    if (o.type !== expected)
      return Effect.fail(new WrongObjectType({ id, expected, actual: o.type }))
    return Effect.succeed(o.content)
  })

export const readCommit = <E>(
  load: ObjectLoader<E>,
  id: ObjectId,
): Effect.Effect<Commit, E | ObjectReadError> =>
  Effect.flatMap(readObject(load, id, "commit"), (content) => {
    const c = parseCommit(content)
    return c instanceof ObjectParseError
      ? Effect.fail(new MalformedObject({ id, type: "commit", reason: c.message }))
      : Effect.succeed(c)
  })

export const readTree = <E>(
  load: ObjectLoader<E>,
  id: ObjectId,
): Effect.Effect<TreeEntry[], E | ObjectReadError> =>
  Effect.flatMap(readObject(load, id, "tree"), (content) => {
    const t = parseTree(content)
    return t instanceof ObjectParseError
      ? Effect.fail(new MalformedObject({ id, type: "tree", reason: t.message }))
      : Effect.succeed(t)
  })

export const readBlob = <E>(
  load: ObjectLoader<E>,
  id: ObjectId,
): Effect.Effect<Uint8Array, E | MissingObject | WrongObjectType> => readObject(load, id, "blob")

// ---------------------------------------------------------------------------- the walk

const PARENT1 = 1
const PARENT2 = 2
const STALE = 4
const RESULT = 8

interface CommitNode {
  readonly parents: ReadonlyArray<ObjectId>
  readonly time: number
}

/** Newest committer time first; equal times in insertion order (git's prio_queue). */
class DateQueue {
  private readonly items: Array<{ id: ObjectId; time: number; seq: number }> = []
  private seq = 0
  private before(a: { time: number; seq: number }, b: { time: number; seq: number }) {
    return a.time > b.time || (a.time === b.time && a.seq < b.seq)
  }
  push(id: ObjectId, time: number) {
    const items = this.items
    items.push({ id, time, seq: this.seq++ })
    let i = items.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.before(items[i]!, items[p]!)) break
      ;[items[i], items[p]] = [items[p]!, items[i]!]
      i = p
    }
  }
  pop(): ObjectId | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]!.id
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && this.before(items[l]!, items[m]!)) m = l
        if (r < items.length && this.before(items[r]!, items[m]!)) m = r
        if (m === i) break
        ;[items[i], items[m]] = [items[m]!, items[i]!]
        i = m
      }
    }
    return top
  }
}

/** Commit links by id, each commit loaded and parsed once per operation. */
const commitCache = <E>(load: ObjectLoader<E>) => {
  const cache = new Map<ObjectId, CommitNode>()
  return (id: ObjectId): Effect.Effect<CommitNode, E | ObjectReadError> => {
    const hit = cache.get(id)
    if (hit) return Effect.succeed(hit)
    return Effect.flatMap(readObject(load, id, "commit"), (content) => {
      const links = commitLinks(content)
      if (links instanceof ObjectParseError)
        return Effect.fail(new MalformedObject({ id, type: "commit", reason: links.message }))
      const node = { parents: links.parents, time: links.time }
      cache.set(id, node)
      return Effect.succeed(node)
    })
  }
}

/**
 * Paints ancestors of `one` with PARENT1 and of `twos` with PARENT2, newest first; a commit
 * with both is a common ancestor (RESULT) and its ancestors are STALE (not best). Stops
 * when every queued commit is stale. Returns the common ancestors found, in order.
 */
const paintDownToCommon = <E>(
  commit: (id: ObjectId) => Effect.Effect<CommitNode, E | ObjectReadError>,
  one: ObjectId,
  twos: ReadonlyArray<ObjectId>,
) =>
  Effect.gen(function* () {
    const flags = new Map<ObjectId, number>()
    const queue = new DateQueue()
    const result: ObjectId[] = []
    // The walk goes on while a queued entry is not stale. A commit can be queued more than
    // once (each time it gains a flag), so count entries per commit and the non-stale total.
    const queued = new Map<ObjectId, number>()
    let nonStale = 0
    const push = (id: ObjectId, time: number) => {
      queue.push(id, time)
      queued.set(id, (queued.get(id) ?? 0) + 1)
      if (!((flags.get(id) ?? 0) & STALE)) nonStale++
    }
    const setFlags = (id: ObjectId, next: number) => {
      const had = flags.get(id) ?? 0
      if (!(had & STALE) && next & STALE) nonStale -= queued.get(id) ?? 0
      flags.set(id, next)
    }
    setFlags(one, PARENT1)
    push(one, (yield* commit(one)).time)
    for (const two of twos) {
      setFlags(two, (flags.get(two) ?? 0) | PARENT2)
      push(two, (yield* commit(two)).time)
    }
    while (nonStale > 0) {
      const id = queue.pop()!
      queued.set(id, queued.get(id)! - 1)
      const own = flags.get(id)!
      if (!(own & STALE)) nonStale--
      let paint = own & (PARENT1 | PARENT2 | STALE)
      if (paint === (PARENT1 | PARENT2)) {
        if (!(own & RESULT)) {
          setFlags(id, own | RESULT)
          result.push(id)
        }
        paint |= STALE
      }
      for (const p of (yield* commit(id)).parents) {
        const had = flags.get(p) ?? 0
        if ((had & paint) === paint) continue
        const node = yield* commit(p)
        setFlags(p, had | paint)
        push(p, node.time)
      }
    }
    return { result, flags }
  })

/**
 * All best common ancestors of `a` and `b`, newest first (empty for unrelated histories).
 */
export const mergeBases = <E>(
  load: ObjectLoader<E>,
  a: ObjectId,
  b: ObjectId,
): Effect.Effect<ObjectId[], E | ObjectReadError> =>
  Effect.gen(function* () {
    const commit = commitCache(load)
    if (a === b) {
      yield* commit(a)
      return [a]
    }
    const painted = yield* paintDownToCommon(commit, a, [b])
    const time = (id: ObjectId) => commitTimeOf(commit, id)
    let found = painted.result.filter((id) => !(painted.flags.get(id)! & STALE))
    if (found.length > 1) found = yield* removeRedundant(commit, found)
    // Newest first; a stable sort keeps the walk's order among equal times, as git's list.
    const times = new Map<ObjectId, number>()
    for (const id of found) times.set(id, yield* time(id))
    return [...found].sort((x, y) => times.get(y)! - times.get(x)!)
  })

const commitTimeOf = <E>(
  commit: (id: ObjectId) => Effect.Effect<CommitNode, E | ObjectReadError>,
  id: ObjectId,
) => Effect.map(commit(id), (c) => c.time)

/** Drops candidates that are ancestors of other candidates. */
const removeRedundant = <E>(
  commit: (id: ObjectId) => Effect.Effect<CommitNode, E | ObjectReadError>,
  candidates: ReadonlyArray<ObjectId>,
) =>
  Effect.gen(function* () {
    const redundant = new Set<ObjectId>()
    for (const c of candidates) {
      if (redundant.has(c)) continue
      const others = candidates.filter((o) => o !== c && !redundant.has(o))
      if (others.length === 0) continue
      const { flags } = yield* paintDownToCommon(commit, c, others)
      if ((flags.get(c) ?? 0) & PARENT2) redundant.add(c)
      for (const o of others) if ((flags.get(o) ?? 0) & PARENT1) redundant.add(o)
    }
    return candidates.filter((c) => !redundant.has(c))
  })

/** The merge base `git merge-base a b` prints, or undefined for unrelated histories. */
export const mergeBase = <E>(
  load: ObjectLoader<E>,
  a: ObjectId,
  b: ObjectId,
): Effect.Effect<ObjectId | undefined, E | ObjectReadError> =>
  Effect.map(mergeBases(load, a, b), (bases) => bases[0])

/** Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor). */
export const isAncestor = <E>(
  load: ObjectLoader<E>,
  ancestor: ObjectId,
  descendant: ObjectId,
): Effect.Effect<boolean, E | ObjectReadError> =>
  Effect.gen(function* () {
    const commit = commitCache(load)
    if (ancestor === descendant) {
      yield* commit(ancestor)
      return true
    }
    const { flags } = yield* paintDownToCommon(commit, ancestor, [descendant])
    return ((flags.get(ancestor) ?? 0) & PARENT2) !== 0
  })
