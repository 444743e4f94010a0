/**
 * One contract, every layer: the storage conformance suites against memory and RocksDB,
 * plus what only a disk can show (data survives closing and reopening).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { makeMemoryObjectStore } from "../../src/layers/ObjectStoreMemory.ts"
import { encodeStored, ObjectStoreRocks, tamperKey } from "../../src/layers/ObjectStoreRocks.ts"
import { RefStoreMemory } from "../../src/layers/RefStoreMemory.ts"
import { RefStoreRocks } from "../../src/layers/RefStoreRocks.ts"
import { Rocks, rocksLayer } from "../../src/layers/Rocks.ts"
import { ObjectStore } from "../../src/services/ObjectStore.ts"
import { RefStore } from "../../src/services/RefStore.ts"
import { objectStoreConformance } from "./ObjectStore.conformance.ts"
import { refStoreConformance } from "./RefStore.conformance.ts"

const dirs: string[] = []
const freshDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "guts-storage-"))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

// Memory: the tamper hook lives on the instance, so each layer carries its own.
const memoryTamper = new WeakMap<object, ReturnType<typeof makeMemoryObjectStore>["tamper"]>()
objectStoreConformance("memory", {
  layer: () =>
    Layer.sync(ObjectStore, () => {
      const m = makeMemoryObjectStore()
      memoryTamper.set(m.store, m.tamper)
      return m.store
    }),
  tamper: (id, replacement) =>
    Effect.flatMap(ObjectStore, (store) =>
      Effect.sync(() => memoryTamper.get(store)!(id, replacement)),
    ),
})

const rocksObjects = () => {
  const rocks = rocksLayer(freshDir())
  return Layer.merge(ObjectStoreRocks.pipe(Layer.provide(rocks)), rocks)
}
objectStoreConformance("rocksdb", {
  layer: rocksObjects as never,
  tamper: (id, replacement) =>
    Effect.flatMap(Rocks, (rocks) =>
      rocks.write([{ key: tamperKey(id), value: encodeStored(replacement) }]),
    ) as never,
})

refStoreConformance("memory", () => RefStoreMemory)
refStoreConformance("rocksdb", () => RefStoreRocks.pipe(Layer.provide(rocksLayer(freshDir()))))

describe("RocksDB storage on disk", () => {
  it("keeps objects, refs and HEAD across closing and reopening the database", async () => {
    const dir = freshDir()
    const layer = () =>
      Layer.merge(ObjectStoreRocks, RefStoreRocks).pipe(Layer.provide(rocksLayer(dir)))
    const id = await Effect.runPromise(
      Effect.scoped(
        Effect.provide(
          Effect.gen(function* () {
            const objects = yield* ObjectStore
            const refs = yield* RefStore
            const id = yield* objects.put("blob", Buffer.from("durable\n"))
            yield* refs.update("o/r", [{ name: "refs/heads/main", next: id }])
            yield* refs.setHead("o/r", "refs/heads/main")
            return id
          }),
          layer(),
        ),
      ),
    )
    const after = await Effect.runPromise(
      Effect.scoped(
        Effect.provide(
          Effect.gen(function* () {
            const objects = yield* ObjectStore
            const refs = yield* RefStore
            return {
              content: Buffer.from((yield* objects.get(id as ObjectId)).content).toString(),
              ref: yield* refs.get("o/r", "refs/heads/main"),
              head: yield* refs.getHead("o/r"),
            }
          }),
          layer(),
        ),
      ),
    )
    expect(after).toEqual({ content: "durable\n", ref: id, head: "refs/heads/main" })
  })

  it("refuses to open a database another node holds, with an error that says so", async () => {
    const dir = freshDir()
    const held = Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(rocksLayer(dir))
          const second = yield* Effect.either(Effect.scoped(Layer.build(rocksLayer(dir))))
          return second
        }),
      ),
    )
    const r = await held
    expect(r._tag).toBe("Left")
    if (r._tag === "Left") expect(String(r.left.message)).toContain("another node")
  })
})
