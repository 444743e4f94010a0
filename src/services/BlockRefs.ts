/**
 * BlockRefs: the ref store as one block's transactions see it. Reads see the writes of the
 * earlier transactions of the same block; writes stay in memory until `flush`, which hands
 * them to the store's `commitBlock` as one atomic, durable write with the block's height
 * (and an undo record). Nothing a block does to refs is visible to readers, or on disk,
 * before the block's outcome is decided.
 */
import { Effect } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import { ZERO_ID } from "../domain/git/ObjectId.ts"
import type { StorageError } from "./ObjectStore.ts"
import { type BlockRefWrite, type RefStoreShape, refConflicts } from "./RefStore.ts"

const byUtf8 = (a: { name: string }, b: { name: string }) =>
  Buffer.compare(Buffer.from(a.name, "utf8"), Buffer.from(b.name, "utf8"))

export interface BlockRefs extends RefStoreShape {
  readonly flush: (height: number) => Effect.Effect<void, StorageError>
  /** Runs `body`; if it fails, the refs are as they were before it (a rejected transaction). */
  readonly atomically: <A, E, R>(body: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeBlockRefs = (base: RefStoreShape): BlockRefs => {
  /** Per repository: ref name → id, or null when deleted in this block. */
  const refs = new Map<string, Map<string, ObjectId | null>>()
  const heads = new Map<string, string | null>()
  /** Repositories dropped in this block: their stored refs no longer count. */
  const dropped = new Set<string>()

  const overlay = (repo: string) => {
    let m = refs.get(repo)
    if (!m) {
      m = new Map()
      refs.set(repo, m)
    }
    return m
  }

  const get = (repo: string, name: string): Effect.Effect<ObjectId | undefined, StorageError> => {
    const v = refs.get(repo)?.get(name)
    if (v !== undefined) return Effect.succeed(v ?? undefined)
    if (dropped.has(repo)) return Effect.succeed(undefined)
    return base.get(repo, name)
  }

  const list = (repo: string) =>
    Effect.gen(function* () {
      const stored = dropped.has(repo) ? [] : yield* base.list(repo)
      const mine = refs.get(repo)
      if (!mine) return stored
      const out = new Map<string, ObjectId>()
      for (const r of stored) out.set(r.name, r.id)
      for (const [name, id] of mine) {
        if (id === null) out.delete(name)
        else out.set(name, id)
      }
      return [...out.entries()].map(([name, id]) => ({ name, id })).sort(byUtf8)
    })

  const snapshot = () => ({
    refs: new Map([...refs].map(([k, m]) => [k, new Map(m)])),
    heads: new Map(heads),
    dropped: new Set(dropped),
  })
  const restore = (s: ReturnType<typeof snapshot>) => {
    refs.clear()
    for (const [k, m] of s.refs) refs.set(k, m)
    heads.clear()
    for (const [k, v] of s.heads) heads.set(k, v)
    dropped.clear()
    for (const k of s.dropped) dropped.add(k)
  }

  return {
    atomically: (body) =>
      Effect.suspend(() => {
        const before = snapshot()
        return Effect.tapErrorCause(body, () => Effect.sync(() => restore(before)))
      }),
    list,
    get,
    update: (repo, updates) =>
      Effect.gen(function* () {
        const current = new Map<string, ObjectId | undefined>()
        for (const u of updates) current.set(u.name, yield* get(repo, u.name))
        const conflict = refConflicts(repo, (n) => current.get(n), updates)
        if (conflict) return yield* conflict
        const m = overlay(repo)
        for (const u of updates) m.set(u.name, u.next === ZERO_ID ? null : u.next)
      }),
    getHead: (repo) => {
      const h = heads.get(repo)
      if (h !== undefined) return Effect.succeed(h ?? undefined)
      if (dropped.has(repo)) return Effect.succeed(undefined)
      return base.getHead(repo)
    },
    setHead: (repo, target) => Effect.sync(() => void heads.set(repo, target)),
    dropRepo: (repo) =>
      Effect.sync(() => {
        dropped.add(repo)
        refs.delete(repo)
        heads.set(repo, null)
      }),
    commitBlock: base.commitBlock,
    blockHeight: base.blockHeight,
    undoBlock: base.undoBlock,
    flush: (height) =>
      Effect.gen(function* () {
        const writes: BlockRefWrite[] = []
        for (const repo of dropped) {
          const mine = refs.get(repo)
          for (const r of yield* base.list(repo))
            if (!mine?.has(r.name)) writes.push({ repo, name: r.name, value: undefined })
        }
        for (const [repo, m] of refs)
          for (const [name, id] of m) writes.push({ repo, name, value: id ?? undefined })
        for (const [repo, target] of heads) writes.push({ repo, value: target ?? undefined })
        // A block that changes no ref leaves the store alone (a stale height is harmless:
        // an undo is only ever done for the block being applied again).
        if (writes.length > 0) yield* base.commitBlock(height, writes)
      }),
  }
}
