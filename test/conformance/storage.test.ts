/**
 * One contract, every layer: the storage conformance suites against memory and against
 * RocksDB (each test in a fresh temporary directory, removed when its layer closes), plus
 * what only a disk can show: data survives closing and reopening, a directory is held by
 * one process at a time, and a directory of another layout is refused.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Context, Effect, Either, Layer } from "effect"
import RocksDB from "rocksdb-native"
import { describe, expect, it } from "vitest"
import { ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import { makeMemoryObjectStore } from "../../src/layers/ObjectStoreMemory.ts"
import {
  encodeStored,
  ObjectStoreRocks,
  objectKey,
  presenceKey,
} from "../../src/layers/ObjectStoreRocks.ts"
import { RefStoreMemory } from "../../src/layers/RefStoreMemory.ts"
import { RefStoreRocks } from "../../src/layers/RefStoreRocks.ts"
import { Rocks, rocksLayer } from "../../src/layers/Rocks.ts"
import { storageLayer } from "../../src/layers/Storage.ts"
import { ObjectStore, type StoredObject } from "../../src/services/ObjectStore.ts"
import { RefStore } from "../../src/services/RefStore.ts"
import { appendDelta, gitHash, objectStoreConformance, Tamper } from "./ObjectStore.conformance.ts"
import { refStoreConformance } from "./RefStore.conformance.ts"

/** A layer built inside a fresh temporary directory, deleted after the layer is released. */
const inTempDir = <A, E, R>(build: (dir: string) => Layer.Layer<A, E, R>) =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "guts-storage-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
      ),
      build,
    ),
  )

objectStoreConformance("memory", {
  layer: () =>
    Layer.effectContext(
      Effect.sync(() => {
        const { store, tamper } = makeMemoryObjectStore()
        return Context.make(ObjectStore, store).pipe(
          Context.add(Tamper, {
            replace: (id, replacement) => Effect.sync(() => tamper(id, replacement)),
            // Memory holds records, not bytes: garbage is where the deflated bytes go.
            garble: (id, bytes) =>
              Effect.sync(() =>
                tamper(id, { id, type: "blob", size: 0, repr: { kind: "whole", deflated: bytes } }),
              ),
          }),
        )
      }),
    ),
})

const rocksTamper = Layer.effect(
  Tamper,
  Effect.map(Rocks, (rocks) => ({
    replace: (id, replacement) =>
      rocks.write("objects", [{ key: objectKey(id), value: encodeStored(replacement) }]),
    garble: (id, bytes) =>
      rocks.write("objects", [{ key: objectKey(id), value: Buffer.from(bytes) }]),
  })),
)

objectStoreConformance("rocksdb", {
  layer: () =>
    inTempDir((dir) =>
      Layer.merge(ObjectStoreRocks, rocksTamper).pipe(Layer.provide(rocksLayer(dir))),
    ),
})

refStoreConformance("memory", () => RefStoreMemory)
refStoreConformance("rocksdb", () =>
  inTempDir((dir) => RefStoreRocks.pipe(Layer.provide(rocksLayer(dir)))),
)

const withDir = <A, E>(
  dir: string,
  body: Effect.Effect<A, E, ObjectStore | RefStore>,
): Promise<A> =>
  Effect.runPromise(
    Effect.provide(body, storageLayer({ kind: "rocksdb", dataDir: dir })) as Effect.Effect<
      A,
      unknown
    >,
  )

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "guts-storage-"))

describe("RocksDB storage on disk", () => {
  it("keeps objects, deltas, refs and HEAD across closing and reopening the database", async () => {
    const dir = tempDir()
    try {
      const base = Buffer.from("durable\n")
      const tip = Buffer.from("durable\nand delta\n")
      const delta = appendDelta(base, Buffer.from("and delta\n"))
      const tipId = gitHash("blob", tip)
      await withDir(
        dir,
        Effect.gen(function* () {
          const objects = yield* ObjectStore
          const refs = yield* RefStore
          const baseId = yield* objects.put("blob", base)
          yield* objects.putBatch([
            {
              id: tipId,
              type: "blob",
              size: tip.length,
              repr: {
                kind: "delta",
                base: baseId,
                deflated: zlib.deflateSync(delta),
                deltaSize: delta.length,
              },
            },
          ])
          yield* refs.update("o/r", [{ name: "refs/heads/main", expected: ZERO_ID, next: tipId }])
          yield* refs.setHead("o/r", "refs/heads/main")
        }),
      )
      const after = await withDir(
        dir,
        Effect.gen(function* () {
          const objects = yield* ObjectStore
          const refs = yield* RefStore
          return {
            content: Buffer.from((yield* objects.get(tipId)).content).toString(),
            repr: (yield* objects.getStored(tipId)).repr.kind,
            refs: yield* refs.list("o/r"),
            head: yield* refs.getHead("o/r"),
          }
        }),
      )
      expect(after).toEqual({
        content: "durable\nand delta\n",
        repr: "delta",
        refs: [{ name: "refs/heads/main", id: tipId }],
        head: "refs/heads/main",
      })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("opens a directory of the layout before presence markers, finds its records, never replaces them, and counts each once", async () => {
    const dir = tempDir()
    try {
      const content = Buffer.from("written by an older node\n")
      const id = gitHash("blob", content)
      const old: StoredObject = {
        id,
        type: "blob",
        size: content.length,
        repr: { kind: "whole", deflated: zlib.deflateSync(content) },
      }
      const fresh = Buffer.from("written now\n")
      // A directory as a node of layout 2 left it: its layout key, and a record alone.
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const rocks = Context.get(yield* Layer.build(rocksLayer(dir)), Rocks)
            expect(rocks.markersComplete).toBe(true) // a fresh directory is of layout 3
            yield* rocks.write("meta", [
              { key: Buffer.from("layout"), value: Buffer.from("guts-rocks-2") },
            ])
            yield* rocks.write("objects", [{ key: objectKey(id), value: encodeStored(old) }])
          }),
        ),
      )
      const result = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const ctx = yield* Layer.build(
              Layer.merge(ObjectStoreRocks, rocksTamper).pipe(Layer.provideMerge(rocksLayer(dir))),
            )
            const objects = Context.get(ctx, ObjectStore)
            const rocks = Context.get(ctx, Rocks)
            const markersComplete = rocks.markersComplete
            const missingBefore = yield* objects.missing([id])
            // A second representation (a delta over something else) must not replace it.
            const freshId = yield* objects.put("blob", fresh)
            const other = appendDelta(fresh, Buffer.from("x"))
            yield* objects.putBatch([
              {
                id,
                type: "blob",
                size: content.length,
                repr: {
                  kind: "delta",
                  base: freshId,
                  deflated: zlib.deflateSync(other),
                  deltaSize: other.length,
                },
              },
            ])
            const kept = (yield* objects.getStored(id)).repr.kind
            const markers = yield* rocks.getMany("objects", [presenceKey(id), presenceKey(freshId)])
            const scrub = yield* objects.scrub
            return {
              markersComplete,
              missingBefore,
              kept,
              markers: markers.map((m) => m !== undefined),
              scrub,
            }
          }),
        ),
      )
      expect(result.markersComplete).toBe(false)
      expect(result.missingBefore).toEqual([])
      expect(result.kept).toBe("whole")
      // New writes carry a marker; the old record has none (and needs none).
      expect(result.markers).toEqual([false, true])
      // Two records, two checked: markers are not objects.
      expect(result.scrub.checked).toBe(2)
      expect(result.scrub.corrupt).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses to open a database another node holds, with an error that says so", async () => {
    const dir = tempDir()
    try {
      const second = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            yield* Layer.build(rocksLayer(dir))
            return yield* Effect.either(Effect.scoped(Layer.build(rocksLayer(dir))))
          }),
        ),
      )
      expect(Either.isLeft(second) && second.left.message).toContain("another node")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses a data directory written with another key layout", async () => {
    const dir = tempDir()
    try {
      // What a node from before column families left: keys in the default column family.
      const legacy = new RocksDB(path.join(dir, "db"))
      await legacy.ready()
      const w = legacy.write({ capacity: 1 })
      w.tryPut(Buffer.from("o-some-object"), Buffer.from("x"))
      await w.flush()
      w.destroy()
      await legacy.close()
      const r = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(rocksLayer(dir)))))
      expect(Either.isLeft(r) && r.left.message).toContain("another version of Guts")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("removes each test's temporary directory when its store closes", async () => {
    let seen: string | undefined
    await Effect.runPromise(
      Effect.provide(
        Effect.flatMap(Rocks, (rocks) => Effect.sync(() => void (seen = rocks.dir))),
        inTempDir((dir) => rocksLayer(dir)),
      ),
    )
    expect(seen).toBeDefined()
    expect(fs.existsSync(path.dirname(seen!))).toBe(false)
  })
})
