/**
 * The RefStore contract (src/services/RefStore.ts), run against every layer (see
 * storage.test.ts). Each test gets a fresh, empty store from the harness.
 */
import { Effect, Either, type Layer } from "effect"
import { describe, expect, it } from "vitest"
import { type ObjectId, ZERO_ID } from "../../src/domain/git/ObjectId.ts"
import { type RefConflict, RefStore } from "../../src/services/RefStore.ts"

const A = "a".repeat(40) as ObjectId
const B = "b".repeat(40) as ObjectId
const C = "c".repeat(40) as ObjectId

const conflictOf = <A>(r: Either.Either<A, unknown>) => {
  expect(Either.isLeft(r)).toBe(true)
  const e = (r as Either.Left<unknown, A>).left as RefConflict
  expect(e._tag).toBe("RefConflict")
  return e
}

export const refStoreConformance = (name: string, layer: () => Layer.Layer<RefStore, unknown>) => {
  const run = <A, E>(body: Effect.Effect<A, E, RefStore>) =>
    Effect.runPromise(Effect.provide(body, layer()) as Effect.Effect<A, unknown>)

  describe(`RefStore contract: ${name}`, () => {
    it("creates a ref only when it does not exist yet", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          expect(yield* refs.get("o/r", "refs/heads/main")).toBeUndefined()
          yield* refs.update("o/r", [{ name: "refs/heads/main", expected: ZERO_ID, next: A }])
          expect(yield* refs.get("o/r", "refs/heads/main")).toBe(A)
          const again = conflictOf(
            yield* Effect.either(
              refs.update("o/r", [{ name: "refs/heads/main", expected: ZERO_ID, next: B }]),
            ),
          )
          expect(again.repo).toBe("o/r")
          expect(again.conflicts).toEqual([
            { name: "refs/heads/main", expected: ZERO_ID, actual: A },
          ])
          expect(yield* refs.get("o/r", "refs/heads/main")).toBe(A)
        }),
      ))

    it("lists a repository's refs sorted bytewise by name, and nothing of other repositories", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          // UTF-16 order would put the emoji (a surrogate pair) before U+FF21; git's
          // bytewise UTF-8 order puts it after.
          const names = [
            "refs/tags/v1",
            "refs/heads/\u{1F600}",
            "refs/heads/\uFF21",
            "refs/heads/a",
          ]
          yield* refs.update(
            "o/r",
            names.map((name) => ({ name, expected: ZERO_ID, next: A })),
          )
          yield* refs.update("o/r2", [{ name: "refs/heads/other", next: B }])
          expect((yield* refs.list("o/r")).map((r) => r.name)).toEqual([
            "refs/heads/a",
            "refs/heads/\uFF21",
            "refs/heads/\u{1F600}",
            "refs/tags/v1",
          ])
          expect(yield* refs.list("o/r2")).toEqual([{ name: "refs/heads/other", id: B }])
          expect(yield* refs.list("o")).toEqual([])
          expect(yield* refs.list("nobody/nothing")).toEqual([])
        }),
      ))

    it("rejects stale expected values, names every conflicting ref and changes nothing", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [
            { name: "refs/heads/x", expected: ZERO_ID, next: A },
            { name: "refs/heads/y", expected: ZERO_ID, next: A },
          ])
          const before = yield* refs.list("o/r")
          const e = conflictOf(
            yield* Effect.either(
              refs.update("o/r", [
                { name: "refs/heads/x", expected: B, next: C },
                { name: "refs/heads/y", expected: A, next: C },
                { name: "refs/heads/z", expected: A, next: C },
                { name: "refs/heads/w", next: C },
              ]),
            ),
          )
          expect(e.conflicts).toEqual([
            { name: "refs/heads/x", expected: B, actual: A },
            { name: "refs/heads/z", expected: A, actual: undefined },
          ])
          expect(yield* refs.list("o/r")).toEqual(before)
        }),
      ))

    it("updates and deletes a ref given its current value, or unconditionally", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [{ name: "refs/tags/v1", expected: ZERO_ID, next: A }])
          yield* refs.update("o/r", [{ name: "refs/tags/v1", expected: A, next: B }])
          expect(yield* refs.get("o/r", "refs/tags/v1")).toBe(B)
          yield* refs.update("o/r", [{ name: "refs/tags/v1", expected: B, next: ZERO_ID }])
          expect(yield* refs.get("o/r", "refs/tags/v1")).toBeUndefined()
          expect(yield* refs.list("o/r")).toEqual([])
          yield* refs.update("o/r", [{ name: "refs/tags/v2", next: C }])
          yield* refs.update("o/r", [{ name: "refs/tags/v2", next: A }])
          expect(yield* refs.get("o/r", "refs/tags/v2")).toBe(A)
          // Deleting what does not exist, expecting it not to: allowed, and nothing appears.
          yield* refs.update("o/r", [{ name: "refs/tags/v3", expected: ZERO_ID, next: ZERO_ID }])
          expect(yield* refs.list("o/r")).toEqual([{ name: "refs/tags/v2", id: A }])
          // An empty update is a no-op.
          yield* refs.update("o/r", [])
          expect(yield* refs.list("o/r")).toEqual([{ name: "refs/tags/v2", id: A }])
        }),
      ))

    it("applies a multi-ref update as one: creation, move and deletion together", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [
            { name: "refs/heads/move", expected: ZERO_ID, next: A },
            { name: "refs/heads/gone", expected: ZERO_ID, next: A },
          ])
          yield* refs.update("o/r", [
            { name: "refs/heads/new", expected: ZERO_ID, next: C },
            { name: "refs/heads/move", expected: A, next: B },
            { name: "refs/heads/gone", expected: A, next: ZERO_ID },
          ])
          expect(yield* refs.list("o/r")).toEqual([
            { name: "refs/heads/move", id: B },
            { name: "refs/heads/new", id: C },
          ])
        }),
      ))

    it("keeps HEAD as a symbolic ref per repository, apart from the refs", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          expect(yield* refs.getHead("o/r")).toBeUndefined()
          yield* refs.setHead("o/r", "refs/heads/main")
          yield* refs.setHead("o/r2", "refs/heads/trunk")
          expect(yield* refs.getHead("o/r")).toBe("refs/heads/main")
          yield* refs.setHead("o/r", "refs/heads/dev")
          expect(yield* refs.getHead("o/r")).toBe("refs/heads/dev")
          expect(yield* refs.getHead("o/r2")).toBe("refs/heads/trunk")
          // HEAD may name a branch that does not exist (an empty repository) and is no ref.
          expect(yield* refs.list("o/r")).toEqual([])
          expect(yield* refs.get("o/r", "HEAD")).toBeUndefined()
        }),
      ))

    it("drops a repository whole, and only that repository", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          for (const repo of ["o/r", "o/r2", "o/"]) {
            yield* refs.setHead(repo, "refs/heads/main")
            yield* refs.update(repo, [{ name: "refs/heads/main", next: A }])
          }
          yield* refs.dropRepo("o/r")
          expect(yield* refs.list("o/r")).toEqual([])
          expect(yield* refs.getHead("o/r")).toBeUndefined()
          expect(yield* refs.get("o/r", "refs/heads/main")).toBeUndefined()
          for (const repo of ["o/r2", "o/"]) {
            expect(yield* refs.list(repo)).toEqual([{ name: "refs/heads/main", id: A }])
            expect(yield* refs.getHead(repo)).toBe("refs/heads/main")
          }
          // A dropped repository starts again empty.
          yield* refs.update("o/r", [{ name: "refs/heads/main", expected: ZERO_ID, next: B }])
          expect(yield* refs.get("o/r", "refs/heads/main")).toBe(B)
        }),
      ))

    it("lets exactly one of 20 racing compare-and-swap updates win", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          yield* refs.update("o/r", [{ name: "refs/heads/race", expected: ZERO_ID, next: A }])
          const nextOf = (i: number) => (i + 1).toString(16).padStart(40, "0") as ObjectId
          const results = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) =>
              Effect.either(
                Effect.as(
                  refs.update("o/r", [{ name: "refs/heads/race", expected: A, next: nextOf(i) }]),
                  i,
                ),
              ),
            { concurrency: "unbounded" },
          )
          const winners = results.filter(Either.isRight).map((r) => r.right)
          expect(winners).toHaveLength(1)
          const final = nextOf(winners[0]!)
          expect(yield* refs.get("o/r", "refs/heads/race")).toBe(final)
          for (const r of results.filter(Either.isLeft)) {
            expect(conflictOf(r).conflicts).toEqual([
              { name: "refs/heads/race", expected: A, actual: final },
            ])
          }
        }),
      ))

    it("commits a block's writes with its height, and undoes exactly them", () =>
      run(
        Effect.gen(function* () {
          const refs = yield* RefStore
          expect(yield* refs.blockHeight).toBe(0)
          yield* refs.update("o/r", [{ name: "refs/heads/main", expected: ZERO_ID, next: A }])
          yield* refs.setHead("o/r", "refs/heads/main")
          yield* refs.commitBlock(7, [
            { repo: "o/r", name: "refs/heads/main", value: B },
            { repo: "o/r", name: "refs/heads/new", value: C },
            { repo: "o/r", value: "refs/heads/new" },
            { repo: "x/y", name: "refs/tags/t", value: A },
          ])
          expect(yield* refs.blockHeight).toBe(7)
          expect(yield* refs.list("o/r")).toEqual([
            { name: "refs/heads/main", id: B },
            { name: "refs/heads/new", id: C },
          ])
          expect(yield* refs.getHead("o/r")).toBe("refs/heads/new")
          // Undo only for the block that was committed last.
          yield* refs.undoBlock(6)
          expect(yield* refs.blockHeight).toBe(7)
          yield* refs.undoBlock(7)
          expect(yield* refs.blockHeight).toBe(6)
          expect(yield* refs.list("o/r")).toEqual([{ name: "refs/heads/main", id: A }])
          expect(yield* refs.getHead("o/r")).toBe("refs/heads/main")
          expect(yield* refs.list("x/y")).toEqual([])
          // A second undo of the same block changes nothing.
          yield* refs.undoBlock(7)
          expect(yield* refs.list("o/r")).toEqual([{ name: "refs/heads/main", id: A }])
          yield* refs.commitBlock(7, [{ repo: "o/r", name: "refs/heads/main", value: undefined }])
          expect(yield* refs.list("o/r")).toEqual([])
          expect(yield* refs.blockHeight).toBe(7)
        }),
      ))
  })
}
