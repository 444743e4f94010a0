/**
 * Three-way merges against git: for generated branch pairs (seeded fast-check edits of a
 * shared base: line edits, additions, deletions, mode changes, symlinks, binaries), our
 * merge is clean exactly when `git merge-tree --write-tree` says so, a clean merge gives
 * git's tree id, and a conflicting one names the same paths (and writes git's tree).
 */
import * as path from "node:path"
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { entryKind, parseTree } from "../../src/domain/git/GitObject.ts"
import { type LoadedObject, mapLoader } from "../../src/domain/git/MergeBase.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { type CommitMergeResult, mergeCommits } from "../../src/domain/git/TreeMerge.ts"
import { makeRepo, removeTempDirs, tempDir } from "../git/gitFixture.ts"
import { runGit } from "../support/Git.ts"
import { type CommitSpec, type FileSpec, importCommits, objectsOf, scaled } from "./mergeFixture.ts"

afterAll(removeTempDirs)

type Op = "keep" | "edit" | "delete" | "chmod" | "edit+chmod"
const op = fc.constantFrom<Op>(
  "keep",
  "keep",
  "keep",
  "edit",
  "edit",
  "edit",
  "delete",
  "chmod",
  "edit+chmod",
)

/** A line edit: at a position (mod length), remove some lines, insert some. */
const lineEdit = fc.record({
  at: fc.nat(),
  remove: fc.nat(2),
  insert: fc.integer({ min: 0, max: 2 }),
  tag: fc.nat(9999),
})

const sideArb = fc.record({
  ops: fc.array(op, { minLength: 12, maxLength: 12 }),
  edits: fc.array(fc.array(lineEdit, { minLength: 1, maxLength: 3 }), {
    minLength: 12,
    maxLength: 12,
  }),
  /** Files added at paths both sides may pick: -1 none, else which shared name. */
  adds: fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 2, maxLength: 2 }),
  /** Whether an addition uses content common to both sides. */
  commonAdd: fc.boolean(),
  dropDir: fc.integer({ min: 0, max: 12 }),
})

const caseArb = fc.record({
  /** Sides touch different files, and edit the one shared file in different halves. */
  disjoint: fc.boolean(),
  files: fc.integer({ min: 5, max: 12 }),
  lines: fc.integer({ min: 6, max: 30 }),
  ours: sideArb,
  theirs: sideArb,
})

type Case = fc.Arbitrary<typeof caseArb extends fc.Arbitrary<infer T> ? T : never>
type CaseValue = Case extends fc.Arbitrary<infer T> ? T : never

const basePath = (i: number) =>
  [`f${i}.txt`, `src/f${i}.c`, `src/lib/f${i}.h`, `docs/f${i}.md`][i % 4]!

/** The base snapshot: text files (one a symlink, one binary) with unique lines. */
const baseOf = (c: CaseValue): Map<string, FileSpec> => {
  const files = new Map<string, FileSpec>()
  for (let i = 0; i < c.files; i++) {
    if (i === 1) files.set("link", { mode: "120000", content: Buffer.from("src/f1.c") })
    else if (i === 2) {
      const bin = Buffer.alloc(64, i)
      bin[3] = 0
      files.set("image.bin", { mode: "100644", content: bin })
    } else {
      const lines = Array.from({ length: c.lines }, (_, j) =>
        j % 7 === 6 ? "\n" : `file ${i} line ${j}\n`,
      )
      files.set(basePath(i), {
        mode: i % 5 === 0 ? "100755" : "100644",
        content: Buffer.from(lines.join("")),
      })
    }
  }
  return files
}

const editLines = (
  content: Buffer,
  edits: ReadonlyArray<{ at: number; remove: number; insert: number; tag: number }>,
  side: string,
) => {
  const lines = content.toString("latin1").split(/(?<=\n)/)
  for (const e of edits) {
    const at = e.at % (lines.length + 1)
    const inserted = Array.from({ length: e.insert }, (_, k) => `${side} edit ${e.tag}.${k}\n`)
    lines.splice(at, e.remove, ...inserted)
  }
  return Buffer.from(lines.join(""), "latin1")
}

const sideOf = (
  base: ReadonlyMap<string, FileSpec>,
  c: CaseValue,
  side: "ours" | "theirs",
): Map<string, FileSpec> => {
  const s = c[side]
  const out = new Map<string, FileSpec>()
  const dirs = ["src/", "docs/", "src/lib/"]
  const dropped = !c.disjoint && s.dropDir < dirs.length ? dirs[s.dropDir] : undefined
  ;[...base.entries()].forEach(([name, f], i) => {
    if (dropped !== undefined && name.startsWith(dropped)) return
    const edits = s.edits[i % s.edits.length]!
    if (c.disjoint && i === 0) {
      // One edit each, ours in the first half and theirs in the second, two lines apart.
      const lines = f.content.toString("latin1").split(/(?<=\n)/)
      const half = Math.floor(lines.length / 2)
      const e = edits[0]!
      const at =
        side === "ours" ? e.at % Math.max(1, half - 3) : half + (e.at % (lines.length - half))
      out.set(name, { mode: f.mode, content: editLines(f.content, [{ ...e, at }], side) })
      return
    }
    const mine = !c.disjoint || i % 2 === (side === "ours" ? 0 : 1)
    const o = mine ? s.ops[i % s.ops.length]! : "keep"
    if (o === "delete") return
    if (f.mode === "120000") {
      out.set(
        name,
        o === "keep" ? f : { mode: f.mode, content: Buffer.from(`${side}/${edits[0]!.tag}`) },
      )
      return
    }
    if (name.endsWith(".bin")) {
      const bin = Buffer.from(f.content)
      if (o !== "keep") bin[10] = side === "ours" ? 0xaa : 0xbb
      out.set(name, { mode: f.mode, content: bin })
      return
    }
    const mode =
      o === "chmod" || o === "edit+chmod" ? (f.mode === "100755" ? "100644" : "100755") : f.mode
    const content =
      o === "edit" || o === "edit+chmod" ? editLines(f.content, edits, side) : f.content
    out.set(name, { mode, content })
  })
  s.adds.forEach((a, k) => {
    if (a < 0) return
    // Unique lines, so git's rename detection never pairs an addition with a deletion.
    const content = s.commonAdd
      ? `shared addition ${a}\nsecond line\n`
      : `${side} addition ${a}.${k}\nmore ${side} text\n`
    const name = c.disjoint ? `added/${side}${a}.txt` : `added/new${a}.txt`
    out.set(name, { mode: "100644", content: Buffer.from(content) })
  })
  return out
}

interface GitMerge {
  readonly clean: boolean
  readonly tree: string
  readonly paths: string[]
}

describe("three-way tree merges against git merge-tree", () => {
  let cases: Array<{ ours: string; theirs: string; label: [string, string] }>
  let objects: Map<string, LoadedObject>
  let gitResults: GitMerge[]
  let ourResults: CommitMergeResult[]

  beforeAll(async () => {
    const repo = makeRepo(path.join(tempDir("merge"), "repo"))
    const values = fc.sample(caseArb, { seed: 606, numRuns: scaled(80) })
    const commits: CommitSpec[] = []
    values.forEach((c, k) => {
      const base = baseOf(c)
      const at = commits.length
      commits.push({ ref: `m${k}base`, parents: [], files: base, time: 1_700_000_000 + k * 10 })
      commits.push({
        ref: `m${k}o`,
        parents: [at],
        files: sideOf(base, c, "ours"),
        time: 1_700_000_001 + k * 10,
      })
      commits.push({
        ref: `m${k}t`,
        parents: [at],
        files: sideOf(base, c, "theirs"),
        time: 1_700_000_002 + k * 10,
      })
    })
    const ids = importCommits(repo, commits)
    cases = values.map((_, k) => ({
      ours: ids[3 * k + 1]!,
      theirs: ids[3 * k + 2]!,
      label: [`m${k}o`, `m${k}t`],
    }))
    objects = objectsOf(repo)
    const load = mapLoader(objects)
    ourResults = cases.map((c) =>
      Effect.runSync(
        mergeCommits(load, c.ours as ObjectId, c.theirs as ObjectId, {
          labels: { ours: c.label[0], theirs: c.label[1] },
        }),
      ),
    )
    gitResults = []
    for (let k = 0; k < cases.length; k += 8) {
      const outs = await Promise.all(
        cases
          .slice(k, k + 8)
          .map((c) =>
            runGit(repo, ["merge-tree", "--write-tree", "-z", "--name-only", ...c.label]),
          ),
      )
      for (const r of outs) {
        const fields = r.stdout.split("\0")
        const end = fields.indexOf("", 1)
        gitResults.push({
          clean: r.code === 0,
          tree: fields[0]!,
          paths: [...new Set(fields.slice(1, end < 0 ? fields.length : end))].sort(),
        })
      }
    }
  })

  it("is clean exactly when git's merge is clean, and then writes git's tree", () => {
    let clean = 0
    let contentMerged = 0
    cases.forEach((c, k) => {
      const ours = ourResults[k]!
      const theirs = gitResults[k]!
      expect(ours.clean, `${c.label} conflicts: ${JSON.stringify(ours.conflicts)}`).toBe(
        theirs.clean,
      )
      if (theirs.clean) {
        clean++
        expect(ours.tree, c.label.join(" ")).toBe(theirs.tree)
        // A new blob in a clean merge: a file both sides edited, merged line by line.
        if (ours.objects.some((o) => o.type === "blob")) contentMerged++
      }
    })
    // Both outcomes, and clean line-level merges, must be exercised by the generated cases.
    expect(contentMerged).toBeGreaterThan(5)
    expect(clean).toBeGreaterThan(5)
    expect(clean).toBeLessThan(cases.length - 5)
  })

  it("reports conflicts on the same paths as git, and writes git's conflicted tree", () => {
    const kinds = new Set<string>()
    cases.forEach((c, k) => {
      const ours = ourResults[k]!
      const theirs = gitResults[k]!
      if (theirs.clean) return
      expect(ours.conflicts.map((x) => x.path).sort(), c.label.join(" ")).toEqual(theirs.paths)
      expect(ours.tree, c.label.join(" ")).toBe(theirs.tree)
      for (const x of ours.conflicts) kinds.add(x.kind)
    })
    expect([...kinds].sort()).toEqual(["add/add", "binary", "content", "modify/delete", "symlink"])
  })

  it("returns every object the merged tree needs that the repository lacks", () => {
    for (const result of ourResults) {
      const created = new Map(result.objects.map((o) => [o.id as string, o]))
      const stack: string[] = [result.tree]
      while (stack.length > 0) {
        const id = stack.pop()!
        const o = created.get(id) ?? objects.get(id)
        expect(o, `object ${id}`).toBeDefined()
        if (o!.type !== "tree") continue
        const entries = parseTree(o!.content)
        if (!Array.isArray(entries)) throw entries
        for (const e of entries) if (entryKind(e.mode) !== "gitlink") stack.push(e.id)
      }
    }
  })
})
