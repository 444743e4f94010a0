/**
 * Blame against `git blame --porcelain --first-parent` on a generated history: a file
 * edited by random insertions, deletions, replacements and moves (with repeated lines, so
 * the diff has choices to make), commits that leave it alone, a revert to an earlier
 * version, a deletion and re-creation, and a side branch merged back.
 */
import * as path from "node:path"
import { Effect, Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { blame, type BlameResult } from "../../src/domain/git/Blame.ts"
import { mapLoader, type ObjectLoader } from "../../src/domain/git/MergeBase.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { git, makeRepo, removeTempDirs, tempDir } from "../git/gitFixture.ts"
import { type CommitSpec, type FileSpec, importCommits, objectsOf } from "../merge/mergeFixture.ts"

afterAll(removeTempDirs)

const FILE = "src/app/main.txt"

/** A small seeded generator (mulberry32), so the history is the same on every run. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface GitLine {
  readonly commit: string
  readonly original: number
  readonly boundary: boolean
}

/** Per line of the file: the commit, original line and boundary flag git reports. */
const gitBlame = (repo: string, range: string): GitLine[] => {
  const out = git(
    repo,
    "-c",
    "diff.indentHeuristic=false",
    "blame",
    "--porcelain",
    "--first-parent",
    range,
    "--",
    FILE,
  )
  const lines: GitLine[] = []
  const boundary = new Set<string>()
  let current: { commit: string; original: number; final: number } | undefined
  const heads: Array<{ commit: string; original: number; final: number }> = []
  for (const line of out.split("\n")) {
    const m = /^([0-9a-f]{40}) (\d+) (\d+)(?: \d+)?$/.exec(line)
    if (m) {
      current = { commit: m[1]!, original: Number(m[2]), final: Number(m[3]) }
      heads.push(current)
    } else if (line === "boundary" && current) boundary.add(current.commit)
  }
  for (const h of heads)
    lines[h.final - 1] = {
      commit: h.commit,
      original: h.original,
      boundary: boundary.has(h.commit),
    }
  return lines
}

/** Our result, expanded to one entry per line. */
const perLine = (r: BlameResult): GitLine[] =>
  r.ranges.flatMap((range) =>
    Array.from({ length: range.lineCount }, (_, k) => ({
      commit: range.commit as string,
      original: range.originalLine + k,
      boundary: range.boundary,
    })),
  )

describe("blame against git blame --first-parent", () => {
  let repo: string
  let ids: string[]
  /** The first-parent chain from the tip, tip first. */
  let chain: string[]
  let load: ObjectLoader
  /** Index (in `ids`) of the merge commit and of the side branch's tip it merges. */
  let mergeAt = -1
  let sideAt = -1

  beforeAll(() => {
    repo = makeRepo(path.join(tempDir("blame"), "repo"))
    const next = random(7)
    let counter = 0
    const REPEATED = ["", "}", "{", "  return x", "# note"]
    const fresh = () =>
      next() < 0.3 ? REPEATED[Math.floor(next() * REPEATED.length)]! : `line ${counter++}`
    const versions: string[][] = []
    let text: string[] = Array.from({ length: 40 }, fresh)
    const commits: CommitSpec[] = []
    const file = (lines: string[] | undefined, other: number): Map<string, FileSpec> => {
      const files = new Map<string, FileSpec>([
        ["README", { mode: "100644", content: Buffer.from(`other ${other}\n`) }],
      ])
      if (lines)
        files.set(FILE, {
          mode: "100644",
          content: Buffer.from(lines.map((l) => `${l}\n`).join("")),
        })
      return files
    }
    const edit = (lines: string[]): string[] => {
      const out = [...lines]
      const ops = 1 + Math.floor(next() * 4)
      for (let k = 0; k < ops; k++) {
        const at = Math.floor(next() * (out.length + 1))
        const kind = next()
        if (kind < 0.35)
          out.splice(at, 0, ...Array.from({ length: 1 + Math.floor(next() * 4) }, fresh))
        else if (kind < 0.6) out.splice(at, 1 + Math.floor(next() * 3))
        else if (kind < 0.85) out.splice(at, 1 + Math.floor(next() * 2), fresh())
        else {
          const moved = out.splice(at, 1 + Math.floor(next() * 4))
          out.splice(Math.floor(next() * (out.length + 1)), 0, ...moved)
        }
      }
      return out
    }
    let main = -1
    let side = -1
    for (let k = 0; k < 36; k++) {
      const parents = main < 0 ? [] : [main]
      let lines: string[] | undefined = text
      if (k === 10)
        lines = versions[4] // revert to an earlier version
      else if (k === 15)
        lines = undefined // delete the file
      else if (k === 6 || k === 20)
        lines = text // leave it alone
      else if (k === 12) {
        // A side branch edits the file twice; commit 14 merges it.
        side = commits.length
        commits.push({
          ref: "side",
          parents: [main],
          files: file(edit(text), k),
          time: 1_700_000_000 + k * 60,
        })
        const sideLines = edit(text)
        commits.push({
          ref: "side",
          parents: [side],
          files: file(sideLines, k),
          time: 1_700_000_000 + k * 60 + 1,
        })
        side = commits.length - 1
        lines = edit(text)
      } else if (k === 14) {
        parents.push(side)
        mergeAt = commits.length
        sideAt = side
        lines = [...edit(text), `merged ${counter++}`]
      } else lines = edit(text)
      commits.push({
        ref: "main",
        parents,
        files: file(lines, k),
        time: 1_700_000_000 + k * 60 + 30,
      })
      main = commits.length - 1
      if (lines) {
        text = lines
        versions.push(lines)
      } else text = Array.from({ length: 12 }, fresh)
    }
    ids = importCommits(repo, commits)
    load = mapLoader(objectsOf(repo))
    chain = git(repo, "rev-list", "--first-parent", ids[main]!).trim().split("\n")
  })

  it("agrees with git on every line, from several starting commits", () => {
    let compared = 0
    const withFile = chain.filter((c) => git(repo, "ls-tree", c, "--", FILE).trim() !== "")
    const starts = withFile.filter((_, k) => k % 5 === 0)
    expect(starts.length).toBeGreaterThan(4)
    for (const start of starts) {
      const ours = Effect.runSync(blame(load, start as ObjectId, FILE))
      const theirs = gitBlame(repo, start)
      expect(ours.truncated).toBe(false)
      expect(ours.lineCount).toBe(theirs.length)
      // Ranges cover the file in order, without gaps or overlaps.
      let line = 1
      for (const r of ours.ranges) {
        expect(r.startLine).toBe(line)
        expect(r.lineCount).toBeGreaterThan(0)
        line += r.lineCount
      }
      expect(line).toBe(ours.lineCount + 1)
      expect(perLine(ours).map((l) => [l.commit, l.original])).toEqual(
        theirs.map((l) => [l.commit, l.original]),
      )
      compared += theirs.length
    }
    expect(compared).toBeGreaterThan(150)
  })

  it("follows first parents only: side-branch commits are never blamed, the merge is", () => {
    const mergeId = ids[mergeAt] as ObjectId
    const atMerge = Effect.runSync(blame(load, mergeId, FILE))
    expect(atMerge.commits.get(mergeId)?.parents).toEqual([ids[mergeAt - 1], ids[sideAt]])
    const blamedOn = new Set(atMerge.ranges.map((r) => r.commit))
    expect(blamedOn.has(mergeId)).toBe(true)
    expect(blamedOn.has(ids[sideAt] as ObjectId)).toBe(false)
    expect(blamedOn.size).toBeGreaterThan(5)
    for (const id of blamedOn) expect(chain).toContain(id)
  })

  it("stops after maxCommits and blames the rest on the last parent, as git at a range's bottom", () => {
    const m = 4
    const ours = Effect.runSync(blame(load, chain[0] as ObjectId, FILE, { maxCommits: m }))
    const theirs = gitBlame(repo, `${chain[m]}..${chain[0]}`)
    expect(ours.truncated).toBe(true)
    expect(ours.commits.size).toBe(m + 1)
    expect(perLine(ours)).toEqual(theirs)
    const boundary = perLine(ours).filter((l) => l.boundary)
    expect(boundary.length).toBeGreaterThan(0)
    for (const l of boundary) expect(l.commit).toBe(chain[m])
    expect(theirs.filter((l) => l.boundary).length).toBe(boundary.length)
  })

  it("reads each commit and tree at most once", () => {
    const reads = new Map<string, number>()
    const counting: ObjectLoader = (id) => {
      reads.set(id, (reads.get(id) ?? 0) + 1)
      return load(id)
    }
    const ours = Effect.runSync(blame(counting, chain[0] as ObjectId, FILE))
    const objects = objectsOf(repo)
    for (const [id, n] of reads) {
      if (objects.get(id)?.type !== "blob") expect(n, id).toBe(1)
    }
    expect(ours.commits.size).toBeGreaterThan(3)
  })

  it("says clearly when the path is not a file", () => {
    const missing = Effect.runSync(Effect.either(blame(load, chain[0] as ObjectId, "nope.txt")))
    expect(
      Either.isLeft(missing) && missing.left._tag === "BlamePathNotFound" && missing.left.found,
    ).toBe("nothing")
    const dir = Effect.runSync(Effect.either(blame(load, chain[0] as ObjectId, "src/app")))
    expect(Either.isLeft(dir) && dir.left.message).toMatch(
      /is a directory at commit .*blame a file/,
    )
    const noCommit = Effect.runSync(Effect.either(blame(load, "0".repeat(40) as ObjectId, FILE)))
    expect(Either.isLeft(noCommit) && noCommit.left._tag).toBe("MissingObject")
  })
})
