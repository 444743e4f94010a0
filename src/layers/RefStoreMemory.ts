/**
 * RefStore in memory: for tests and `--storage memory`. Same contract as RocksDB (the
 * conformance suite runs against both); nothing survives the process. Every operation is
 * synchronous, so a compare-and-swap update cannot interleave with another.
 */
import { Effect, Layer } from "effect"
import { type ObjectId, ZERO_ID } from "../domain/git/ObjectId.ts"
import {
  type BlockRefWrite,
  RefStore,
  type RefStoreShape,
  refConflicts,
} from "../services/RefStore.ts"

/** Git's order: bytewise on UTF-8 (JavaScript's `<` compares UTF-16 code units). */
const byUtf8 = (a: { name: string }, b: { name: string }) =>
  Buffer.compare(Buffer.from(a.name, "utf8"), Buffer.from(b.name, "utf8"))

export const makeMemoryRefStore = (): RefStoreShape => {
  const repos = new Map<string, Map<string, ObjectId>>()
  const heads = new Map<string, string>()
  let blockHeight = 0
  let undo: { height: number; writes: BlockRefWrite[] } | undefined
  const read = (w: BlockRefWrite) =>
    w.name === undefined ? heads.get(w.repo) : repos.get(w.repo)?.get(w.name)
  const put = (w: BlockRefWrite) => {
    if (w.name === undefined) {
      if (w.value === undefined) heads.delete(w.repo)
      else heads.set(w.repo, w.value)
      return
    }
    const refs = repos.get(w.repo) ?? new Map<string, ObjectId>()
    if (w.value === undefined) refs.delete(w.name)
    else refs.set(w.name, w.value as ObjectId)
    if (refs.size > 0) repos.set(w.repo, refs)
    else repos.delete(w.repo)
  }
  return RefStore.of({
    commitBlock: (height, writes) =>
      Effect.sync(() => {
        undo = { height, writes: writes.map((w) => ({ ...w, value: read(w) })) }
        for (const w of writes) put(w)
        blockHeight = height
      }),
    blockHeight: Effect.sync(() => blockHeight),
    undoBlock: (height) =>
      Effect.sync(() => {
        if (undo?.height !== height || blockHeight !== height) return
        for (const w of [...undo.writes].reverse()) put(w)
        blockHeight = height - 1
        undo = undefined
      }),
    list: (repo) =>
      Effect.sync(() =>
        [...(repos.get(repo) ?? new Map<string, ObjectId>()).entries()]
          .map(([name, id]) => ({ name, id }))
          .sort(byUtf8),
      ),
    get: (repo, name) => Effect.sync(() => repos.get(repo)?.get(name)),
    update: (repo, updates) =>
      Effect.suspend(() => {
        const refs = repos.get(repo) ?? new Map<string, ObjectId>()
        const conflict = refConflicts(repo, (n) => refs.get(n), updates)
        if (conflict) return Effect.fail(conflict)
        for (const u of updates) {
          if (u.next === ZERO_ID) refs.delete(u.name)
          else refs.set(u.name, u.next)
        }
        if (refs.size > 0) repos.set(repo, refs)
        else repos.delete(repo)
        return Effect.void
      }),
    getHead: (repo) => Effect.sync(() => heads.get(repo)),
    setHead: (repo, target) => Effect.sync(() => void heads.set(repo, target)),
    dropRepo: (repo) =>
      Effect.sync(() => {
        repos.delete(repo)
        heads.delete(repo)
      }),
  })
}

export const RefStoreMemory = Layer.sync(RefStore, makeMemoryRefStore)
