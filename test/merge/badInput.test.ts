/**
 * Bad input to merge bases, merges and diffs: missing objects, objects of the wrong type,
 * malformed objects and unrelated histories fail with typed errors naming the object; a
 * loader's own failure comes through unchanged.
 */
import { Data, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  isAncestor,
  MalformedObject,
  MissingObject,
  mergeBase,
  mergeBases,
  type ObjectLoader,
  WrongObjectType,
} from "../../src/domain/git/MergeBase.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { mergeCommits, mergeTrees, UnrelatedHistories } from "../../src/domain/git/TreeMerge.ts"
import { diffCommits, diffTrees, formatPatch } from "../../src/domain/git/UnifiedDiff.ts"
import { MemoryObjects } from "./mergeFixture.ts"

const NOWHERE = "0123456789abcdef0123456789abcdef01234567" as ObjectId

const failure = <A, E>(effect: Effect.Effect<A, E>): E => {
  const r = Effect.runSync(Effect.either(effect))
  if (Either.isRight(r)) throw new Error(`expected a failure, got ${JSON.stringify(r.right)}`)
  return r.left
}

/** A small history: root ← a, root ← b, plus a blob, a tree and a broken commit. */
const world = () => {
  const m = new MemoryObjects()
  const tree = m.files({ "f.txt": "base\n" })
  const root = m.commit(tree, [], 1000)
  const a = m.commit(m.files({ "f.txt": "a\n" }), [root], 1001)
  const b = m.commit(m.files({ "f.txt": "b\n" }), [root], 1002)
  const blob = m.blob("just a blob\n")
  const broken = m.put("commit", "tree not-an-id\n\nmessage\n")
  return { m, tree, root, a, b, blob, broken }
}

describe("typed errors on bad input", () => {
  it("names a missing commit", () => {
    const { m, a } = world()
    expect(failure(mergeBases(m.load, a, NOWHERE))).toEqual(
      new MissingObject({ id: NOWHERE, expected: "commit" }),
    )
    expect(failure(isAncestor(m.load, NOWHERE, a))).toBeInstanceOf(MissingObject)
  })

  it("names a missing parent found during the walk", () => {
    const { m, tree, a } = world()
    const orphan = m.commit(tree, [NOWHERE], 1003)
    const e = failure(mergeBase(m.load, orphan, a))
    expect(e).toMatchObject({ _tag: "MissingObject", id: NOWHERE, expected: "commit" })
  })

  it("rejects a blob or a tree where a commit is expected", () => {
    const { m, a, blob, tree } = world()
    expect(failure(mergeBases(m.load, blob, a))).toEqual(
      new WrongObjectType({ id: blob, expected: "commit", actual: "blob" }),
    )
    expect(failure(mergeCommits(m.load, a, tree))).toEqual(
      new WrongObjectType({ id: tree, expected: "commit", actual: "tree" }),
    )
    expect(failure(formatPatch(m.load, [blob]))).toBeInstanceOf(WrongObjectType)
  })

  it("reports a malformed commit with the reason", () => {
    const { m, a, broken } = world()
    const e = failure(mergeBases(m.load, broken, a))
    expect(e).toBeInstanceOf(MalformedObject)
    expect(e).toMatchObject({ id: broken, type: "commit" })
    expect((e as MalformedObject).reason).toMatch(/tree/)
  })

  it("names a missing tree or blob met while merging", () => {
    const { m, root } = world()
    const lost = m.commit(NOWHERE, [root], 1004)
    expect(failure(mergeCommits(m.load, lost, root))).toBeInstanceOf(MissingObject)
    // Both sides changed a file whose blob is absent: the content merge cannot read it.
    const base = m.files({ "f.txt": "base\n" })
    const ours = m.tree({ "f.txt": ["100644", NOWHERE] })
    const theirs = m.files({ "f.txt": "theirs\n" })
    expect(failure(mergeTrees(m.load, base, ours, theirs))).toEqual(
      new MissingObject({ id: NOWHERE, expected: "blob" }),
    )
  })

  it("reports a malformed tree, and a blob given as a tree", () => {
    const { m, tree, blob } = world()
    const bad = m.put("tree", Buffer.from("100644 no-terminator"))
    expect(failure(diffTrees(m.load, tree, bad))).toMatchObject({
      _tag: "MalformedObject",
      id: bad,
      type: "tree",
    })
    expect(failure(mergeTrees(m.load, tree, blob, tree))).toEqual(
      new WrongObjectType({ id: blob, expected: "tree", actual: "blob" }),
    )
  })

  it("names a missing blob when diffing", () => {
    const { m, tree } = world()
    const dangling = m.tree({ "f.txt": ["100644", NOWHERE] })
    expect(failure(diffTrees(m.load, tree, dangling))).toEqual(
      new MissingObject({ id: NOWHERE, expected: "blob" }),
    )
  })

  it("refuses to merge histories without a common ancestor", () => {
    const { m, a } = world()
    const stranger = m.commit(m.files({ "g.txt": "g\n" }), [], 999)
    expect(Effect.runSync(mergeBase(m.load, a, stranger))).toBeUndefined()
    expect(failure(mergeCommits(m.load, a, stranger))).toEqual(
      new UnrelatedHistories({ ours: a, theirs: stranger }),
    )
  })

  it("passes a loader's own failure through, typed", () => {
    class StoreDown extends Data.TaggedError("StoreDown")<{ readonly id: ObjectId }> {}
    const { a, b } = world()
    const load: ObjectLoader<StoreDown> = (id) => Effect.fail(new StoreDown({ id }))
    expect(failure(mergeBases(load, a, b))).toEqual(new StoreDown({ id: a }))
    expect(failure(diffCommits(load, a, b))).toBeInstanceOf(StoreDown)
  })
})
