/**
 * RepoObjects: which objects of the shared object store a repository may show or name.
 *
 * Every repository of a node shares one content-addressed store, so an id alone must not
 * open another repository's objects. The rule, applied by every read that takes an id
 * (REST git data, commits, contents, compare, archives, raw, web pages) and every write
 * that names one (git data writes, the refs API, releases, pushes):
 *
 *   an object is visible in repository R when it is reachable from R's refs (HEAD names
 *   a ref), or it was written to R — by a git data write, or in a pack pushed to R even
 *   if that push's ref update then failed (RepoUploads).
 *
 * Reads of an invisible object answer as for a missing one; writes naming one are refused
 * as if it were missing. Visibility is closed under references: every write checks what
 * its new objects name, so whatever a visible object names is visible too.
 *
 * Cost: an id that is a tip or recorded as uploaded needs no walk, nor one in the
 * repository's clone list (CloneLists.ts: what its tips reached after its last push; kept
 * under the same identity as its uploads, so a repository created again under an old name
 * does not inherit it). Next come the tips'
 * snapshots (each tip commit's tree, walked without history): where a push's external
 * references are, so a push to a repository needs no history walk; then the history's
 * commits alone (no tree read) and the snapshots of those the asker named (a push based
 * on an older commit). Otherwise the closure
 * of R's tips is computed once with ObjectWalk's walker (what a clone enumerates) and
 * kept as one sorted buffer of 20-byte ids (a 32k-object repository: 640 KB); a later ref
 * update extends it by walking only from the new tips, stopping at what is known. Cached
 * closures are bounded in total bytes and dropped least recently used first.
 *
 * Revocation: a closure keeps every tip it was extended with, so after a branch is
 * deleted or rewound its objects stay visible until the closure is dropped (eviction or a
 * restart), as GitHub keeps serving commits of a deleted branch by id for a while.
 */
import { Context, Effect, Layer } from "effect"
import type { ObjectId } from "../domain/git/ObjectId.ts"
import type { ObjectFilter } from "../domain/protocol/UploadRequest.ts"
import type { RawIdSet } from "../domain/git/RawIdSet.ts"
import { cloneListIds, cloneListKeyOf, storedCloneList } from "./git/CloneLists.ts"
import { makeWalker, type ObjectSource } from "./git/ObjectWalk.ts"
import { type RepoRow, repoKey } from "./Metadata.ts"
import { ObjectReplicator } from "./ObjectReplicator.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { RefStore } from "./RefStore.ts"
import { RepoUploads, uploadsKey } from "./RepoUploads.ts"

/** What identifies a repository to the rule: its refs (`owner/name`) and its uploads. */
export type ScopedRepo = Pick<RepoRow, "id" | "created_at" | "owner_login" | "name">

/** Bytes of cached closures kept in all (20 per object). */
export const CLOSURE_CACHE_BYTES = 16 * 1024 * 1024

/** Snapshots (and commit lists) kept, most recent, each at most SNAPSHOT_BYTES. */
const SNAPSHOTS_KEPT = 6
const SNAPSHOT_BYTES = 1024 * 1024
/** Clone lists held as id sets (about 1 MB each for 32,000 objects). */
const LIST_SETS_KEPT = 4

interface Closure {
  /** Every tip the closure was computed from. */
  readonly tips: ReadonlySet<ObjectId>
  /** Object ids reachable from `tips`, 20 raw bytes each, sorted, no duplicates. */
  readonly ids: Buffer
}

/** Is `id` among the sorted 20-byte ids of `buf`? (binary search) */
export const sortedHas = (buf: Buffer, id: ObjectId): boolean => {
  const target = Buffer.from(id, "hex")
  let lo = 0
  let hi = buf.length / 20
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = buf.compare(target, 0, 20, mid * 20, mid * 20 + 20)
    if (c === 0) return true
    if (c < 0) lo = mid + 1
    else hi = mid
  }
  return false
}

/** The ids as sorted, distinct 20-byte records (lowercase hex sorts as its bytes do). */
export const sortedIds = (ids: ReadonlyArray<ObjectId>): Buffer => {
  const list = [...new Set(ids)].sort()
  const buf = Buffer.allocUnsafe(list.length * 20)
  for (let i = 0; i < list.length; i++) buf.write(list[i]!, i * 20, "hex")
  return buf
}

/** Two sorted id buffers merged into one, duplicates once. */
export const mergeSorted = (a: Buffer, b: Buffer): Buffer => {
  if (a.length === 0) return b
  if (b.length === 0) return a
  const out = Buffer.allocUnsafe(a.length + b.length)
  let i = 0
  let j = 0
  let o = 0
  while (i < a.length && j < b.length) {
    const c = a.compare(b, j, j + 20, i, i + 20)
    if (c <= 0) {
      a.copy(out, o, i, i + 20)
      i += 20
      if (c === 0) j += 20
    } else {
      b.copy(out, o, j, j + 20)
      j += 20
    }
    o += 20
  }
  if (i < a.length) o += a.copy(out, o, i)
  if (j < b.length) o += b.copy(out, o, j)
  return o === out.length ? out : Buffer.from(out.subarray(0, o))
}

export const makeRepoObjects = (options: { readonly cacheBytes?: number } = {}) =>
  Effect.gen(function* () {
    const objects = yield* ObjectStore
    const refs = yield* RefStore
    const uploads = yield* RepoUploads
    const replicator = yield* ObjectReplicator
    const budget = options.cacheBytes ?? CLOSURE_CACHE_BYTES

    const source: ObjectSource = {
      read: (id) => objects.get(id),
      readMany: (ids) => objects.getMany(ids),
      sizesOf: (ids) => Effect.map(objects.getStoredMany(ids), (xs) => xs.map((x) => x?.size)),
    }

    // Closures by uploads key, least recently used first (Map order).
    const cache = new Map<string, Closure>()
    let cachedBytes = 0
    const remember = (key: string, closure: Closure) => {
      const old = cache.get(key)
      if (old) {
        cache.delete(key)
        cachedBytes -= old.ids.length
      }
      if (closure.ids.length > budget) return
      cache.set(key, closure)
      cachedBytes += closure.ids.length
      for (const [k, c] of cache) {
        if (cachedBytes <= budget) break
        cache.delete(k)
        cachedBytes -= c.ids.length
      }
    }
    const touch = (key: string) => {
      const c = cache.get(key)
      if (c) {
        cache.delete(key)
        cache.set(key, c)
      }
      return c
    }
    // One walk per repository at a time: concurrent askers wait for it and reuse it.
    const locks = new Map<string, Effect.Semaphore>()
    const lockOf = (key: string) => {
      let lock = locks.get(key)
      if (!lock) locks.set(key, (lock = Effect.unsafeMakeSemaphore(1)))
      return lock
    }

    const tipsOf = (repo: ScopedRepo) =>
      Effect.map(refs.list(repoKey(repo)).pipe(Effect.orDie), (list) => [
        ...new Set(list.map((r) => r.id)),
      ])

    /** The closure of `tips`, extended from the cached one by walking only the new tips. */
    const closureOf = (key: string, tips: ReadonlyArray<ObjectId>) =>
      lockOf(key).withPermits(1)(
        Effect.gen(function* () {
          const known = touch(key)
          const fresh = tips.filter((t) => !known?.tips.has(t))
          if (fresh.length === 0) return known
          const walked = yield* makeWalker(source)
            .walk({ wants: fresh, haves: known ? [...known.tips] : [], clientShallows: [] })
            .pipe(Effect.either)
          if (walked._tag === "Left") {
            // A tip whose history the store cannot read (damage being repaired): nothing
            // new is visible through it this time; the next ask walks again.
            yield* Effect.logWarning(
              `visibility walk of ${key} failed: ${walked.left.message}; objects below its new tips stay hidden until it succeeds`,
            )
            return known
          }
          const added = sortedIds([...fresh, ...walked.right.objects.map((o) => o.id)])
          const closure: Closure = {
            tips: new Set([...(known?.tips ?? []), ...fresh]),
            ids: mergeSorted(known?.ids ?? Buffer.alloc(0), added),
          }
          remember(key, closure)
          return closure
        }),
      )

    /**
     * The objects of the tips' own snapshots (each tip commit, its tree, every tree and blob
     * in it): where a push's external references almost always are (the parent commit, the
     * subtrees and files it did not change). Empty if the walk fails. The last few are kept
     * (a push asks twice: for its thin bases, then for its references).
     */
    const snapshots = new Map<string, { readonly tips: string; readonly ids: Buffer }>()
    const snapshotOf = (
      key: string,
      tips: ReadonlyArray<ObjectId>,
      shape: { depth: number } | { filter: ObjectFilter } = { depth: 1 },
    ) =>
      Effect.gen(function* () {
        const signature = [...tips].sort().join("")
        const hit = snapshots.get(key)
        if (hit?.tips === signature) return hit.ids
        const ids = yield* makeWalker(source)
          .walk({ wants: tips, haves: [], clientShallows: [], ...shape })
          .pipe(
            Effect.map((w) => sortedIds(w.objects.map((o) => o.id))),
            Effect.orElseSucceed(() => Buffer.alloc(0)),
          )
        snapshots.delete(key)
        if (ids.length <= SNAPSHOT_BYTES) {
          snapshots.set(key, { tips: signature, ids })
          if (snapshots.size > SNAPSHOTS_KEPT) snapshots.delete(snapshots.keys().next().value!)
        }
        return ids
      })

    /**
     * What is left of `pending` after the cheap looks, before walking the whole history: the
     * tips' snapshots; then every commit of the history (a walk that reads no tree) and the
     * snapshots of the asked ids that are among those commits (a push based on an older
     * commit names it and the files it did not change).
     */
    const cheapLooks = (key: string, tips: ReadonlyArray<ObjectId>, asked: ObjectId[]) =>
      Effect.gen(function* () {
        const snapshot = yield* snapshotOf(key, tips)
        let pending = asked.filter((id) => !sortedHas(snapshot, id))
        if (pending.length === 0) return pending
        const commits = yield* snapshotOf(`${key}\0commits`, tips, {
          filter: { kind: "tree", depth: 0 },
        })
        const older = pending.filter((id) => sortedHas(commits, id))
        if (older.length === 0) return pending
        pending = pending.filter((id) => !sortedHas(commits, id))
        if (pending.length === 0) return pending
        const theirs = yield* snapshotOf(`${key}\0older`, older)
        return pending.filter((id) => !sortedHas(theirs, id))
      })

    // Clone lists as id sets, by list key: the last few repositories asked about.
    const listSets = new Map<string, RawIdSet>()
    const listedOf = (key: string) =>
      Effect.gen(function* () {
        const listKey = yield* cloneListKeyOf(objects, key)
        if (listKey === undefined) return undefined
        const known = listSets.get(listKey)
        if (known) return known
        const bytes = yield* storedCloneList(objects, listKey)
        if (!bytes) return undefined
        const set = cloneListIds(bytes)
        listSets.set(listKey, set)
        if (listSets.size > LIST_SETS_KEPT) listSets.delete(listSets.keys().next().value!)
        return set
      }).pipe(Effect.orElseSucceed(() => undefined))

    /** The ids (distinct, in order of first appearance) that are not visible in `repo`. */
    const invisible = (repo: ScopedRepo, ids: ReadonlyArray<ObjectId>) =>
      Effect.gen(function* () {
        let pending = [...new Set(ids)]
        if (pending.length === 0) return pending
        const tips = yield* tipsOf(repo)
        const tipSet = new Set(tips)
        pending = pending.filter((id) => !tipSet.has(id))
        if (pending.length === 0) return pending
        const key = uploadsKey(repo)
        const cached = touch(key)
        if (cached) pending = pending.filter((id) => !sortedHas(cached.ids, id))
        if (pending.length === 0) return pending
        const recorded = yield* uploads.recorded(key, pending).pipe(Effect.orDie)
        pending = pending.filter((_, i) => !recorded[i])
        if (pending.length === 0 || tips.length === 0) return pending
        // The repository's clone list (CloneLists.ts), written after its last push: what
        // its tips reached then, which a push's external references nearly always are.
        const listed = yield* listedOf(key)
        if (listed) pending = pending.filter((id) => !listed.has(id))
        if (pending.length === 0) return pending
        if (cached && tips.every((t) => cached.tips.has(t))) return pending
        if (!cached) {
          pending = yield* cheapLooks(key, tips, pending)
          if (pending.length === 0) return pending
        }
        const closure = yield* closureOf(key, tips)
        return closure ? pending.filter((id) => !sortedHas(closure.ids, id)) : pending
      })

    return {
      invisible,
      /** Closures held in memory: how many repositories, how many bytes. */
      cached: Effect.sync(() => ({ repos: cache.size, bytes: cachedBytes })),
      /** Is `id` visible in `repo`? */
      visible: (repo: ScopedRepo, id: ObjectId) =>
        Effect.map(invisible(repo, [id]), (hidden) => hidden.length === 0),
      /**
       * Records `ids` as written to `repo` (after the objects are stored and replicated),
       * here and on the other nodes.
       */
      recordUploaded: (repo: ScopedRepo, ids: ReadonlyArray<ObjectId>) =>
        Effect.gen(function* () {
          if (ids.length === 0) return
          const key = uploadsKey(repo)
          yield* uploads.record(key, ids).pipe(Effect.orDie)
          if (replicator.announceUploads) yield* replicator.announceUploads(key, ids)
        }),
    }
  })

export type RepoObjectsShape = Effect.Effect.Success<ReturnType<typeof makeRepoObjects>>

export class RepoObjects extends Context.Tag("guts/RepoObjects")<RepoObjects, RepoObjectsShape>() {
  static readonly Live = Layer.effect(RepoObjects, makeRepoObjects())
}
