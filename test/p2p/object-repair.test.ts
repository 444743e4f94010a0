/**
 * Damaged git objects: the stores' scrub finds them (blaming the damaged record, not the
 * deltas built on it), reads list what they meet, repair writes verified copies only, and
 * the repair loop that peers feed counts, asks and repairs. Run against memory and RocksDB.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Context, Effect, Either, Layer, type Scope } from "effect"
import * as prom from "prom-client"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { makeObjectRepair } from "../../src/layers/chain/ObjectRepair.ts"
import { verifyReceived } from "../../src/layers/chain/ObjectSync.ts"
import { makeMemoryObjectStore } from "../../src/layers/ObjectStoreMemory.ts"
import { encodeStored, ObjectStoreRocks, objectKey } from "../../src/layers/ObjectStoreRocks.ts"
import { Rocks, rocksLayer } from "../../src/layers/Rocks.ts"
import { ObjectStore, type StoredObject } from "../../src/services/ObjectStore.ts"
import { appendDelta, gitHash, Tamper } from "../conformance/ObjectStore.conformance.ts"

const whole = (content: string): StoredObject => {
  const bytes = Buffer.from(content)
  return {
    id: gitHash("blob", bytes),
    type: "blob",
    size: bytes.length,
    repr: { kind: "whole", deflated: zlib.deflateSync(bytes) },
  }
}

const deltaOver = (base: string, suffix: string): StoredObject => {
  const content = Buffer.from(base + suffix)
  const delta = appendDelta(Buffer.from(base), Buffer.from(suffix))
  return {
    id: gitHash("blob", content),
    type: "blob",
    size: content.length,
    repr: {
      kind: "delta",
      base: gitHash("blob", Buffer.from(base)),
      deflated: zlib.deflateSync(delta),
      deltaSize: delta.length,
    },
  }
}

const BASE = "a base object, long enough to be worth a delta\n"
const base = whole(BASE)
const tip = deltaOver(BASE, "and what the tip adds\n")
const other = whole("an unrelated object\n")
/** Same id and size as `base`, other bytes: what a bad disk or an attacker leaves. */
const forged: StoredObject = {
  ...base,
  repr: { kind: "whole", deflated: zlib.deflateSync(Buffer.alloc(base.size, "x")) },
}

const memory = () =>
  Layer.effectContext(
    Effect.sync(() => {
      const { store, tamper } = makeMemoryObjectStore()
      return Context.make(ObjectStore, store).pipe(
        Context.add(Tamper, {
          replace: (id, replacement) => Effect.sync(() => tamper(id, replacement)),
          garble: () => Effect.dieMessage("memory holds records, not bytes"),
        }),
      )
    }),
  )

const rocks = () =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "guts-repair-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
      ),
      (dir) =>
        Layer.merge(
          ObjectStoreRocks,
          Layer.effect(
            Tamper,
            Effect.map(Rocks, (r) => ({
              replace: (id: ObjectId, replacement: StoredObject) =>
                r.write("objects", [{ key: objectKey(id), value: encodeStored(replacement) }]),
              garble: (id: ObjectId, bytes: Uint8Array) =>
                r.write("objects", [{ key: objectKey(id), value: Buffer.from(bytes) }]),
            })),
          ),
        ).pipe(Layer.provide(rocksLayer(dir))),
    ),
  )

const layers = [
  ["memory", memory],
  ["rocksdb", rocks],
] as const

const run = <A, E>(
  layer: () => Layer.Layer<ObjectStore | Tamper, unknown>,
  body: Effect.Effect<A, E, ObjectStore | Tamper | Scope.Scope>,
) => Effect.runPromise(Effect.scoped(Effect.provide(body, layer())) as Effect.Effect<A, unknown>)

for (const [name, layer] of layers) {
  describe(`scrub and repair (${name})`, () => {
    it("a scrub of a sound store finds nothing and counts every record", () =>
      run(
        layer,
        Effect.gen(function* () {
          const store = yield* ObjectStore
          yield* store.putBatch([base, tip, other])
          const report = yield* store.scrub
          expect(report.checked).toBe(3)
          expect(report.corrupt).toEqual([])
          expect(yield* store.damaged).toEqual([])
        }),
      ))

    it("blames a record whose bytes no longer hash to its id, not the delta built on it", () =>
      run(
        layer,
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          yield* store.putBatch([base, tip, other])
          yield* tamper.replace(base.id, forged)
          const report = yield* store.scrub
          expect(report.checked).toBe(3)
          expect(report.corrupt.map((c) => c.id)).toEqual([base.id])
          expect(report.corrupt[0]!.reason).toMatch(/hash/)
          expect(yield* store.damaged).toEqual([base.id])
          const read = yield* Effect.either(store.get(tip.id))
          expect(Either.isLeft(read) && read.left._tag).toBe("ObjectCorrupt")
        }),
      ))

    it("lists damage met by an ordinary read, before any scrub", () =>
      run(
        layer,
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          yield* store.putBatch([base, other])
          yield* tamper.replace(base.id, forged)
          expect(yield* store.damaged).toEqual([])
          yield* Effect.either(store.get(base.id))
          expect(yield* store.damaged).toEqual([base.id])
        }),
      ))

    it("flags a record whose recorded size is not its content's, and a delta whose base is gone", () =>
      run(
        layer,
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          const orphan = deltaOver("a base that was never stored\n", "tail\n")
          yield* store.putBatch([base, other])
          yield* tamper.replace(other.id, { ...other, size: other.size + 1 })
          yield* tamper.replace(orphan.id, orphan)
          const report = yield* store.scrub
          expect(report.corrupt.map((c) => c.id).sort()).toEqual([other.id, orphan.id].sort())
          expect(report.corrupt.find((c) => c.id === orphan.id)!.reason).toMatch(/missing/)
        }),
      ))

    it("writes a verified whole copy over the damage: reads and the next scrub are clean", () =>
      run(
        layer,
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          yield* store.putBatch([base, tip])
          yield* tamper.replace(base.id, forged)
          yield* store.scrub
          const written = yield* store.repair([
            { id: base.id, type: "blob", content: Buffer.from(BASE) },
          ])
          expect(written).toEqual([base.id])
          expect(yield* store.damaged).toEqual([])
          expect(Buffer.from((yield* store.get(tip.id)).content).toString()).toBe(
            `${BASE}and what the tip adds\n`,
          )
          expect((yield* store.scrub).corrupt).toEqual([])
        }),
      ))

    it("refuses to repair with content that does not hash to the id", () =>
      run(
        layer,
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          yield* store.putBatch([base])
          yield* tamper.replace(base.id, forged)
          yield* store.scrub
          const written = yield* store.repair([
            { id: base.id, type: "blob", content: Buffer.from("not the original\n") },
          ])
          expect(written).toEqual([])
          expect(yield* store.damaged).toEqual([base.id])
        }),
      ))
  })
}

describe("scrub (rocksdb)", () => {
  it("flags a record that does not even decode", () =>
    run(
      rocks,
      Effect.gen(function* () {
        const store = yield* ObjectStore
        const tamper = yield* Tamper
        yield* store.putBatch([base, other])
        yield* tamper.garble(other.id, Uint8Array.from([99]))
        const report = yield* store.scrub
        expect(report.corrupt.map((c) => c.id)).toEqual([other.id])
        expect(report.checked).toBe(2)
      }),
    ))
})

describe("verifyReceived", () => {
  it("keeps what hashes to its id (deltas over the batch or the store), drops the rest", () =>
    run(
      memory,
      Effect.gen(function* () {
        const store = yield* ObjectStore
        yield* store.putBatch([base])
        const lie: StoredObject = { ...whole("claims another id\n"), id: other.id }
        const { good, bad, wanted } = yield* verifyReceived(
          [tip, lie, other],
          store,
          new Set([tip.id]),
        )
        expect(good.map((o) => o.id)).toEqual([tip.id, other.id])
        expect(bad).toEqual([other.id])
        expect(wanted.map((o) => [o.id, Buffer.from(o.content).toString()])).toEqual([
          [tip.id, `${BASE}and what the tip adds\n`],
        ])
      }),
    ))
})

describe("the repair loop", () => {
  it("counts damage once, asks peers for it, repairs it from a sound copy, and serves only sound objects", () =>
    run(
      memory,
      Effect.gen(function* () {
        const store = yield* ObjectStore
        const tamper = yield* Tamper
        const registry = new prom.Registry()
        const asked: ObjectId[][] = []
        yield* store.putBatch([base, tip, other])
        yield* tamper.replace(base.id, forged)
        const repair = yield* makeObjectRepair({
          objects: store,
          registry,
          ask: (ids) => Effect.sync(() => void asked.push([...ids])),
          firstScrubAfterMs: 0,
          pollMs: 10,
        })
        const value = async (metric: string) =>
          (await registry.getSingleMetric(metric)!.get()).values[0]?.value ?? 0
        while (asked.length === 0) yield* Effect.sleep("10 millis")
        expect(asked[0]).toEqual([base.id])
        expect(yield* Effect.promise(() => value("guts_storage_corrupt_objects_total"))).toBe(1)
        // Serving what the store holds: the damaged object and the delta over it are held back.
        const held = () =>
          Effect.map(store.getStoredMany([base.id, tip.id, other.id]), (xs) =>
            xs.flatMap((x) => (x ? [x] : [])),
          )
        expect((yield* repair.sound(yield* held())).map((o) => o.id)).toEqual([other.id])
        // A peer's copy arrives: a forged one is not taken, the sound one repairs.
        expect(yield* repair.received([forged])).toEqual([])
        expect(yield* store.damaged).toEqual([base.id])
        yield* repair.received([base])
        expect(yield* store.damaged).toEqual([])
        expect(yield* Effect.promise(() => value("guts_storage_repaired_objects_total"))).toBe(1)
        expect((yield* repair.sound(yield* held())).length).toBe(3)
        yield* Effect.sleep("50 millis")
        expect(yield* Effect.promise(() => value("guts_storage_corrupt_objects_total"))).toBe(1)
      }),
    ))
})
