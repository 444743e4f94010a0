/**
 * RefStore on RocksDB, column family `refs`. Keys start with the repository:
 *   u16 big-endian byte length of the repository key, its UTF-8 bytes, then
 *   0x00 + ref name (UTF-8) → the 20 raw id bytes, or
 *   0x01 → HEAD's target (UTF-8, e.g. `refs/heads/main`).
 * The length prefix makes a repository's keys one contiguous range whatever bytes its key
 * holds, so `list` is a prefix scan (already in git's bytewise order) and `dropRepo`
 * deletes exactly that range.
 *
 * Writes of one repository (update, setHead, dropRepo) are serialised, so a compare-and-
 * swap reads, checks and writes its one atomic batch with no other writer in between;
 * different repositories commit in parallel. Every write is durable (WAL fsynced) before
 * it completes.
 */
import { Effect, Layer } from "effect"
import {
  type ObjectId,
  objectIdFromBytes,
  objectIdToBytes,
  ZERO_ID,
} from "../domain/git/ObjectId.ts"
import { StorageError } from "../services/ObjectStore.ts"
import { type BlockRefWrite, RefStore, refConflicts } from "../services/RefStore.ts"
import { Rocks } from "./Rocks.ts"

const REF = 0x00
const HEAD = 0x01

/**
 * Block bookkeeping lives outside every repository's range: a repository key's length
 * prefix is at most 0xffff and is followed by a 0x00/0x01 byte, never by 0xff.
 */
const BLOCK_HEIGHT_KEY = Buffer.from([0xff, 0xff, 0xff, 0x01])
const BLOCK_UNDO_KEY = Buffer.from([0xff, 0xff, 0xff, 0x02])

const repoPrefix = (repo: string) =>
  Effect.suspend(() => {
    const bytes = Buffer.from(repo, "utf8")
    if (bytes.length > 0xffff)
      return Effect.fail(
        new StorageError({ operation: "encode repository key", cause: "longer than 65535 bytes" }),
      )
    const prefix = Buffer.allocUnsafe(2 + bytes.length)
    prefix.writeUInt16BE(bytes.length, 0)
    bytes.copy(prefix, 2)
    return Effect.succeed(prefix)
  })

const refKey = (prefix: Buffer, name: string) =>
  Buffer.concat([prefix, Buffer.from([REF]), Buffer.from(name, "utf8")])
const headKey = (prefix: Buffer) => Buffer.concat([prefix, Buffer.from([HEAD])])

const decodeId = (repo: string, name: string, v: Buffer) =>
  v.length === 20
    ? Effect.succeed(objectIdFromBytes(v))
    : Effect.fail(
        new StorageError({
          operation: `read ref ${name} of ${repo}`,
          cause: `stored value is ${v.length} bytes, not an object id`,
        }),
      )

/** One semaphore per repository with writers in flight, forgotten when the last leaves. */
const makeKeyedLock = () => {
  const locks = new Map<string, { sem: Effect.Semaphore; users: number }>()
  return <A, E, R>(key: string, body: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        let entry = locks.get(key)
        if (!entry) {
          entry = { sem: Effect.unsafeMakeSemaphore(1), users: 0 }
          locks.set(key, entry)
        }
        entry.users++
        return entry
      }),
      (entry) => entry.sem.withPermits(1)(body),
      (entry) =>
        Effect.sync(() => {
          if (--entry.users === 0) locks.delete(key)
        }),
    )
}

export const makeRocksRefStore = Effect.gen(function* () {
  const rocks = yield* Rocks
  const exclusive = makeKeyedLock()

  const get = (repo: string, name: string) =>
    Effect.gen(function* () {
      const v = yield* rocks.get("refs", refKey(yield* repoPrefix(repo), name))
      return v === undefined ? undefined : yield* decodeId(repo, name, v)
    })

  const keyOf = (w: BlockRefWrite) =>
    Effect.map(repoPrefix(w.repo), (prefix) =>
      w.name === undefined ? headKey(prefix) : refKey(prefix, w.name),
    )
  const encodeValue = (w: BlockRefWrite) =>
    w.value === undefined
      ? undefined
      : w.name === undefined
        ? Buffer.from(w.value, "utf8")
        : objectIdToBytes(w.value as ObjectId)
  const decodeValue = (w: BlockRefWrite, v: Buffer | undefined) =>
    v === undefined ? undefined : w.name === undefined ? v.toString("utf8") : objectIdFromBytes(v)
  const blockHeight = Effect.map(rocks.get("refs", BLOCK_HEIGHT_KEY), (v) =>
    v === undefined ? 0 : Number(v.toString("utf8")),
  )
  // Block commits and undos are serialised among themselves (Apply runs one block at a time).
  const blockLock = Effect.unsafeMakeSemaphore(1)

  return RefStore.of({
    blockHeight,
    commitBlock: (height, writes) =>
      blockLock.withPermits(1)(
        Effect.gen(function* () {
          const keys = yield* Effect.forEach(writes, keyOf)
          const before = keys.length > 0 ? yield* rocks.getMany("refs", keys) : []
          const undo = writes.map((w, i) => ({ ...w, value: decodeValue(w, before[i]) }))
          yield* rocks.write(
            "refs",
            [
              ...writes.map((w, i) => ({ key: keys[i]!, value: encodeValue(w) })),
              { key: BLOCK_HEIGHT_KEY, value: Buffer.from(String(height), "utf8") },
              { key: BLOCK_UNDO_KEY, value: Buffer.from(JSON.stringify({ height, undo }), "utf8") },
            ],
            { durable: true },
          )
        }),
      ),
    undoBlock: (height) =>
      blockLock.withPermits(1)(
        Effect.gen(function* () {
          if ((yield* blockHeight) !== height) return
          const raw = yield* rocks.get("refs", BLOCK_UNDO_KEY)
          if (raw === undefined) return
          const record = JSON.parse(raw.toString("utf8")) as {
            height: number
            undo: BlockRefWrite[]
          }
          if (record.height !== height) return
          // Later writes of the same key win, so undo in reverse: the first write's old value
          // is what the key held before the block.
          const ops: Array<{ key: Buffer; value: Buffer | undefined }> = []
          for (const w of [...record.undo].reverse())
            ops.push({ key: yield* keyOf(w), value: encodeValue(w) })
          ops.push({ key: BLOCK_HEIGHT_KEY, value: Buffer.from(String(height - 1), "utf8") })
          ops.push({ key: BLOCK_UNDO_KEY, value: undefined })
          yield* rocks.write("refs", ops, { durable: true })
        }),
      ),
    list: (repo) =>
      Effect.gen(function* () {
        const prefix = Buffer.concat([yield* repoPrefix(repo), Buffer.from([REF])])
        const rows = yield* rocks.scan("refs", prefix)
        return yield* Effect.forEach(rows, (r) => {
          const name = r.key.toString("utf8", prefix.length)
          return Effect.map(decodeId(repo, name, r.value), (id) => ({ name, id }))
        })
      }),
    get,
    update: (repo, updates) =>
      exclusive(
        repo,
        Effect.gen(function* () {
          if (updates.length === 0) return
          const prefix = yield* repoPrefix(repo)
          const values = yield* rocks.getMany(
            "refs",
            updates.map((u) => refKey(prefix, u.name)),
          )
          const current = new Map<string, ObjectId | undefined>()
          for (const [i, u] of updates.entries()) {
            const v = values[i]
            current.set(u.name, v === undefined ? undefined : yield* decodeId(repo, u.name, v))
          }
          const conflict = refConflicts(repo, (n) => current.get(n), updates)
          if (conflict) return yield* conflict
          yield* rocks.write(
            "refs",
            updates.map((u) => ({
              key: refKey(prefix, u.name),
              value: u.next === ZERO_ID ? undefined : objectIdToBytes(u.next),
            })),
            { durable: true },
          )
        }),
      ),
    getHead: (repo) =>
      Effect.gen(function* () {
        const v = yield* rocks.get("refs", headKey(yield* repoPrefix(repo)))
        return v?.toString("utf8")
      }),
    setHead: (repo, target) =>
      exclusive(
        repo,
        Effect.flatMap(repoPrefix(repo), (prefix) =>
          rocks.write("refs", [{ key: headKey(prefix), value: Buffer.from(target, "utf8") }], {
            durable: true,
          }),
        ),
      ),
    dropRepo: (repo) =>
      exclusive(
        repo,
        Effect.gen(function* () {
          const rows = yield* rocks.scan("refs", yield* repoPrefix(repo))
          yield* rocks.write(
            "refs",
            rows.map((r) => ({ key: r.key, value: undefined })),
            { durable: true },
          )
        }),
      ),
  })
})

export const RefStoreRocks = Layer.effect(RefStore, makeRocksRefStore)
