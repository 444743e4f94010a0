/**
 * The RefStore contract, run against every layer (see storage.test.ts).
 */
import { Effect, Either, type Layer, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import { type ObjectId, ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import { RefStore } from "../../src/services/RefStore.ts"

const A = "a".repeat(40) as ObjectId
const B = "b".repeat(40) as ObjectId
const C = "c".repeat(40) as ObjectId

export const refStoreConformance = (name: string, layer: () => Layer.Layer<RefStore, unknown>) => {
  const run = <A, E>(body: Effect.Effect<A, E, RefStore | Scope.Scope>) =>
    Effect.runPromise(Effect.scoped(Effect.provide(body, layer())) as Effect.Effect<A, unknown>)

  describe(`RefStore contract: ${name}`, () => {
    it("creates a ref only when it does not exist, and lists refs sorted by name", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [{ name: "refs/heads/main", expected: ZERO_ID, next: A }])
          yield* refs.update("o/r", [{ name: "refs/heads/a", expected: ZERO_ID, next: B }])
          const again = yield* Effect.either(
            refs.update("o/r", [{ name: "refs/heads/main", expected: ZERO_ID, next: B }]),
          )
          expect(Either.isLeft(again) && again.left._tag).toBe("RefConflict")
          expect(yield* refs.list("o/r")).toEqual([
            { name: "refs/heads/a", id: B },
            { name: "refs/heads/main", id: A },
          ])
          expect(yield* refs.list("o/other")).toEqual([])
        }),
      ))

    it("rejects a stale expected value, names every conflicting ref and changes nothing", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [
            { name: "refs/heads/x", expected: ZERO_ID, next: A },
            { name: "refs/heads/y", expected: ZERO_ID, next: A },
          ])
          const r = yield* Effect.either(
            refs.update("o/r", [
              { name: "refs/heads/x", expected: B, next: C },
              { name: "refs/heads/y", expected: A, next: C },
              { name: "refs/heads/z", expected: A, next: C },
            ]),
          )
          expect(Either.isLeft(r)).toBe(true)
          if (Either.isLeft(r) && r.left._tag === "RefConflict") {
            expect(r.left.conflicts.map((c) => c.name)).toEqual(["refs/heads/x", "refs/heads/z"])
            expect(r.left.conflicts[0]!.actual).toBe(A)
            expect(r.left.conflicts[1]!.actual).toBeUndefined()
          }
          expect(yield* refs.get("o/r", "refs/heads/y")).toBe(A)
        }),
      ))

    it("updates and deletes with the right expected value", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [{ name: "refs/tags/v1", expected: ZERO_ID, next: A }])
          yield* refs.update("o/r", [{ name: "refs/tags/v1", expected: A, next: B }])
          expect(yield* refs.get("o/r", "refs/tags/v1")).toBe(B)
          yield* refs.update("o/r", [{ name: "refs/tags/v1", expected: B, next: ZERO_ID }])
          expect(yield* refs.get("o/r", "refs/tags/v1")).toBeUndefined()
          // No expectation: unconditional.
          yield* refs.update("o/r", [{ name: "refs/tags/v2", next: C }])
          expect(yield* refs.get("o/r", "refs/tags/v2")).toBe(C)
        }),
      ))

    it("keeps HEAD as a symbolic ref per repository, and drops a repository whole", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          expect(yield* refs.getHead("o/r")).toBeUndefined()
          yield* refs.setHead("o/r", "refs/heads/main")
          yield* refs.update("o/r", [{ name: "refs/heads/main", next: A }])
          yield* refs.update("o/r2", [{ name: "refs/heads/main", next: A }])
          expect(yield* refs.getHead("o/r")).toBe("refs/heads/main")
          yield* refs.dropRepo("o/r")
          expect(yield* refs.list("o/r")).toEqual([])
          expect(yield* refs.getHead("o/r")).toBeUndefined()
          expect(yield* refs.list("o/r2")).toHaveLength(1)
        }),
      ))

    it("lets exactly one of 20 racing compare-and-swap updates win", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [{ name: "refs/heads/race", expected: ZERO_ID, next: A }])
          const results = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) =>
              Effect.either(
                refs.update("o/r", [
                  {
                    name: "refs/heads/race",
                    expected: A,
                    next: i.toString(16).padStart(40, "0") as ObjectId,
                  },
                ]),
              ),
            { concurrency: "unbounded" },
          )
          expect(results.filter(Either.isRight)).toHaveLength(1)
        }),
      ))
  })
}
