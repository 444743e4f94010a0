/**
 * Merge bases against `git merge-base` on generated histories: random DAGs of commits with
 * merges of arbitrary earlier commits (so criss-cross histories with several best common
 * ancestors occur), plus a second root (unrelated history).
 */
import * as path from "node:path"
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  isAncestor,
  mapLoader,
  mergeBase,
  mergeBases,
  type ObjectLoader,
} from "../../src/domain/git/MergeBase.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { makeRepo, removeTempDirs, tempDir } from "../git/gitFixture.ts"
import { runGit } from "../support/Git.ts"
import { type CommitSpec, importCommits, objectsOf, scaled } from "./mergeFixture.ts"

afterAll(removeTempDirs)

/** Each commit after the first picks one or two earlier parents (recent ones more often). */
const historyArb = (size: number) =>
  fc.array(
    fc.record({
      merge: fc.integer({ min: 0, max: 99 }),
      p1: fc.integer({ min: 0, max: 1_000_000 }),
      p2: fc.integer({ min: 0, max: 1_000_000 }),
    }),
    { minLength: size, maxLength: size },
  )

const pickEarlier = (k: number, r: number) => {
  // Half the time one of the last 4 commits, otherwise anything earlier.
  const recent = r % 2 === 0
  const span = recent ? Math.min(k, 4) : k
  return k - 1 - (Math.floor(r / 2) % span)
}

describe("merge bases against git", () => {
  let repo: string
  let ids: string[]
  let load: ObjectLoader
  let pairs: Array<[string, string]>
  /** `git merge-base --all` for every pair (its first line is what plain merge-base prints). */
  let gitAnswers: string[][]

  beforeAll(async () => {
    repo = makeRepo(path.join(tempDir("mergebase"), "repo"))
    const size = scaled(120)
    const steps = fc.sample(historyArb(size), { seed: 11, numRuns: 1 })[0]!
    const commits: CommitSpec[] = []
    steps.forEach((s, k) => {
      // Commit k = size / 2 starts an unrelated history.
      const root = k === 0 || k === Math.floor(size / 2)
      const parents: number[] = []
      if (!root) {
        const floor = k > size / 2 ? Math.floor(size / 2) : 0
        const p1 = floor + pickEarlier(k - floor, s.p1)
        parents.push(p1)
        if (s.merge < 35 && k - floor > 2) {
          const p2 = floor + pickEarlier(k - floor, s.p2)
          if (p2 !== p1) parents.push(p2)
        }
        // Now and then merge across into the other history, once it exists.
        if (k > size / 2 + 3 && s.merge > 95) parents.push(pickEarlier(Math.floor(size / 2), s.p2))
      }
      commits.push({
        ref: `c${k}`,
        parents,
        files: new Map([["f", { mode: "100644", content: Buffer.from(`${k}\n`) }]]),
        time: 1_700_000_000 + k * 60,
      })
    })
    ids = importCommits(repo, commits)
    load = mapLoader(objectsOf(repo))
    pairs = fc.sample(
      fc.tuple(fc.nat(ids.length - 1), fc.nat(ids.length - 1)).map(([a, b]) => [ids[a]!, ids[b]!]),
      { seed: 12, numRuns: scaled(150) },
    ) as Array<[string, string]>

    gitAnswers = []
    for (let k = 0; k < pairs.length; k += 8) {
      const batch = pairs.slice(k, k + 8)
      const outs = await Promise.all(
        batch.map(([a, b]) => runGit(repo, ["merge-base", "--all", a, b])),
      )
      for (const r of outs) gitAnswers.push(r.stdout.trim().split("\n").filter(Boolean))
    }
  })

  it("finds the same set of best common ancestors as git merge-base --all", () => {
    let several = 0
    let none = 0
    pairs.forEach(([a, b], k) => {
      const ours = Effect.runSync(mergeBases(load, a as ObjectId, b as ObjectId))
      const theirs = gitAnswers[k]!
      expect([...ours].sort(), `${a} ${b}`).toEqual([...theirs].sort())
      if (theirs.length > 1) several++
      if (theirs.length === 0) none++
    })
    // The generated histories must exercise criss-cross and unrelated cases.
    expect(several).toBeGreaterThan(0)
    expect(none).toBeGreaterThan(0)
  })

  it("picks as the merge base the one git merge-base prints", () => {
    pairs.forEach(([a, b], k) => {
      const ours = Effect.runSync(mergeBase(load, a as ObjectId, b as ObjectId))
      expect(ours, `${a} ${b}`).toBe(gitAnswers[k]![0])
    })
  })

  it("says a commit is an ancestor exactly when git's merge base of the pair is that commit", () => {
    // git merge-base --is-ancestor a b holds exactly when the bases of (a, b) are [a].
    let yes = 0
    pairs.forEach(([a, b], k) => {
      const ours = Effect.runSync(isAncestor(load, a as ObjectId, b as ObjectId))
      const theirs = gitAnswers[k]!
      expect(ours, `${a} ${b}`).toBe(theirs.length === 1 && theirs[0] === a)
      if (ours) yes++
    })
    expect(yes).toBeGreaterThan(0)
    expect(yes).toBeLessThan(pairs.length)
  })

  it("makes a commit its own merge base", () => {
    const id = ids[5]! as ObjectId
    expect(Effect.runSync(mergeBases(load, id, id))).toEqual([id])
    expect(Effect.runSync(isAncestor(load, id, id))).toBe(true)
  })
})
