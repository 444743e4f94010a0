/**
 * Reachability walks (pure): which objects a fetch must send — what the wants reach minus
 * what the haves reach — as `git rev-list --objects <wants> ^<haves>` computes it, with an
 * optional depth limit (shallow clones) and an object filter (partial clones).
 *
 * The loader is an Effect-returning callback, `(id) => Effect<{type, content}, E>`, so the
 * protocol layer passes its store reads directly; its errors flow through unchanged, and
 * malformed objects are a WalkError. An optional `loadMany` batches reads (one call per
 * tree level) and `sizeOf` answers blob sizes without reading blobs (for `blob:limit`).
 *
 * Semantics, as git's:
 * - commits: reachable from the wants and not from the haves. Both sides are walked newest
 *   first (committer time) and the walk stops once only uninteresting commits remain (plus
 *   a few, against clock skew); the answer is exact when times do not go backwards along
 *   parent links, as git's is.
 * - trees and blobs: reachable from the sent commits' trees, minus everything reachable
 *   from the trees of the "edge" commits (uninteresting parents of sent commits) and of
 *   trees given as haves. Submodule entries (gitlinks) are never followed.
 * - annotated tags among the wants are sent and peeled; a wanted tree or blob is sent even
 *   when a filter would omit it (git's "provided objects").
 * - depth N: commits within N generations of the wants; those at generation N become the
 *   shallow boundary (and are walked as if parentless).
 * - filters: `blob:none` omits blobs, `blob:limit=N` omits blobs of N bytes or more,
 *   `tree:N` omits trees and blobs at depth ≥ N below a commit's root tree (root depth 0).
 */
import { Data, Effect } from "effect"
import {
  commitLinks,
  entryKind,
  ObjectParseError,
  parseTree,
  tagTarget,
  textString,
} from "./GitObject.ts"
import type { ObjectId, ObjectType } from "./ObjectId.ts"

export interface LoadedObject {
  readonly type: ObjectType
  readonly content: Uint8Array
}

export class WalkError extends Data.TaggedError("WalkError")<{
  readonly id: ObjectId
  readonly message: string
}> {}

export type WalkFilter =
  | { readonly kind: "blob:none" }
  | { readonly kind: "blob:limit"; readonly limit: number }
  | { readonly kind: "tree"; readonly depth: number }

export interface WalkOptions<E> {
  readonly load: (id: ObjectId) => Effect.Effect<LoadedObject, E>
  /** Batched reads, same order as `ids` (optional; falls back to `load`). */
  readonly loadMany?: (
    ids: ReadonlyArray<ObjectId>,
  ) => Effect.Effect<ReadonlyArray<LoadedObject>, E>
  /** Blob sizes without their contents (optional; for blob:limit). */
  readonly sizeOf?: (ids: ReadonlyArray<ObjectId>) => Effect.Effect<ReadonlyArray<number>, E>
  readonly wants: ReadonlyArray<ObjectId>
  readonly haves?: ReadonlyArray<ObjectId>
  /** Keep only commits within this many generations of the wants (1: the wants alone). */
  readonly depth?: number | undefined
  /** Commits the client already has as shallow boundaries (walked as if parentless). */
  readonly shallow?: ReadonlyArray<ObjectId>
  readonly filter?: WalkFilter | undefined
}

export interface WalkedObject {
  readonly id: ObjectId
  readonly type: ObjectType
  /** Path of a tree or blob in the first commit that reached it ("" for a root tree). */
  readonly path?: string
}

export interface WalkResult {
  /** Objects to send: tags, commits (newest first), then trees and blobs, parents first. */
  readonly objects: ReadonlyArray<WalkedObject>
  /** The commits among `objects`. */
  readonly commits: ReadonlyArray<ObjectId>
  /** The shallow boundary a depth limit produced (commits sent without their parents). */
  readonly shallow: ReadonlyArray<ObjectId>
}

interface CommitNode {
  readonly id: ObjectId
  readonly tree: ObjectId
  readonly parents: ReadonlyArray<ObjectId>
  readonly time: number
}

/** Max-heap by committer time; ties pop in insertion order, like git's date queue. */
class DateQueue {
  private readonly items: Array<{ node: CommitNode; seq: number }> = []
  private seq = 0
  get size() {
    return this.items.length
  }
  private before(a: { node: CommitNode; seq: number }, b: { node: CommitNode; seq: number }) {
    return a.node.time > b.node.time || (a.node.time === b.node.time && a.seq < b.seq)
  }
  push(node: CommitNode) {
    const items = this.items
    items.push({ node, seq: this.seq++ })
    let i = items.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.before(items[i]!, items[p]!)) break
      ;[items[i], items[p]] = [items[p]!, items[i]!]
      i = p
    }
  }
  pop(): CommitNode | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]!.node
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
  /** Committer time of the newest queued commit. */
  newest(): number {
    return this.items.length > 0 ? this.items[0]!.node.time : Number.NEGATIVE_INFINITY
  }
}

/** Extra pops once only uninteresting commits remain, against clock skew (git's SLOP). */
const SLOP = 5

export const walkObjects = <E>(options: WalkOptions<E>): Effect.Effect<WalkResult, E | WalkError> =>
  Effect.gen(function* () {
    const { load } = options
    const loadMany =
      options.loadMany ?? ((ids: ReadonlyArray<ObjectId>) => Effect.forEach(ids, (id) => load(id)))
    const parseFail = (id: ObjectId, e: ObjectParseError) =>
      new WalkError({ id, message: `object ${id} is malformed: ${e.message}` })

    const commits = new Map<ObjectId, CommitNode>()
    const commitOf = (id: ObjectId, content?: Uint8Array) =>
      Effect.gen(function* () {
        const known = commits.get(id)
        if (known) return known
        let bytes = content
        if (!bytes) {
          const o = yield* load(id)
          if (o.type !== "commit")
            return yield* new WalkError({
              id,
              message: `object ${id} is a ${o.type}, expected a commit`,
            })
          bytes = o.content
        }
        const links = commitLinks(bytes)
        if (links instanceof ObjectParseError) return yield* parseFail(id, links)
        const node: CommitNode = { id, tree: links.tree, parents: links.parents, time: links.time }
        commits.set(id, node)
        return node
      })

    // 1. Peel wants and haves into commits, trees and blobs.
    const out: WalkedObject[] = []
    const sent = new Set<ObjectId>()
    const send = (o: WalkedObject) => {
      if (sent.has(o.id)) return
      sent.add(o.id)
      out.push(o)
    }
    const wantCommits: CommitNode[] = []
    const wantTrees: ObjectId[] = []
    const wantBlobs: ObjectId[] = []
    const haveCommits: CommitNode[] = []
    const haveTrees: ObjectId[] = []
    const knownObjects = new Set<ObjectId>()
    const peel = (id: ObjectId, wanted: boolean) =>
      Effect.gen(function* () {
        let current = id
        for (let hops = 0; hops < 64; hops++) {
          const o = yield* load(current)
          if (o.type === "tag") {
            if (wanted) send({ id: current, type: "tag" })
            else knownObjects.add(current)
            const t = tagTarget(o.content)
            if (t instanceof ObjectParseError) return yield* parseFail(current, t)
            current = t.object
            continue
          }
          if (o.type === "commit") {
            const node = yield* commitOf(current, o.content)
            if (wanted) wantCommits.push(node)
            else haveCommits.push(node)
          } else if (o.type === "tree") {
            if (wanted) wantTrees.push(current)
            else haveTrees.push(current)
          } else if (wanted) wantBlobs.push(current)
          else knownObjects.add(current)
          return
        }
        return yield* new WalkError({ id, message: `tag chain from ${id} is too long` })
      })
    for (const id of options.wants) yield* peel(id, true)
    for (const id of options.haves ?? []) yield* peel(id, false)

    // 2. Depth: the commits within `depth` generations, and the boundary.
    const grafted = new Set<ObjectId>(options.shallow ?? [])
    const shallow: ObjectId[] = []
    let allowed: Set<ObjectId> | undefined
    if (options.depth !== undefined && options.depth > 0) {
      allowed = new Set()
      let frontier = wantCommits.map((c) => c.id)
      for (const id of frontier) allowed.add(id)
      for (let generation = 1; frontier.length > 0; generation++) {
        const next: ObjectId[] = []
        for (const id of frontier) {
          const node = yield* commitOf(id)
          const parents = grafted.has(id) ? [] : node.parents
          if (generation >= options.depth) {
            // As git: the boundary is every commit at the limit, root commits included.
            shallow.push(id)
            continue
          }
          for (const p of parents)
            if (!allowed.has(p)) {
              allowed.add(p)
              next.push(p)
            }
        }
        frontier = next
      }
      for (const id of shallow) grafted.add(id)
    }
    const parentsOf = (node: CommitNode) => (grafted.has(node.id) ? [] : node.parents)

    // 3. Commit walk, newest first, both sides at once.
    const uninteresting = new Set<ObjectId>()
    const seen = new Set<ObjectId>()
    const queue = new DateQueue()
    const order: CommitNode[] = []
    /** Queued commits not known to be uninteresting (the walk goes on while there are any). */
    const queuedInteresting = new Set<ObjectId>()
    const enqueue = (c: CommitNode) => {
      seen.add(c.id)
      queue.push(c)
      if (!uninteresting.has(c.id)) queuedInteresting.add(c.id)
    }
    for (const c of haveCommits) uninteresting.add(c.id)
    for (const c of [...haveCommits, ...wantCommits]) if (!seen.has(c.id)) enqueue(c)
    /** Marks the parents of an uninteresting commit, through commits already walked. */
    const markParents = (node: CommitNode) => {
      const stack = [...parentsOf(node)]
      while (stack.length > 0) {
        const id = stack.pop()!
        if (uninteresting.has(id)) continue
        uninteresting.add(id)
        queuedInteresting.delete(id)
        const walked = commits.get(id)
        if (walked && seen.has(id)) stack.push(...parentsOf(walked))
      }
    }
    let slop = SLOP
    let oldestInteresting = Number.POSITIVE_INFINITY
    while (queue.size > 0) {
      const node = queue.pop()!
      queuedInteresting.delete(node.id)
      const bad = uninteresting.has(node.id)
      if (bad) markParents(node)
      else {
        order.push(node)
        oldestInteresting = Math.min(oldestInteresting, node.time)
      }
      for (const p of parentsOf(node)) {
        if (seen.has(p)) continue
        if (allowed && !allowed.has(p) && !uninteresting.has(p)) continue
        enqueue(yield* commitOf(p))
      }
      if (queuedInteresting.size > 0) slop = SLOP
      else if (queue.newest() < oldestInteresting && --slop <= 0) break
    }
    const sendCommits = order.filter((c) => !uninteresting.has(c.id))
    for (const c of sendCommits) send({ id: c.id, type: "commit" })

    // 4. Trees and blobs the client has: those of edge commits and of trees given as haves.
    const edgeTrees: ObjectId[] = [...haveTrees]
    for (const c of sendCommits)
      for (const p of parentsOf(c))
        if (uninteresting.has(p)) edgeTrees.push((yield* commitOf(p)).tree)
    let level = edgeTrees.filter((id) => !knownObjects.has(id))
    for (const id of level) knownObjects.add(id)
    while (level.length > 0) {
      const trees = yield* loadMany(level)
      const next: ObjectId[] = []
      for (let i = 0; i < trees.length; i++) {
        const tree = trees[i]!
        if (tree.type !== "tree")
          return yield* new WalkError({
            id: level[i]!,
            message: `object ${level[i]} is a ${tree.type}, expected a tree`,
          })
        const entries = parseTree(tree.content)
        if (entries instanceof ObjectParseError) return yield* parseFail(level[i]!, entries)
        for (const e of entries) {
          const kind = entryKind(e.mode)
          if (kind === "gitlink" || knownObjects.has(e.id)) continue
          knownObjects.add(e.id)
          if (kind === "tree") next.push(e.id)
        }
      }
      level = next
    }

    // 5. Trees and blobs to send, level by level from the roots (shallowest first, so a
    //    depth filter sees each object at its smallest depth).
    const filter = options.filter
    const maxDepth = filter?.kind === "tree" ? filter.depth : Number.POSITIVE_INFINITY
    const pendingBlobs: Array<{ id: ObjectId; path: string }> = []
    const blobAllowed = filter?.kind !== "blob:none"
    type Item = { id: ObjectId; path: string; depth: number; provided: boolean }
    let items: Item[] = []
    for (const id of wantTrees) items.push({ id, path: "", depth: 0, provided: true })
    for (const c of sendCommits) items.push({ id: c.tree, path: "", depth: 0, provided: false })
    const queued = new Set<ObjectId>()
    items = items.filter((it) => {
      if (queued.has(it.id) || (knownObjects.has(it.id) && !it.provided)) return false
      queued.add(it.id)
      return true
    })
    for (const id of wantBlobs) send({ id, type: "blob", path: "" })
    while (items.length > 0) {
      const visible = items.filter((it) => it.provided || it.depth < maxDepth)
      for (const it of visible) send({ id: it.id, type: "tree", path: it.path })
      if (visible.length === 0) break
      const trees = yield* loadMany(visible.map((it) => it.id))
      const next: Item[] = []
      for (let i = 0; i < trees.length; i++) {
        const parent = visible[i]!
        const tree = trees[i]!
        if (tree.type !== "tree")
          return yield* new WalkError({
            id: parent.id,
            message: `object ${parent.id} is a ${tree.type}, expected a tree`,
          })
        const entries = parseTree(tree.content)
        if (entries instanceof ObjectParseError) return yield* parseFail(parent.id, entries)
        const depth = parent.depth + 1
        for (const e of entries) {
          const kind = entryKind(e.mode)
          if (kind === "gitlink" || knownObjects.has(e.id) || queued.has(e.id)) continue
          const path =
            parent.path === "" ? textString(e.name) : `${parent.path}/${textString(e.name)}`
          if (kind === "tree") {
            if (depth >= maxDepth) continue
            queued.add(e.id)
            next.push({ id: e.id, path, depth, provided: false })
          } else {
            if (!blobAllowed || depth >= maxDepth) continue
            queued.add(e.id)
            pendingBlobs.push({ id: e.id, path })
          }
        }
      }
      items = next
    }
    if (filter?.kind === "blob:limit" && pendingBlobs.length > 0) {
      const ids = pendingBlobs.map((b) => b.id)
      const sizes = options.sizeOf
        ? yield* options.sizeOf(ids)
        : (yield* loadMany(ids)).map((o) => o.content.length)
      for (let i = 0; i < pendingBlobs.length; i++)
        if (sizes[i]! < filter.limit)
          send({ id: pendingBlobs[i]!.id, type: "blob", path: pendingBlobs[i]!.path })
    } else for (const b of pendingBlobs) send({ id: b.id, type: "blob", path: b.path })

    return {
      objects: out,
      commits: sendCommits.map((c) => c.id),
      shallow,
    } satisfies WalkResult
  })
