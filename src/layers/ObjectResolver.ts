/**
 * Shared by every ObjectStore layer: turning stored representations into objects.
 * Delta chains are followed iteratively, resolved contents are cached (bounded in bytes),
 * and every result is re-hashed, so corruption or tampering on disk is caught on read as
 * ObjectCorrupt instead of being served.
 */
import * as zlib from "node:zlib"
import { Effect } from "effect"
import { applyDelta, DeltaError } from "../domain/git/Delta.ts"
import { hashObject } from "../domain/git/GitObject.ts"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import {
  type GitObject,
  ObjectCorrupt,
  type ObjectNotFound,
  type StorageError,
  type StoredObject,
} from "../services/ObjectStore.ts"

/** Kept as the resolver's name for git's object hash. */
export const hashOf = hashObject

class LruBytes {
  private readonly map = new Map<ObjectId, GitObject>()
  private bytes = 0
  constructor(private readonly limit: number) {}
  get(id: ObjectId) {
    const v = this.map.get(id)
    if (v) {
      this.map.delete(id)
      this.map.set(id, v)
    }
    return v
  }
  set(v: GitObject) {
    if (v.content.length > this.limit / 8 || this.map.has(v.id)) return
    // A small content is often a view into a larger buffer (Node's shared 8 KB allocation
    // pool, or a whole stored record): kept as is, it would pin that buffer and the cache
    // would hold far more than it counts. Keep an exact-size copy instead.
    if (v.content.byteLength < v.content.buffer.byteLength)
      v = { id: v.id, type: v.type, content: new Uint8Array(v.content) }
    this.map.set(v.id, v)
    this.bytes += v.content.length
    while (this.bytes > this.limit) {
      const [k, old] = this.map.entries().next().value as [ObjectId, GitObject]
      this.map.delete(k)
      this.bytes -= old.content.length
    }
  }
}

const inflate = (id: ObjectId, bytes: Uint8Array) =>
  Effect.try({
    try: () => zlib.inflateSync(bytes),
    catch: (e) => new ObjectCorrupt({ id, reason: `zlib: ${(e as Error).message}` }),
  })

export const makeResolver = (
  getStored: (id: ObjectId) => Effect.Effect<StoredObject, ObjectNotFound | StorageError>,
  getStoredMany: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<StoredObject | undefined>, StorageError>,
  cacheBytes = 64 * 1024 * 1024,
) => {
  const cache = new LruBytes(cacheBytes)
  const resolveWith = (
    read: (id: ObjectId) => Effect.Effect<StoredObject, ObjectNotFound | StorageError>,
    id: ObjectId,
  ): Effect.Effect<GitObject, ObjectNotFound | ObjectCorrupt | StorageError> =>
    Effect.gen(function* () {
      const hit = cache.get(id)
      if (hit) return hit
      const chain: StoredObject[] = []
      let current: StoredObject = yield* read(id)
      let base: GitObject | undefined
      for (let depth = 0; ; depth++) {
        if (depth > 10_000)
          return yield* new ObjectCorrupt({ id, reason: "delta chain does not end" })
        if (current.repr.kind === "whole") {
          const content = yield* inflate(current.id, current.repr.deflated)
          base = { id: current.id, type: current.type, content }
          break
        }
        chain.push(current)
        const cached = cache.get(current.repr.base)
        if (cached) {
          base = cached
          break
        }
        current = yield* read(current.repr.base)
      }
      let obj = base
      if (chain.length === 0 || obj.id !== chain[chain.length - 1]!.id) {
        // obj is the chain's base: verify it before building on it.
        if (hashOf(obj.type, obj.content) !== obj.id)
          return yield* new ObjectCorrupt({ id: obj.id, reason: "content does not hash to its id" })
        cache.set(obj)
      }
      for (let i = chain.length - 1; i >= 0; i--) {
        const s = chain[i]!
        if (s.repr.kind !== "delta") break
        const delta = yield* inflate(s.id, s.repr.deflated)
        const out = applyDelta(obj.content, delta)
        if (out instanceof DeltaError)
          return yield* new ObjectCorrupt({ id: s.id, reason: out.message })
        const next = { id: s.id, type: obj.type, content: out as Uint8Array }
        if (hashOf(next.type, next.content) !== next.id)
          return yield* new ObjectCorrupt({ id: s.id, reason: "content does not hash to its id" })
        cache.set(next)
        obj = next
      }
      return obj
    })
  const get = (id: ObjectId) => resolveWith(getStored, id)
  /**
   * Resolves many objects, reading the records of each delta-chain level in one batch
   * (a clone walks thousands of trees: one round trip per level, not per object).
   */
  const getMany = (ids: ReadonlyArray<ObjectId>) =>
    Effect.gen(function* () {
      const records = new Map<ObjectId, StoredObject | undefined>()
      let wanted = ids.filter((id) => !cache.get(id))
      while (wanted.length > 0) {
        const unique = [...new Set(wanted)].filter((id) => !records.has(id))
        const got = yield* getStoredMany(unique)
        unique.forEach((id, i) => {
          records.set(id, got[i])
        })
        wanted = []
        for (const id of unique) {
          const r = records.get(id)
          if (r && r.repr.kind === "delta" && !records.has(r.repr.base) && !cache.get(r.repr.base))
            wanted.push(r.repr.base)
        }
      }
      const local = (id: ObjectId) =>
        Effect.suspend(() => {
          const r = records.get(id)
          return r ? Effect.succeed(r) : getStored(id)
        })
      const out: Array<GitObject | undefined> = []
      for (const id of ids) {
        const hit = cache.get(id)
        if (hit) {
          out.push(hit)
          continue
        }
        if (!records.get(id)) {
          out.push(undefined)
          continue
        }
        out.push(
          yield* resolveWith(local, id).pipe(
            Effect.catchTag("ObjectNotFound", () => Effect.succeed(undefined)),
          ),
        )
      }
      return out
    })

  return { get, getMany }
}
