/**
 * Clone object lists: for a set of wanted tips, every object a full clone sends, in pack
 * order. History is content-addressed, so a list computed once stays true; it is the role
 * git's reachability bitmaps play for `git http-backend`. Walking the benchmark
 * repository's history takes seconds; reading its list takes milliseconds.
 *
 * A list is kept encoded (a type byte and the 20 id bytes per object: 670 KB for 32,000
 * objects) in a small in-memory LRU bounded in bytes, and in the object store's derived
 * data, so the first clone after a restart does not walk either. After a push the node
 * computes the list a `git clone` of the repository will ask for (`warm`), in the
 * background, one repository at a time, replacing the repository's previous list.
 *
 * Safe to share between repositories: a list depends only on the wants, and upload-pack
 * checks that every want is reachable from the repository's refs before using one.
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import type { ObjectId, ObjectType } from "../../domain/git/ObjectId.ts"
import { RawIdSet } from "../../domain/git/RawIdSet.ts"
import type { ObjectStoreShape, StorageError } from "../ObjectStore.ts"

export type CloneList = ReadonlyArray<{ readonly id: ObjectId; readonly type: ObjectType }>

const TYPES: ReadonlyArray<ObjectType> = ["commit", "tree", "blob", "tag"]
const RECORD = 21

export const encodeCloneList = (list: CloneList): Buffer => {
  const out = Buffer.allocUnsafe(list.length * RECORD)
  list.forEach((o, i) => {
    out[i * RECORD] = TYPES.indexOf(o.type)
    out.write(o.id, i * RECORD + 1, 20, "hex")
  })
  return out
}

/** undefined when the bytes are not a well-formed list (then it is computed again). */
export const decodeCloneList = (bytes: Uint8Array): CloneList | undefined => {
  if (bytes.length % RECORD !== 0) return undefined
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Array<{ id: ObjectId; type: ObjectType }> = []
  for (let at = 0; at < buf.length; at += RECORD) {
    const type = TYPES[buf[at]!]
    if (type === undefined) return undefined
    out.push({ id: buf.toString("hex", at + 1, at + RECORD) as ObjectId, type })
  }
  return out
}

/** The key of a want set: order and repetition do not matter. */
export const cloneListKey = (wants: ReadonlyArray<ObjectId>) =>
  createHash("sha1")
    .update([...new Set(wants)].sort().join(","))
    .digest("hex")

export interface CloneListsOptions {
  /** Bytes of encoded lists kept in memory. */
  readonly memoryBytes?: number
  /** Called when a stored list is deleted (no repository points at it any more). */
  readonly onRemoved?: (key: string) => Effect.Effect<void>
}

const storedKey = (key: string) => `clone-list/${key}`
const repoKey = (repo: string) => `clone-list-of/${repo}`
const countKey = (key: string) => `clone-list-count/${key}`
/** Repository id → the identity its list pointer is kept under (to forget it on deletion). */
const byIdKey = (id: number) => `clone-list-repo/${id}`
/** A RepoUploads identity is `<repository id>.<created_at>`. */
const idOfIdentity = (identity: string) => {
  const m = /^(\d+)\./.exec(identity)
  return m ? Number(m[1]) : undefined
}

const readPointer = (objects: ObjectStoreShape, repo: string) =>
  Effect.map(objects.getDerived(repoKey(repo)), (v) => {
    if (!v) return undefined
    try {
      const p = JSON.parse(Buffer.from(v).toString("utf8")) as { key: string; wants: ObjectId[] }
      return typeof p.key === "string" && Array.isArray(p.wants) ? p : undefined
    } catch {
      return undefined
    }
  })

/**
 * The key of the list stored for a repository (for RepoObjects: every object in it was
 * reachable from the repository's tips when it was written), if there is one.
 */
export const cloneListKeyOf = (objects: ObjectStoreShape, repo: string) =>
  Effect.map(readPointer(objects, repo), (p) => p?.key)

/** A stored list's encoded bytes, by key. */
export const storedCloneList = (objects: ObjectStoreShape, key: string) =>
  Effect.map(objects.getDerived(storedKey(key)), (bytes) =>
    bytes && bytes.length % RECORD === 0 ? bytes : undefined,
  )

export const makeCloneLists = (objects: ObjectStoreShape, options: CloneListsOptions = {}) => {
  const limit = options.memoryBytes ?? 4 * 1024 * 1024
  const memory = new Map<string, Buffer>()
  let bytes = 0
  const remember = (key: string, encoded: Buffer) => {
    if (encoded.length > limit) return
    const old = memory.get(key)
    if (old) {
      memory.delete(key)
      bytes -= old.length
    }
    memory.set(key, encoded)
    bytes += encoded.length
    while (bytes > limit) {
      const [k, v] = memory.entries().next().value as [string, Buffer]
      memory.delete(k)
      bytes -= v.length
    }
  }

  /** The list for these wants, if known (memory first, then the store). */
  const get = (wants: ReadonlyArray<ObjectId>) =>
    Effect.gen(function* () {
      const key = cloneListKey(wants)
      let encoded = memory.get(key)
      if (encoded) {
        memory.delete(key)
        memory.set(key, encoded)
      } else {
        const stored = yield* objects.getDerived(storedKey(key))
        if (!stored) return undefined
        encoded = Buffer.from(stored)
        remember(key, encoded)
      }
      return decodeCloneList(encoded)
    })

  /**
   * Records a computed list in memory. With `repo`, it is also stored as that repository's
   * list, and the one it had before is deleted (one list per repository on disk: clients
   * asking for other want sets cannot fill the disk).
   */
  const put = (
    wants: ReadonlyArray<ObjectId>,
    list: CloneList,
    repo?: string,
  ): Effect.Effect<void, StorageError> =>
    Effect.gen(function* () {
      const key = cloneListKey(wants)
      const encoded = encodeCloneList(list)
      remember(key, encoded)
      if (repo === undefined) return
      yield* objects.putDerived(storedKey(key), encoded)
      yield* point(repo, key, wants)
    })

  /**
   * Makes `key` the repository's list. Lists are shared by repositories with the same tips
   * (forks): each stored list counts the repositories pointing at it, and is deleted when
   * the last one moves on, so the disk holds about one list per repository.
   */
  const point = (repo: string, key: string, wants: ReadonlyArray<ObjectId>) =>
    Effect.gen(function* () {
      const before = yield* pointer(repo)
      if (before?.key === key) return
      yield* objects.putDerived(
        repoKey(repo),
        Buffer.from(JSON.stringify({ key, wants: [...new Set(wants)] })),
      )
      const id = idOfIdentity(repo)
      if (id !== undefined) yield* objects.putDerived(byIdKey(id), Buffer.from(repo))
      yield* count(key, +1)
      if (before) yield* release(before.key)
    })
  /** One repository fewer points at list `key`: the last one deletes it (and its pack). */
  const release = (key: string) =>
    Effect.gen(function* () {
      if ((yield* count(key, -1)) > 0) return
      yield* objects.putDerived(storedKey(key), undefined)
      yield* objects.putDerived(countKey(key), undefined)
      if (options.onRemoved) yield* options.onRemoved(key)
    })

  /**
   * Forgets the list of a deleted repository (by its id): its pointer goes, and the list
   * (with its pack) when no other repository points at it. Returns the identity the
   * pointer was kept under, if there was one.
   */
  const forgetRepository = (id: number) =>
    Effect.gen(function* () {
      const identity = yield* objects.getDerived(byIdKey(id))
      if (identity === undefined) return undefined
      const repo = Buffer.from(identity).toString("utf8")
      const p = yield* pointer(repo)
      yield* objects.putDerived(repoKey(repo), undefined)
      yield* objects.putDerived(byIdKey(id), undefined)
      if (p) yield* release(p.key)
      return repo
    })
  const count = (key: string, by: number) =>
    Effect.gen(function* () {
      const v = yield* objects.getDerived(countKey(key))
      const n = (v ? Number(Buffer.from(v).toString("utf8")) || 0 : 0) + by
      if (by > 0 || n > 0) yield* objects.putDerived(countKey(key), Buffer.from(String(n)))
      return n
    })

  const pointer = (repo: string) => readPointer(objects, repo)

  /** The repository's stored list and the wants it was computed for, if any. */
  const previous = (repo: string) =>
    Effect.gen(function* () {
      const p = yield* pointer(repo)
      if (!p) return undefined
      const list = yield* get(p.wants)
      return list ? { wants: p.wants, list } : undefined
    })

  /**
   * Whether a list for these wants is stored; if so it becomes the repository's list too
   * (a fork, or another repository with the same tips, wrote it).
   */
  const adopt = (wants: ReadonlyArray<ObjectId>, repo: string) =>
    Effect.gen(function* () {
      const key = cloneListKey(wants)
      if ((yield* objects.getDerived(storedKey(key))) === undefined) return false
      yield* point(repo, key, wants)
      return true
    })

  return { get, put, adopt, previous, forgetRepository }
}

export type CloneLists = ReturnType<typeof makeCloneLists>

/** The ids of an encoded list as a RawIdSet (built from the bytes, no strings). */
export const cloneListIds = (bytes: Uint8Array): RawIdSet => {
  const set = new RawIdSet(bytes.length / RECORD)
  for (let at = 0; at + RECORD <= bytes.length; at += RECORD) set.addRaw(bytes, at + 1)
  return set
}

const ORDER: Record<ObjectType, number> = { tag: 0, commit: 1, tree: 2, blob: 3 }

/**
 * A list extended by the objects a push added: grouped by type in pack order (tags,
 * commits, trees, blobs), the added ones of each group first, each object once.
 */
export const extendCloneList = (added: CloneList, before: CloneList): CloneList => {
  const seen = new Set<ObjectId>()
  const out: Array<{ id: ObjectId; type: ObjectType }> = []
  for (let group = 0; group < 4; group++)
    for (const source of [added, before])
      for (const o of source)
        if (ORDER[o.type] === group && !seen.has(o.id)) {
          seen.add(o.id)
          out.push(o)
        }
  return out
}
