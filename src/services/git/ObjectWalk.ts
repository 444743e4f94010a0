/**
 * ObjectWalk: which objects a fetch must send — everything reachable from the wants that
 * the client does not already have — honouring shallow boundaries and object filters.
 *
 * The commit walk follows git's own strategy: commits reachable from the client's haves
 * are "uninteresting"; both sides are walked newest first (by committer time) and the
 * walk stops once only uninteresting commits remain, so a fetch of ten new commits reads
 * about ten commits, not the whole history. Trees and blobs of the uninteresting boundary
 * commits are marked as known, so unchanged subtrees are skipped in one lookup.
 *
 * Shallow: the client's shallow commits act as if they had no parents (git's grafts), and
 * a depth / since / not limit produces the new shallow boundary.
 */
import { Effect } from "effect"
import { isObjectId, type ObjectId, type ObjectType } from "../../domain/git/ObjectId.ts"
import { RawIdSet } from "../../domain/git/RawIdSet.ts"
import type { ObjectFilter } from "../../domain/protocol/UploadRequest.ts"
import type { ObjectCorrupt, ObjectNotFound, StorageError } from "../ObjectStore.ts"

export type WalkError = ObjectNotFound | ObjectCorrupt | StorageError

export interface CommitInfo {
  readonly tree: ObjectId
  readonly parents: ReadonlyArray<ObjectId>
  /** Committer time, seconds since the epoch. */
  readonly time: number
}

export interface TreeEntry {
  readonly mode: number
  readonly id: ObjectId
  readonly isTree: boolean
  /** Submodule commit (mode 160000): never sent, never walked. */
  readonly isGitlink: boolean
}

export interface ObjectSource {
  readonly read: (
    id: ObjectId,
  ) => Effect.Effect<{ type: ObjectType; content: Uint8Array }, WalkError>
  /** Resolved objects in few round trips (undefined when absent). */
  readonly readMany: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<
    ReadonlyArray<{ type: ObjectType; content: Uint8Array } | undefined>,
    WalkError
  >
  readonly sizesOf: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<number | undefined>, WalkError>
}

/** Reads the header fields of a commit the walk needs, without parsing the message. */
/** Trees inflated and parsed at a time during a walk (bounds the walk's memory). */
const TREE_BATCH = 256

export const parseCommitInfo = (content: Uint8Array): CommitInfo | undefined => {
  const buf = Buffer.from(content.buffer, content.byteOffset, content.byteLength)
  let pos = 0
  let tree: ObjectId | undefined
  const parents: ObjectId[] = []
  let time = 0
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos)
    const end = nl < 0 ? buf.length : nl
    if (end === pos) break // blank line: headers are over
    const line = buf.toString("latin1", pos, end)
    if (line.startsWith("tree ")) tree = line.slice(5, 45) as ObjectId
    else if (line.startsWith("parent ")) parents.push(line.slice(7, 47) as ObjectId)
    else if (line.startsWith("committer ")) {
      const m = /> (\d+) [+-]\d{4}$/.exec(line)
      if (m) time = Number(m[1])
    }
    pos = end + 1
  }
  if (!tree || !isObjectId(tree) || !parents.every(isObjectId)) return undefined
  return { tree, parents, time }
}

/**
 * Calls `visit` with each entry's mode and where its raw 20-byte id lies in `buf`, without
 * making an object or a string per entry (a clone's walk meets about a million entries).
 * False when the tree is malformed.
 */
export const forEachTreeEntry = (
  buf: Uint8Array,
  visit: (mode: number, idOffset: number) => void,
): boolean => {
  let pos = 0
  while (pos < buf.length) {
    let mode = 0
    let p = pos
    while (p < buf.length && buf[p] !== 32) {
      const d = buf[p]! - 48
      if (d < 0 || d > 7) return false
      mode = mode * 8 + d
      p++
    }
    if (p >= buf.length) return false
    const nul = buf.indexOf(0, p + 1)
    if (nul < 0 || nul + 21 > buf.length) return false
    visit(mode, nul + 1)
    pos = nul + 21
  }
  return true
}

const TREE_KIND = 0o040000
const GITLINK_KIND = 0o160000
const hexAt = (buf: Uint8Array, at: number) =>
  Buffer.from(buf.buffer, buf.byteOffset + at, 20).toString("hex") as ObjectId

/** Tree entries (mode, id); names are not needed for reachability. */
export const parseTreeEntries = (content: Uint8Array): TreeEntry[] | undefined => {
  const entries: TreeEntry[] = []
  const ok = forEachTreeEntry(content, (mode, at) => {
    const kind = mode & 0o170000
    entries.push({
      mode,
      id: hexAt(content, at),
      isTree: kind === TREE_KIND,
      isGitlink: kind === GITLINK_KIND,
    })
  })
  return ok ? entries : undefined
}

/** The object a tag points at (`object <id>` and `type <t>` headers). */
export const parseTagTarget = (content: Uint8Array): { id: ObjectId; type: string } | undefined => {
  const head = Buffer.from(
    content.buffer,
    content.byteOffset,
    Math.min(content.byteLength, 200),
  ).toString("latin1")
  const m = /^object ([0-9a-f]{40})\ntype (\w+)\n/.exec(head)
  return m ? { id: m[1] as ObjectId, type: m[2]! } : undefined
}

export interface WalkInput {
  readonly wants: ReadonlyArray<ObjectId>
  /** Objects the client has (commits it told us about that we hold). */
  readonly haves: ReadonlyArray<ObjectId>
  /** The client's current shallow boundary. */
  readonly clientShallows: ReadonlyArray<ObjectId>
  readonly depth?: number | undefined
  readonly deepenSince?: number | undefined
  /** Commits reachable from these are excluded and make the boundary (deepen-not). */
  readonly deepenNotTips?: ReadonlyArray<ObjectId>
  readonly filter?: ObjectFilter | undefined
}

export interface WalkResult {
  /** Objects to send, in pack order: commits (newest first), tags, trees and blobs. */
  readonly objects: ReadonlyArray<{ id: ObjectId; type: ObjectType }>
  /** Objects the client is known to hold (thin-pack delta bases). */
  readonly known: { readonly has: (id: ObjectId) => boolean }
  /** New shallow boundary commits (to announce as `shallow`). */
  readonly shallow: ReadonlyArray<ObjectId>
  /** Client shallows that are no longer shallow (to announce as `unshallow`). */
  readonly unshallow: ReadonlyArray<ObjectId>
}

const INFINITE_DEPTH = 0x7fffffff

class CommitCache {
  readonly map = new Map<ObjectId, CommitInfo>()
}

export const makeWalker = (source: ObjectSource) => {
  const cache = new CommitCache()

  const commit = (id: ObjectId) =>
    Effect.suspend(() => {
      const hit = cache.map.get(id)
      if (hit) return Effect.succeed(hit)
      return source.read(id).pipe(
        Effect.flatMap((o) => {
          if (o.type !== "commit") return Effect.succeed(undefined)
          const info = parseCommitInfo(o.content)
          if (info) cache.map.set(id, info)
          return Effect.succeed(info)
        }),
      )
    })

  /** Peels tags until a non-tag object; returns its id and type. */
  const peel = (id: ObjectId) =>
    Effect.gen(function* () {
      let current = id
      for (let i = 0; i < 64; i++) {
        const o = yield* source.read(current)
        if (o.type !== "tag") return { id: current, type: o.type, tags: i }
        const target = parseTagTarget(o.content)
        if (!target) return { id: current, type: o.type, tags: i }
        current = target.id
      }
      return { id: current, type: "tag" as ObjectType, tags: 64 }
    })

  const walk = (input: WalkInput) =>
    Effect.gen(function* () {
      const grafted = new Set(input.clientShallows)
      const parentsOf = (id: ObjectId, info: CommitInfo) => (grafted.has(id) ? [] : info.parents)

      // 1. Sort wants into commits and other objects (tags, trees, blobs asked for directly).
      const objects: Array<{ id: ObjectId; type: ObjectType }> = []
      const sent = new Set<ObjectId>()
      const wantCommits: ObjectId[] = []
      const directTrees: ObjectId[] = []
      const directBlobs: ObjectId[] = []
      for (const want of input.wants) {
        let current = want
        for (let i = 0; i < 64; i++) {
          const o = yield* source.read(current)
          if (o.type === "tag") {
            if (!sent.has(current)) {
              sent.add(current)
              objects.push({ id: current, type: "tag" })
            }
            const t = parseTagTarget(o.content)
            if (!t) break
            current = t.id
            continue
          }
          if (o.type === "commit") wantCommits.push(current)
          else if (o.type === "tree") directTrees.push(current)
          else directBlobs.push(current)
          break
        }
      }

      // 2. Commits the client has: mark uninteresting, walk both sides newest first.
      const uninteresting = new Set<ObjectId>()
      const interesting = new Set<ObjectId>()
      type Item = { id: ObjectId; time: number; bad: boolean }
      const queue: Item[] = []
      const push = (item: Item) => {
        // Insertion keeps the queue sorted by time descending (queues stay small).
        let lo = 0
        let hi = queue.length
        while (lo < hi) {
          const mid = (lo + hi) >> 1
          if (queue[mid]!.time >= item.time) lo = mid + 1
          else hi = mid
        }
        queue.splice(lo, 0, item)
      }
      for (const have of input.haves) {
        const info = yield* commit(have)
        if (!info) continue
        uninteresting.add(have)
        push({ id: have, time: info.time, bad: true })
      }
      const depthLimited = input.depth !== undefined || input.deepenSince !== undefined
      const notTips = input.deepenNotTips ?? []
      const excludedByNot = new Set<ObjectId>()
      if (notTips.length > 0) {
        // deepen-not: everything reachable from these refs is excluded.
        const stack = [...notTips]
        while (stack.length > 0) {
          const id = stack.pop()!
          if (excludedByNot.has(id)) continue
          const info = yield* commit(id)
          if (!info) continue
          excludedByNot.add(id)
          stack.push(...parentsOf(id, info))
        }
      }

      const shallow: ObjectId[] = []
      const sendCommits: Array<{ id: ObjectId; time: number }> = []

      if (depthLimited || notTips.length > 0) {
        // Depth-limited walk from the wants (breadth first, depth counted from 1).
        const depthOf = new Map<ObjectId, number>()
        let frontier = wantCommits.filter((id) => !excludedByNot.has(id))
        for (const id of frontier) depthOf.set(id, 1)
        while (frontier.length > 0) {
          const next: ObjectId[] = []
          for (const id of frontier) {
            if (interesting.has(id)) continue
            const info = yield* commit(id)
            if (!info) continue
            interesting.add(id)
            const d = depthOf.get(id)!
            // Deepening walks the real history: the client's grafts are what it wants undone.
            const parents = info.parents
            const limitHere = d >= (input.depth ?? INFINITE_DEPTH)
            const keptParents: ObjectId[] = []
            for (const p of parents) {
              if (excludedByNot.has(p)) continue
              if (input.deepenSince !== undefined) {
                const pi = yield* commit(p)
                if (!pi || pi.time < input.deepenSince) continue
              }
              keptParents.push(p)
            }
            if (limitHere || keptParents.length < parents.length) {
              if (parents.length > 0 || grafted.has(id)) shallow.push(id)
            }
            if (!limitHere) {
              for (const p of keptParents) {
                if (!depthOf.has(p)) {
                  depthOf.set(p, d + 1)
                  next.push(p)
                }
              }
            }
          }
          frontier = next
        }
        // The client's own commits are not resent, unless it is deepening past them.
        for (const id of interesting) {
          if (!uninteresting.has(id) || grafted.has(id)) {
            const info = cache.map.get(id)!
            if (!input.haves.includes(id)) sendCommits.push({ id, time: info.time })
          }
        }
        // Commits on the client's side of the old boundary are sent only if the client
        // lacks them: it has every commit it named as have and everything under them
        // (apart from its grafts), which a depth-limited fetch does not need to exclude
        // precisely — git does the same and lets index-pack discard duplicates.
      } else {
        for (const id of wantCommits) {
          const info = yield* commit(id)
          if (!info) continue
          push({ id, time: info.time, bad: uninteresting.has(id) })
        }
        const seen = new Set<ObjectId>()
        while (queue.length > 0) {
          if (queue.every((q) => q.bad)) break
          const item = queue.shift()!
          if (seen.has(item.id)) {
            // A commit reached from both sides is uninteresting.
            continue
          }
          seen.add(item.id)
          const info = yield* commit(item.id)
          if (!info) continue
          const bad = item.bad || uninteresting.has(item.id)
          if (bad) uninteresting.add(item.id)
          else {
            interesting.add(item.id)
            sendCommits.push({ id: item.id, time: info.time })
          }
          for (const p of parentsOf(item.id, info)) {
            if (bad) {
              uninteresting.add(p)
              // If p was queued as interesting, its later pop sees it uninteresting.
            }
            if (seen.has(p)) continue
            const pi = yield* commit(p)
            if (!pi) continue
            push({ id: p, time: pi.time, bad })
          }
        }
        // A commit that turned out uninteresting after being collected must not be sent.
        for (let i = sendCommits.length - 1; i >= 0; i--)
          if (uninteresting.has(sendCommits[i]!.id)) sendCommits.splice(i, 1)
      }

      const unshallow = input.clientShallows.filter(
        (id) => interesting.has(id) && !shallow.includes(id),
      )

      // 3. Known trees and blobs: everything in the trees of the boundary commits the
      // client has (parents of what we send that we do not send). Held as raw ids: see
      // RawIdSet.
      const known = new RawIdSet()
      const knownIds = new Set<ObjectId>()
      const sending = new Set(sendCommits.map((c) => c.id))
      const boundary = new Set<ObjectId>()
      for (const c of sendCommits) {
        const info = cache.map.get(c.id)!
        for (const p of parentsOf(c.id, info))
          if (!sending.has(p) && uninteresting.has(p)) boundary.add(p)
      }
      for (const have of input.haves) if (uninteresting.has(have)) boundary.add(have)
      // Trees are read a level at a time, in batches of TREE_BATCH: a level of a large
      // history holds thousands of trees, and inflating and parsing all of them at once
      // held hundreds of MB (contents and entries) live during a clone.
      const eachTree = (ids: ReadonlyArray<ObjectId>, visit: (content: Uint8Array) => void) =>
        Effect.gen(function* () {
          for (let i = 0; i < ids.length; i += TREE_BATCH) {
            const objs = yield* source.readMany(ids.slice(i, i + TREE_BATCH))
            for (const o of objs) if (o) visit(o.content)
          }
        })
      let level: ObjectId[] = []
      for (const b of boundary) {
        known.add(b)
        const info = yield* commit(b)
        if (info && known.add(info.tree)) level.push(info.tree)
      }
      while (level.length > 0) {
        const next: ObjectId[] = []
        yield* eachTree(level, (content) => {
          forEachTreeEntry(content, (mode, at) => {
            const kind = mode & 0o170000
            if (kind === GITLINK_KIND) return
            if (known.addRaw(content, at) && kind === TREE_KIND) next.push(hexAt(content, at))
          })
        })
        level = next
      }
      for (const id of uninteresting) knownIds.add(id)

      // 4. Emit: commits newest first, then trees and blobs of each commit's tree.
      sendCommits.sort((a, b) => b.time - a.time)
      for (const c of sendCommits) {
        if (!sent.has(c.id)) {
          sent.add(c.id)
          objects.push({ id: c.id, type: "commit" })
        }
      }
      const filter = input.filter
      const treeDepthLimit = filter?.kind === "tree" ? filter.depth : INFINITE_DEPTH
      const trees: ObjectId[] = []
      const blobs: ObjectId[] = []
      // Trees and blobs met so far, sent or known (raw ids: see RawIdSet).
      const met = new RawIdSet(4096)
      let frontier: ObjectId[] = []
      for (const c of sendCommits) {
        const tree = cache.map.get(c.id)!.tree
        if (!known.has(tree) && met.add(tree)) frontier.push(tree)
      }
      for (let depth = 0; frontier.length > 0 && depth < treeDepthLimit; depth++) {
        for (const t of frontier) trees.push(t)
        const next: ObjectId[] = []
        const sized: ObjectId[] = []
        const lastLevel = depth + 1 >= treeDepthLimit
        yield* eachTree(frontier, (content) => {
          forEachTreeEntry(content, (mode, at) => {
            const kind = mode & 0o170000
            if (kind === GITLINK_KIND) return
            if (kind === TREE_KIND) {
              if (known.hasRaw(content, at) || !met.addRaw(content, at)) return
              next.push(hexAt(content, at))
              return
            }
            if (filter?.kind === "blob:none" || lastLevel) return
            if (known.hasRaw(content, at) || !met.addRaw(content, at)) return
            const id = hexAt(content, at)
            if (filter?.kind === "blob:limit") sized.push(id)
            else blobs.push(id)
          })
        })
        if (sized.length > 0) {
          const sizes = yield* source.sizesOf(sized)
          sized.forEach((id, i) => {
            if ((sizes[i] ?? 0) < (filter as { limit: number }).limit) blobs.push(id)
          })
        }
        frontier = next
      }
      // Objects asked for by id are sent whatever the filter says (lazy fetches).
      for (const t of directTrees) if (met.add(t)) trees.push(t)
      for (const b of directBlobs) if (met.add(b)) blobs.push(b)
      for (const t of trees) objects.push({ id: t, type: "tree" })
      for (const b of blobs) objects.push({ id: b, type: "blob" })

      return {
        objects,
        known: { has: (id: ObjectId) => knownIds.has(id) || known.has(id) },
        shallow,
        unshallow,
      } as WalkResult
    })

  /**
   * Does every want commit reach a commit the client has? (git's ok_to_give_up: the
   * client can stop sending haves.) Bounded: gives up after `limit` commits.
   */
  const allWantsReachCommon = (
    wants: ReadonlyArray<ObjectId>,
    common: ReadonlySet<ObjectId>,
    limit = 2000,
  ) =>
    Effect.gen(function* () {
      if (common.size === 0) return false
      for (const want of wants) {
        if (common.has(want)) continue
        const first = yield* commit(want)
        if (!first) continue // not a commit: nothing to negotiate
        const seen = new Set<ObjectId>([want])
        const stack = [...first.parents]
        let found = false
        let budget = limit
        while (stack.length > 0 && budget-- > 0) {
          const id = stack.pop()!
          if (common.has(id)) {
            found = true
            break
          }
          if (seen.has(id)) continue
          seen.add(id)
          const info = yield* commit(id)
          if (info) stack.push(...info.parents)
        }
        if (!found) return false
      }
      return true
    })

  /** Is `target` reachable from any of `tips` (for wants of unadvertised objects)? */
  const reachable = (tips: ReadonlyArray<ObjectId>, target: ObjectId) =>
    Effect.gen(function* () {
      if (tips.includes(target)) return true
      const seenCommits = new Set<ObjectId>()
      const seenTrees = new Set<ObjectId>()
      const commits: ObjectId[] = []
      for (const tip of tips) {
        const p = yield* peel(tip)
        if (p.id === target) return true
        if (p.type === "commit") commits.push(p.id)
      }
      while (commits.length > 0) {
        const id = commits.pop()!
        if (seenCommits.has(id)) continue
        seenCommits.add(id)
        if (id === target) return true
        const info = yield* commit(id)
        if (!info) continue
        commits.push(...info.parents)
        const trees = [info.tree]
        while (trees.length > 0) {
          const t = trees.pop()!
          if (t === target) return true
          if (seenTrees.has(t)) continue
          seenTrees.add(t)
          const o = yield* source.read(t)
          for (const e of parseTreeEntries(o.content) ?? []) {
            if (e.id === target) return true
            if (e.isTree) trees.push(e.id)
          }
        }
      }
      return false
    })

  return { walk, allWantsReachCommon, reachable, peel, commit }
}
