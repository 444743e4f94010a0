/**
 * RefStore on RocksDB. Keys: "r" + repo + \0 + ref name → 20 id bytes; "h" + repo → HEAD
 * target. Updates of one repository are serialised (compare-and-swap: read, check, write
 * in one atomic batch), so two racing updates of a ref cannot both win.
 */
import { Effect, Layer } from "effect"
import { type ObjectId, objectIdFromBytes, ZERO_ID } from "../domain/git/ObjectId.ts"
import { RefStore } from "../services/RefStore.ts"
import { conflictsOf } from "./RefStoreMemory.ts"
import { KeyPrefix, Rocks } from "./Rocks.ts"

const repoPrefix = (repo: string) =>
  Buffer.concat([Buffer.from([KeyPrefix.ref]), Buffer.from(repo, "utf8"), Buffer.from([0])])
const refKey = (repo: string, name: string) =>
  Buffer.concat([repoPrefix(repo), Buffer.from(name, "utf8")])
const headKey = (repo: string) =>
  Buffer.concat([Buffer.from([KeyPrefix.head]), Buffer.from(repo, "utf8")])

export const RefStoreRocks = Layer.effect(
  RefStore,
  Effect.gen(function* () {
    const rocks = yield* Rocks
    const lock = yield* Effect.makeSemaphore(1)
    const get = (repo: string, name: string) =>
      Effect.map(rocks.get(refKey(repo, name)), (v) =>
        v && v.length === 20 ? objectIdFromBytes(v) : undefined,
      )
    return RefStore.of({
      list: (repo) =>
        Effect.map(rocks.scan(repoPrefix(repo)), (rows) => {
          const prefixLength = repoPrefix(repo).length
          return rows.map((r) => ({
            name: r.key.toString("utf8", prefixLength),
            id: objectIdFromBytes(r.value),
          }))
        }),
      get,
      update: (repo, updates) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            const names = updates.map((u) => u.name)
            const values = yield* rocks.getMany(names.map((n) => refKey(repo, n)))
            const current = new Map<string, ObjectId | undefined>(
              names.map((n, i) => [
                n,
                values[i] && values[i]!.length === 20 ? objectIdFromBytes(values[i]!) : undefined,
              ]),
            )
            const conflict = conflictsOf(repo, (n) => current.get(n), updates)
            if (conflict) return yield* conflict
            yield* rocks.write(
              updates.map((u) => ({
                key: refKey(repo, u.name),
                value: u.next === ZERO_ID ? undefined : Buffer.from(u.next, "hex"),
              })),
            )
          }),
        ),
      getHead: (repo) => Effect.map(rocks.get(headKey(repo)), (v) => v?.toString("utf8")),
      setHead: (repo, target) =>
        rocks.write([{ key: headKey(repo), value: Buffer.from(target, "utf8") }]),
      dropRepo: (repo) =>
        Effect.gen(function* () {
          const rows = yield* rocks.scan(repoPrefix(repo))
          yield* rocks.write([
            ...rows.map((r) => ({ key: r.key, value: undefined })),
            { key: headKey(repo), value: undefined },
          ])
        }),
    })
  }),
)
