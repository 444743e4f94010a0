/**
 * Line diffs and `git diff` output, checked against git itself: for generated file pairs
 * (seeded fast-check edits), `git apply` of our diff rebuilds the new tree, our per-file
 * counts equal `git diff --numstat`, and our text is byte for byte `git diff`'s.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { diffLines, diffSequences, isBinary, type LineChange } from "../../src/domain/git/Diff.ts"
import { mapLoader } from "../../src/domain/git/MergeBase.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { diffCommits, type FileDiff, gitDiff } from "../../src/domain/git/UnifiedDiff.ts"
import { git, gitBytes, gitTry, makeRepo, removeTempDirs, tempDir } from "../git/gitFixture.ts"
import { type FileSpec, importCommits, objectsOf, scaled } from "./mergeFixture.ts"

afterAll(removeTempDirs)

/** Applies changes to `a`; undefined if they are inconsistent with `a` and `b`. */
const applyChanges = (
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  changes: ReadonlyArray<LineChange>,
): number[] | undefined => {
  const out: number[] = []
  let i = 0
  for (const c of changes) {
    if (c.oldStart < i || c.oldStart - i !== c.newStart - out.length) return undefined
    while (i < c.oldStart) out.push(a[i++]!)
    for (let k = 0; k < c.newCount; k++) out.push(b[c.newStart + k]!)
    i += c.oldCount
  }
  while (i < a.length) out.push(a[i++]!)
  return out
}

/** Length of a longest common subsequence (quadratic; for small inputs). */
const lcs = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let prev = new Int32Array(b.length + 1)
  for (let i = 1; i <= a.length; i++) {
    const row = new Int32Array(b.length + 1)
    for (let j = 1; j <= b.length; j++)
      row[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, row[j - 1]!)
    prev = row
  }
  return prev[b.length]!
}

describe("line diff", () => {
  it("turns the old sequence into the new one, changing as few lines as possible", () => {
    const seq = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 })
    fc.assert(
      fc.property(seq, seq, (a, b) => {
        const changes = diffSequences(a, b)
        expect(applyChanges(a, b, changes)).toEqual(b)
        const changed = changes.reduce((n, c) => n + c.oldCount + c.newCount, 0)
        expect(changed).toBe(a.length + b.length - 2 * lcs(a, b))
      }),
      { seed: 42, numRuns: scaled(1500) },
    )
  })

  it("stays a valid diff when the cost bound cuts the search short", () => {
    const seq = fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 300 })
    fc.assert(
      fc.property(seq, seq, (a, b) => {
        expect(applyChanges(a, b, diffSequences(a, b, { maxCost: 2 }))).toEqual(b)
      }),
      { seed: 7, numRuns: scaled(300) },
    )
  })

  it("diffs a 100,000-line file with thousands of scattered edits validly", () => {
    const rnd = fc.sample(fc.integer({ min: 0, max: 1_000_000 }), { seed: 3, numRuns: 100_000 })
    const a = rnd.map((x) => x % 2000)
    const b = a.map((x, i) => (rnd[(i * 7919) % rnd.length]! % 13 === 0 ? 5000 + i : x))
    b.splice(50_000, 0, ...a.slice(0, 3000))
    const changes = diffSequences(a, b)
    expect(applyChanges(a, b, changes)).toEqual(b)
  })

  it("compares lines by their bytes, so a final line without newline differs", () => {
    const line = (s: string) => Buffer.from(s)
    expect(diffLines([line("a\n"), line("b")], [line("a\n"), line("b\n")])).toEqual([
      { oldStart: 1, oldCount: 1, newStart: 1, newCount: 1 },
    ])
  })

  it("slides an inserted line down past equal lines, as git places it", () => {
    const lines = (s: string) => s.split("").map((c) => Buffer.from(`${c}\n`))
    // Inserting a second "x" after "ax": git shows the insertion after the existing "x".
    expect(diffLines(lines("axb"), lines("axxb"))).toEqual([
      { oldStart: 2, oldCount: 0, newStart: 2, newCount: 1 },
    ])
  })

  it("calls content binary exactly when a NUL occurs in its first 8000 bytes", () => {
    const text = Buffer.alloc(9000, 0x61)
    expect(isBinary(text)).toBe(false)
    const early = Buffer.from(text)
    early[7999] = 0
    expect(isBinary(early)).toBe(true)
    const late = Buffer.from(text)
    late[8000] = 0
    expect(isBinary(late)).toBe(false)
    expect(isBinary(Buffer.alloc(0))).toBe(false)
  })
})

// ---------------------------------------------------------------------------- against git

const VOCABULARY = [
  "alpha\n",
  "beta\n",
  "gamma\n",
  "delta\n",
  "}\n",
  "\n",
  "    return x;\n",
  "int main(void)\n",
  "  indented line\n",
  "_private:\n",
  "$var = 1\n",
  "end\n",
]

const line = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VOCABULARY) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 99_999 }).map((n) => `unique line ${n}\n`) },
)
const text = fc
  .record({ lines: fc.array(line, { maxLength: 60 }), finalNewline: fc.boolean() })
  .map(({ lines, finalNewline }) => {
    const s = lines.join("")
    return Buffer.from(finalNewline || s.length === 0 ? s : s.slice(0, -1))
  })
const edits = fc.array(
  fc.record({ at: fc.nat(), remove: fc.nat(4), insert: fc.array(line, { maxLength: 4 }) }),
  { minLength: 1, maxLength: 5 },
)
const binary = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => {
  const out = Buffer.from(b)
  out[0] = 0 // a NUL up front makes it binary
  return out
})

type Kind =
  | "modify"
  | "add"
  | "remove"
  | "chmod"
  | "chmod+modify"
  | "binary"
  | "binary add"
  | "symlink"
  | "emptied"
  | "filled"
  | "unchanged"

const kind = fc.constantFrom<Kind>(
  "modify",
  "modify",
  "modify",
  "add",
  "remove",
  "chmod",
  "chmod+modify",
  "binary",
  "binary add",
  "symlink",
  "emptied",
  "filled",
  "unchanged",
)

/** Applies line edits to a text (positions taken modulo the length). */
const edited = (
  old: Buffer,
  ops: ReadonlyArray<{ at: number; remove: number; insert: string[] }>,
) => {
  const lines = old.toString("latin1").split(/(?<=\n)/)
  if (lines.length === 1 && lines[0] === "") lines.pop()
  for (const op of ops) {
    const at = op.at % (lines.length + 1)
    lines.splice(at, op.remove, ...op.insert)
  }
  return Buffer.from(lines.join(""), "latin1")
}

const PATHS = (i: number) =>
  [
    `f${i}.txt`,
    `src/lib/f${i}.c`,
    `docs/with space ${i}.md`,
    `ünïcode/${i}.txt`,
    `q"uote${i}.txt`,
    `deep/a/b/c/f${i}`,
  ][i % 6]!

interface Pair {
  readonly path: string
  readonly kind: Kind
  readonly old: FileSpec | undefined
  readonly new: FileSpec | undefined
}

const pairArb = fc
  .record({ kind, old: text, edits, bin: binary, bin2: binary })
  .map(({ kind, old, edits: ops, bin, bin2 }) => {
    const file = (content: Buffer, mode: FileSpec["mode"] = "100644"): FileSpec => ({
      mode,
      content,
    })
    switch (kind) {
      case "modify":
        return { kind, old: file(old), new: file(edited(old, ops)) }
      case "add":
        return { kind, old: undefined, new: file(edited(old, ops)) }
      case "remove":
        return { kind, old: file(old), new: undefined }
      case "chmod":
        return { kind, old: file(old), new: file(old, "100755") }
      case "chmod+modify":
        return { kind, old: file(old, "100755"), new: file(edited(old, ops)) }
      case "binary":
        return { kind, old: file(bin), new: file(Buffer.concat([bin.subarray(0, 100), bin2])) }
      case "binary add":
        return { kind, old: undefined, new: file(bin) }
      case "symlink":
        return {
          kind,
          old: file(Buffer.from(`target/${old.length}`), "120000"),
          new: file(Buffer.from(`elsewhere/${ops.length}`), "120000"),
        }
      case "emptied":
        return { kind, old: file(old), new: file(Buffer.alloc(0)) }
      case "filled":
        return { kind, old: file(Buffer.alloc(0)), new: file(edited(old, ops)) }
      default:
        return { kind, old: file(old), new: file(old) }
    }
  })

describe("tree diffs against git", () => {
  let repo: string
  let ids: string[]
  let pairs: Pair[]
  let files: FileDiff[]
  let files2: FileDiff[]

  beforeAll(() => {
    repo = makeRepo(path.join(tempDir("diff"), "repo"))
    pairs = fc
      .sample(pairArb, { seed: 2026, numRuns: scaled(150) })
      .map((p, i) => ({ path: PATHS(i), ...p }))
    const before = new Map<string, FileSpec>()
    const after = new Map<string, FileSpec>()
    for (const p of pairs) {
      if (p.old) before.set(p.path, p.old)
      if (p.new) after.set(p.path, p.new)
    }
    ids = importCommits(repo, [
      { ref: "before", parents: [], files: before, time: 1_700_000_000 },
      { ref: "after", parents: [0], files: after, time: 1_700_000_100 },
    ])
    const load = mapLoader(objectsOf(repo))
    const [a, b] = ids as [ObjectId, ObjectId]
    files = Effect.runSync(diffCommits(load, a, b, { binary: true }))
    files2 = Effect.runSync(diffCommits(load, a, b))
  })

  it("lists exactly the paths that changed, with GitHub's statuses", () => {
    const expected = pairs
      .filter((p) => !(p.old?.mode === p.new?.mode && p.old?.content.equals(p.new!.content)))
      .map((p) => ({
        filename: p.path,
        status: !p.old
          ? "added"
          : !p.new
            ? "removed"
            : p.old.content.equals(p.new.content)
              ? "changed"
              : "modified",
      }))
      .sort((x, y) => Buffer.compare(Buffer.from(x.filename), Buffer.from(y.filename)))
    const got = files.map((f) => ({ filename: f.filename, status: f.status }))
    expect(
      [...got].sort((x, y) => Buffer.compare(Buffer.from(x.filename), Buffer.from(y.filename))),
    ).toEqual(expected)
    for (const f of files) {
      expect(f.changes).toBe(f.additions + f.deletions)
      if (f.binary || f.status === "changed") expect(f.patch).toBeUndefined()
      else expect(f.patch?.startsWith("@@ -")).toBe(f.oldSize > 0 || f.newSize > 0)
    }
  })

  it("counts the same additions and deletions per file as git diff --numstat", () => {
    const out = gitBytes(repo, "diff", "--numstat", "-z", "--no-renames", ids[0]!, ids[1]!)
    const numstat = new Map<string, string>()
    for (const rec of out.toString("utf8").split("\0").filter(Boolean)) {
      const [adds, dels, ...name] = rec.split("\t")
      numstat.set(name.join("\t"), `${adds} ${dels}`)
    }
    const ours = new Map(
      files.map((f) => [f.filename, f.binary ? "- -" : `${f.additions} ${f.deletions}`]),
    )
    expect(ours).toEqual(numstat)
    expect(files.some((f) => f.binary)).toBe(true)
  })

  it("prints byte for byte the text of git diff", () => {
    const theirs = gitBytes(repo, "diff", "--no-renames", "--no-indent-heuristic", ids[0]!, ids[1]!)
    const ours = gitDiff(files2)
    expect(ours.toString("latin1")).toBe(theirs.toString("latin1"))
  })

  it("gives a patch git apply accepts and that rebuilds the new tree, binaries included", () => {
    const patch = path.join(path.dirname(repo), "ours.patch")
    fs.writeFileSync(patch, gitDiff(files))
    git(repo, "checkout", "-q", "-f", "--detach", ids[0]!)
    const check = gitTry(repo, undefined, "apply", "--check", patch)
    expect(check.stderr).toBe("")
    expect(check.code).toBe(0)
    git(repo, "apply", "--index", patch)
    expect(git(repo, "write-tree").trim()).toBe(git(repo, "rev-parse", `${ids[1]}^{tree}`).trim())
  })
})
