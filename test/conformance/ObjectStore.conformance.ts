/**
 * The ObjectStore contract, run against every layer (see storage.test.ts).
 */
import * as zlib from "node:zlib"
import { Effect, Either, type Layer, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { hashOf } from "../../src/layers/ObjectResolver.ts"
import { ObjectStore, type StoredObject } from "../../src/services/ObjectStore.ts"

export interface ObjectStoreHarness {
  /** A fresh, empty store (and its scope). */
  readonly layer: () => Layer.Layer<ObjectStore, unknown>
  /** Replaces an object's stored bytes behind the store's back. */
  readonly tamper: (
    id: ObjectId,
    replacement: StoredObject,
  ) => Effect.Effect<void, unknown, ObjectStore | Scope.Scope>
}

/** A git delta that copies all of `base` and appends `suffix`. */
const appendDelta = (baseLength: number, suffix: Buffer) => {
  const varint = (n: number) => {
    const out: number[] = []
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80)
      n >>>= 7
    }
    out.push(n)
    return out
  }
  const ops: number[] = []
  // copy: offset 0, size baseLength (2 size bytes)
  if (baseLength > 0) ops.push(0x80 | 0x10 | 0x20, baseLength & 0xff, (baseLength >> 8) & 0xff)
  for (let i = 0; i < suffix.length; i += 127) {
    const part = suffix.subarray(i, i + 127)
    ops.push(part.length, ...part)
  }
  return Buffer.from([...varint(baseLength), ...varint(baseLength + suffix.length), ...ops])
}

const deltaObject = (base: { id: ObjectId; content: Buffer }, suffix: string) => {
  const content = Buffer.concat([base.content, Buffer.from(suffix)])
  const delta = appendDelta(base.content.length, Buffer.from(suffix))
  const id = hashOf("blob", content)
  const stored: StoredObject = {
    id,
    type: "blob",
    size: content.length,
    repr: {
      kind: "delta",
      base: base.id,
      deflated: zlib.deflateSync(delta),
      deltaSize: delta.length,
    },
  }
  return { id, content, stored }
}

export const objectStoreConformance = (name: string, harness: ObjectStoreHarness) => {
  const run = <A, E>(body: Effect.Effect<A, E, ObjectStore | Scope.Scope>) =>
    Effect.runPromise(
      Effect.scoped(Effect.provide(body, harness.layer())) as Effect.Effect<A, unknown>,
    )

  describe(`ObjectStore contract: ${name}`, () => {
    it("stores an object under the SHA-1 of its canonical encoding and returns it whole", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const id = yield* store.put("blob", Buffer.from("hello\n"))
          expect(id).toBe("ce013625030ba8dba906f756967f9e9ca394464a") // git hash-object
          const o = yield* store.get(id)
          expect(o.type).toBe("blob")
          expect(Buffer.from(o.content).toString()).toBe("hello\n")
          expect(yield* store.has(id)).toBe(true)
          const stored = yield* store.getStored(id)
          expect(stored.size).toBe(6)
          expect(stored.repr.kind).toBe("whole")
        }),
      ))

    it("writing the same object twice is a no-op", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const a = yield* store.put("blob", Buffer.from("same"))
          const b = yield* store.put("blob", Buffer.from("same"))
          expect(a).toBe(b)
          expect((yield* store.get(a)).content.length).toBe(4)
        }),
      ))

    it("reports missing ids in one call and ObjectNotFound for a get", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const present = yield* store.put("blob", Buffer.from("x"))
          const absent = "0123456789012345678901234567890123456789" as ObjectId
          expect(yield* store.missing([present, absent])).toEqual([absent])
          expect(yield* store.has(absent)).toBe(false)
          const r = yield* Effect.either(store.get(absent))
          expect(Either.isLeft(r) && r.left._tag).toBe("ObjectNotFound")
        }),
      ))

    it("resolves a delta chain 200 deep without growing the stack, and keeps the delta form", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const baseContent = Buffer.from("base line\n")
          const baseId = yield* store.put("blob", baseContent)
          let prev = { id: baseId, content: baseContent }
          const batch: StoredObject[] = []
          for (let i = 0; i < 200; i++) {
            const d = deltaObject(prev, `line ${i}\n`)
            batch.push(d.stored)
            prev = { id: d.id, content: d.content }
          }
          yield* store.putBatch(batch)
          const last = yield* store.get(prev.id)
          expect(Buffer.from(last.content).equals(prev.content)).toBe(true)
          const stored = yield* store.getStored(prev.id)
          expect(stored.repr.kind).toBe("delta")
          expect(stored.repr.kind === "delta" && stored.repr.deltaSize).toBeGreaterThan(0)
        }),
      ))

    it("detects an object whose stored bytes no longer hash to its id", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          const id = yield* store.put("blob", Buffer.from("original"))
          yield* harness.tamper(id, {
            id,
            type: "blob",
            size: 8,
            repr: { kind: "whole", deflated: zlib.deflateSync(Buffer.from("tampered")) },
          })
          const r = yield* Effect.either(store.get(id))
          expect(Either.isLeft(r) && r.left._tag).toBe("ObjectCorrupt")
        }),
      ))

    it("reports free space of its volume", () =>
      run(
        Effect.gen(function* () {
          const store = yield* ObjectStore
          expect(yield* store.availableBytes).toBeGreaterThan(0)
        }),
      ))
  })
}
