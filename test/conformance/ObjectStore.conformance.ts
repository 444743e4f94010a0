/**
 * The ObjectStore contract (src/services/ObjectStore.ts), run against every layer (see
 * storage.test.ts). Each test gets a fresh, empty store from the harness. Objects and git
 * deltas are built here from first principles (SHA-1 of `<type> <size>\0<content>`, a
 * copy+insert delta) so the suite does not lean on the code it checks.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { Context, Effect, Either, type Layer } from "effect"
import { describe, expect, it } from "vitest"
import type { ObjectId, ObjectType } from "../../src/domain/git/ObjectId.ts"
import { ObjectStore, type StoredObject } from "../../src/services/ObjectStore.ts"
import { scopedSpool } from "../../src/services/git/PackSpool.ts"

/** Damages a store behind its back, as a failing disk or an attacker with file access would. */
export interface TamperShape {
  /** Replaces the record of `id` with a well-formed record of other content. */
  readonly replace: (id: ObjectId, replacement: StoredObject) => Effect.Effect<void, unknown>
  /** Replaces the record of `id` with `bytes` (the layer's raw storage, where it has one). */
  readonly garble: (id: ObjectId, bytes: Uint8Array) => Effect.Effect<void, unknown>
}
export class Tamper extends Context.Tag("test/ObjectStoreTamper")<Tamper, TamperShape>() {}

export interface ObjectStoreHarness {
  /** A fresh, empty store and its tamper hook; what backs them is released with the layer. */
  readonly layer: () => Layer.Layer<ObjectStore | Tamper, unknown>
}

export const gitHash = (type: ObjectType, content: Uint8Array) =>
  createHash("sha1").update(`${type} ${content.length}\0`).update(content).digest("hex") as ObjectId

const varint = (n: number) => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return out
}

/** A git delta (gitformat-pack) that copies all of `base` and then inserts `suffix`. */
export const appendDelta = (base: Uint8Array, suffix: Uint8Array): Buffer => {
  const ops: number[] = []
  if (base.length > 0) {
    // Copy from offset 0 (no offset bytes), 3 size bytes (a base below 16 MiB).
    const n = base.length
    ops.push(0x80 | 0x10 | 0x20 | 0x40, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff)
  }
  for (let i = 0; i < suffix.length; i += 127) {
    const part = suffix.subarray(i, i + 127)
    ops.push(part.length, ...part)
  }
  return Buffer.from([...varint(base.length), ...varint(base.length + suffix.length), ...ops])
}

const whole = (type: ObjectType, content: Buffer): StoredObject => ({
  id: gitHash(type, content),
  type,
  size: content.length,
  repr: { kind: "whole", deflated: zlib.deflateSync(content) },
})

const deltaOver = (base: { id: ObjectId; content: Buffer }, suffix: string) => {
  const content = Buffer.concat([base.content, Buffer.from(suffix)])
  const delta = appendDelta(base.content, Buffer.from(suffix))
  const stored: StoredObject = {
    id: gitHash("blob", content),
    type: "blob",
    size: content.length,
    repr: {
      kind: "delta",
      base: base.id,
      deflated: zlib.deflateSync(delta),
      deltaSize: delta.length,
    },
  }
  return { id: stored.id, content, stored }
}

const failureTag = <A, E extends { _tag: string }>(r: Either.Either<A, E>) =>
  Either.isLeft(r) ? r.left._tag : "success"

export const objectStoreConformance = (name: string, harness: ObjectStoreHarness) => {
  const run = <A, E>(body: Effect.Effect<A, E, ObjectStore | Tamper>) =>
    Effect.runPromise(Effect.provide(body, harness.layer()) as Effect.Effect<A, unknown>)

  describe(`ObjectStore contract: ${name}`, () => {
    it("stores an object under git's id for it and gives it back whole", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const id = yield* store.put("blob", Buffer.from("hello\n"))
          expect(id).toBe("ce013625030ba8dba906f756967f9e9ca394464a") // git hash-object
          const o = yield* store.get(id)
          expect(o).toMatchObject({ id, type: "blob" })
          expect(Buffer.from(o.content).toString()).toBe("hello\n")
          expect(yield* store.has(id)).toBe(true)
          const stored = yield* store.getStored(id)
          expect(stored).toMatchObject({ id, type: "blob", size: 6, repr: { kind: "whole" } })
          expect(zlib.inflateSync(stored.repr.deflated).toString()).toBe("hello\n")
        }),
      ))

    it("keeps the type of every object kind, the empty object included", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const kinds: ReadonlyArray<[ObjectType, string]> = [
            ["commit", "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nempty\n"],
            ["tree", ""],
            ["blob", ""],
            ["tag", "object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype tree\ntag t\n"],
          ]
          for (const [type, text] of kinds) {
            const id = yield* store.put(type, Buffer.from(text))
            expect(id).toBe(gitHash(type, Buffer.from(text)))
            const o = yield* store.get(id)
            expect(o.type).toBe(type)
            expect(Buffer.from(o.content).toString()).toBe(text)
          }
          // The empty tree's id is one every git user has seen.
          expect(yield* store.has("4b825dc642cb6eb9a060e54bf8d69288fbee4904" as ObjectId)).toBe(
            true,
          )
        }),
      ))

    it("treats a second write of an id as a no-op that keeps the first representation", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const a = yield* store.put("blob", Buffer.from("same"))
          const b = yield* store.put("blob", Buffer.from("same"))
          expect(b).toBe(a)
          const base = whole("blob", Buffer.from("sa"))
          yield* store.putBatch([base])
          const sameAsDelta = deltaOver({ id: base.id, content: Buffer.from("sa") }, "me")
          expect(sameAsDelta.id).toBe(a)
          yield* store.putBatch([sameAsDelta.stored])
          expect((yield* store.getStored(a)).repr.kind).toBe("whole")
          expect(Buffer.from((yield* store.get(a)).content).toString()).toBe("same")
        }),
      ))

    it("never lets a later write close a delta cycle", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const b = whole("blob", Buffer.from("b"))
          const a = deltaOver({ id: b.id, content: Buffer.from("b") }, "a")
          yield* store.putBatch([b, a.stored])
          // b again, this time as a delta over a: storing it would make a and b each
          // other's base.
          const bOverA: StoredObject = {
            ...b,
            repr: {
              kind: "delta",
              base: a.id,
              deflated: zlib.deflateSync(Buffer.from([2, 1, 1, 0x62])),
              deltaSize: 4,
            },
          }
          yield* store.putBatch([bOverA])
          expect(Buffer.from((yield* store.get(a.id)).content).toString()).toBe("ba")
          expect(Buffer.from((yield* store.get(b.id)).content).toString()).toBe("b")
        }),
      ))

    it("reports missing ids in one call, and ObjectNotFound for an absent object", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const present = yield* store.put("blob", Buffer.from("x"))
          const absent = "0123456789012345678901234567890123456789" as ObjectId
          expect(yield* store.missing([present, absent, absent])).toEqual([absent, absent])
          expect(yield* store.missing([])).toEqual([])
          expect(yield* store.has(absent)).toBe(false)
          const r = yield* Effect.either(store.get(absent))
          expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "ObjectNotFound", id: absent })
          expect(failureTag(yield* Effect.either(store.getStored(absent)))).toBe("ObjectNotFound")
        }),
      ))

    it("stores a batch whole, and reads many objects in order with gaps for absent ones", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const batch = Array.from({ length: 50 }, (_, i) => whole("blob", Buffer.from(`o${i}`)))
          yield* store.putBatch(batch)
          expect(yield* store.missing(batch.map((o) => o.id))).toEqual([])
          const absent = "fedcba9876543210fedcba9876543210fedcba98" as ObjectId
          const ids = [batch[7]!.id, absent, batch[3]!.id]
          const objects = yield* store.getMany(ids)
          expect(objects.map((o) => o && Buffer.from(o.content).toString())).toEqual([
            "o7",
            undefined,
            "o3",
          ])
          const stored = yield* store.getStoredMany(ids)
          expect(stored.map((s) => s?.id)).toEqual([batch[7]!.id, undefined, batch[3]!.id])
        }),
      ))

    it("stores representations read from a pack spool, readable after the spool is closed", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          // A push's objects come with their deflated bytes in a spool file, read on each
          // access; the spool closes when the push ends, so the store must keep the bytes.
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guts-spool-conformance-"))
          const { spool, ids } = yield* Effect.scoped(
            Effect.gen(function* () {
              const spool = (yield* scopedSpool(dir))!
              const base = whole("blob", Buffer.from("spooled base\n"))
              const delta = deltaOver(
                { id: base.id, content: Buffer.from("spooled base\n") },
                "and more\n",
              )
              const spooled = (o: StoredObject): StoredObject => {
                const bytes = o.repr.deflated
                const at = spool.append(bytes)
                const read = () => spool.read(at, bytes.length)
                return {
                  ...o,
                  repr:
                    o.repr.kind === "whole"
                      ? {
                          kind: "whole",
                          deflatedLength: bytes.length,
                          get deflated() {
                            return read()
                          },
                        }
                      : {
                          kind: "delta",
                          base: o.repr.base,
                          deltaSize: o.repr.deltaSize,
                          deflatedLength: bytes.length,
                          get deflated() {
                            return read()
                          },
                        },
                }
              }
              yield* store.putBatch([spooled(base), spooled(delta.stored)])
              return { spool, ids: [base.id, delta.id] }
            }),
          )
          fs.rmSync(dir, { recursive: true, force: true })
          expect(() => spool.read(0, 1)).toThrow(/after the push that owned it ended/)
          const got = yield* store.getMany(ids)
          expect(got.map((o) => o && Buffer.from(o.content).toString())).toEqual([
            "spooled base\n",
            "spooled base\nand more\n",
          ])
        }),
      ))

    it("resolves a delta chain 300 deep through its bases and keeps every delta as stored", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const baseContent = Buffer.from("base line\n")
          const baseId = yield* store.put("blob", baseContent)
          let prev = { id: baseId, content: baseContent }
          const batch: StoredObject[] = []
          for (let i = 0; i < 300; i++) {
            const d = deltaOver(prev, `line ${i}\n`)
            batch.push(d.stored)
            prev = { id: d.id, content: d.content }
          }
          yield* store.putBatch(batch)
          const last = yield* store.get(prev.id)
          expect(last.type).toBe("blob")
          expect(Buffer.from(last.content).equals(prev.content)).toBe(true)
          const stored = yield* store.getStored(prev.id)
          expect(stored).toEqual(batch[299])
          const [middle] = yield* store.getMany([batch[150]!.id])
          expect(middle?.content.length).toBe(batch[150]!.size)
        }),
      ))

    it("fails with ObjectCorrupt when stored bytes no longer hash to their id", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          const id = yield* store.put("blob", Buffer.from("original"))
          yield* tamper.replace(id, { ...whole("blob", Buffer.from("tampered")), id })
          const r = yield* Effect.either(store.get(id))
          expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "ObjectCorrupt", id })
          expect(failureTag(yield* Effect.either(store.getMany([id])))).toBe("ObjectCorrupt")
        }),
      ))

    it("fails with ObjectCorrupt when the stored bytes are garbage", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          const id = yield* store.put("blob", Buffer.from("soon garbage"))
          yield* tamper.garble(id, Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]))
          const r = yield* Effect.either(store.get(id))
          expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "ObjectCorrupt", id })
        }),
      ))

    it("fails a delta whose base is corrupt, naming the base", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const tamper = yield* Tamper
          const base = whole("blob", Buffer.from("base"))
          const d = deltaOver({ id: base.id, content: Buffer.from("base") }, "+delta")
          yield* store.putBatch([base, d.stored])
          yield* tamper.replace(base.id, { ...whole("blob", Buffer.from("BASE")), id: base.id })
          const r = yield* Effect.either(store.get(d.id))
          expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "ObjectCorrupt", id: base.id })
        }),
      ))

    it("fails a delta that does not apply to its base", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const base = whole("blob", Buffer.from("base"))
          // Claims a 9-byte base: the base is 4 bytes.
          const delta = Buffer.from([9, 1, 1, 0x78])
          const bad: StoredObject = {
            id: gitHash("blob", Buffer.from("x")),
            type: "blob",
            size: 1,
            repr: { kind: "delta", base: base.id, deflated: zlib.deflateSync(delta), deltaSize: 4 },
          }
          yield* store.putBatch([base, bad])
          const r = yield* Effect.either(store.get(bad.id))
          expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "ObjectCorrupt", id: bad.id })
        }),
      ))

    it("keeps derived data by key, replaces it, and deletes it; objects are untouched", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const blob = yield* store.put("blob", Buffer.from("beside derived data\n"))
          expect(yield* store.getDerived("clone-list/a")).toBeUndefined()
          yield* store.putDerived("clone-list/a", Buffer.from([1, 2, 3]))
          yield* store.putDerived("clone-list/b", Buffer.from([4]))
          expect([...((yield* store.getDerived("clone-list/a")) ?? [])]).toEqual([1, 2, 3])
          yield* store.putDerived("clone-list/a", Buffer.from([9]))
          expect([...((yield* store.getDerived("clone-list/a")) ?? [])]).toEqual([9])
          yield* store.putDerived("clone-list/a", undefined)
          expect(yield* store.getDerived("clone-list/a")).toBeUndefined()
          expect([...((yield* store.getDerived("clone-list/b")) ?? [])]).toEqual([4])
          expect(yield* store.has(blob)).toBe(true)
          // Derived keys are not object ids: a scrub checks objects only.
          const report = yield* store.scrub
          expect(report.corrupt).toEqual([])
        }),
      ))

    it("reports the free space of its volume", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          expect(yield* store.availableBytes).toBeGreaterThan(0)
        }),
      ))
  })
}
