/**
 * RefStore in memory: for tests and `--storage memory`. Same semantics as RocksDB.
 */
import { Effect, Layer } from "effect"
import { type ObjectId, ZERO_ID } from "../domain/git/ObjectId.ts"
import { RefConflict, RefStore } from "../services/RefStore.ts"

export const conflictsOf = (
  repo: string,
  current: (name: string) => ObjectId | undefined,
  updates: ReadonlyArray<{ name: string; expected?: ObjectId | undefined }>,
) => {
  const conflicts: Array<{
    name: string
    expected: ObjectId | undefined
    actual: ObjectId | undefined
  }> = []
  for (const u of updates) {
    if (u.expected === undefined) continue
    const actual = current(u.name)
    const ok = u.expected === ZERO_ID ? actual === undefined : actual === u.expected
    if (!ok) conflicts.push({ name: u.name, expected: u.expected, actual })
  }
  return conflicts.length > 0 ? new RefConflict({ repo, conflicts }) : undefined
}

export const RefStoreMemory = Layer.sync(RefStore, () => {
  const repos = new Map<string, Map<string, ObjectId>>()
  const heads = new Map<string, string>()
  const refsOf = (repo: string) => {
    let m = repos.get(repo)
    if (!m) {
      m = new Map()
      repos.set(repo, m)
    }
    return m
  }
  return RefStore.of({
    list: (repo) =>
      Effect.sync(() =>
        [...(repos.get(repo) ?? new Map<string, ObjectId>()).entries()]
          .map(([name, id]) => ({ name, id }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      ),
    get: (repo, name) => Effect.sync(() => repos.get(repo)?.get(name)),
    update: (repo, updates) =>
      Effect.suspend(() => {
        const refs = refsOf(repo)
        const conflict = conflictsOf(repo, (n) => refs.get(n), updates)
        if (conflict) return Effect.fail(conflict)
        for (const u of updates) {
          if (u.next === ZERO_ID) refs.delete(u.name)
          else refs.set(u.name, u.next)
        }
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
})
