/**
 * Ancestry facts for a ref update `old → new`, as branch protection needs them: is it a
 * fast-forward (old reachable from new), and does it add a merge commit (a commit with
 * more than one parent among those reachable from new but not from old)?
 *
 * The walk paints commits from both ends in committer-time order and stops once every
 * commit still queued is reachable from `old` (git's merge-base strategy), so its cost is
 * the size of the pushed range, not of the whole history. Deterministic: every validator
 * reads the same objects and takes the same steps.
 */
import { Effect } from "effect"
import { commitLinks, ObjectParseError } from "../../domain/git/GitObject.ts"
import type { ObjectId } from "../../domain/git/ObjectId.ts"
import { ObjectStore } from "../ObjectStore.ts"

const NEW = 1
const OLD = 2

export interface RangeFacts {
  readonly fastForward: boolean
  readonly addsMergeCommit: boolean
}

/** Bound on commits examined; beyond it the update is treated as not a fast-forward. */
const MAX_COMMITS = 200_000

export const rangeFacts = (oldId: ObjectId, newId: ObjectId) =>
  Effect.gen(function* () {
    const objects = yield* ObjectStore
    const flags = new Map<ObjectId, number>()
    const time = new Map<ObjectId, number>()
    // A plain array kept sorted by (time, id): ranges are small; ids break ties so every
    // node pops in the same order.
    const queue: ObjectId[] = []
    let addsMergeCommit = false

    const load = (ids: ReadonlyArray<ObjectId>) =>
      Effect.gen(function* () {
        const wanted = ids.filter((id) => !time.has(id))
        if (wanted.length === 0) return new Map<ObjectId, ObjectId[]>()
        const got = yield* objects.getMany(wanted)
        const parents = new Map<ObjectId, ObjectId[]>()
        wanted.forEach((id, i) => {
          const o = got[i]
          if (!o || o.type !== "commit") {
            time.set(id, Number.NEGATIVE_INFINITY)
            parents.set(id, [])
            return
          }
          const links = commitLinks(o.content)
          if (links instanceof ObjectParseError) {
            time.set(id, Number.NEGATIVE_INFINITY)
            parents.set(id, [])
            return
          }
          time.set(id, links.time)
          parents.set(id, links.parents)
        })
        return parents
      })

    const parentsOf = new Map<ObjectId, ObjectId[]>()
    const enqueue = (id: ObjectId, flag: number) => {
      const had = flags.get(id) ?? 0
      if ((had | flag) === had) return
      flags.set(id, had | flag)
      if (had === 0) queue.push(id)
    }
    const order = (a: ObjectId, b: ObjectId) =>
      (time.get(a) ?? 0) - (time.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0)

    for (const [id, ps] of yield* load([oldId, newId])) parentsOf.set(id, ps)
    enqueue(newId, NEW)
    enqueue(oldId, OLD)
    let examined = 0
    while (queue.some((id) => flags.get(id) !== (OLD | NEW) && flags.get(id) !== OLD)) {
      if (++examined > MAX_COMMITS) return { fastForward: false, addsMergeCommit: true }
      queue.sort(order)
      const id = queue.pop()!
      const f = flags.get(id)!
      const ps = parentsOf.get(id) ?? []
      if (f === NEW && ps.length > 1) addsMergeCommit = true
      const unknown = ps.filter((p) => !parentsOf.has(p))
      if (unknown.length > 0) for (const [p, pp] of yield* load(unknown)) parentsOf.set(p, pp)
      for (const p of ps) {
        const before = flags.get(p) ?? 0
        enqueue(p, f)
        // A commit already examined that gains a flag must be looked at again.
        if (before !== 0 && before !== (flags.get(p) ?? 0) && !queue.includes(p)) queue.push(p)
      }
    }
    return { fastForward: ((flags.get(oldId) ?? 0) & NEW) !== 0, addsMergeCommit }
  })
