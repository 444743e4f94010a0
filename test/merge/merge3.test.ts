/**
 * Content merge of one file (Merge3) and the tree merge's handling of cases git's own
 * comparison does not cover (directory/file, kind changes, emptied trees).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { parseTree, textString } from "../../src/domain/git/GitObject.ts"
import { merge3 } from "../../src/domain/git/Merge3.ts"
import { EMPTY_TREE_ID, mergeTrees } from "../../src/domain/git/TreeMerge.ts"
import { gitTry, removeTempDirs, tempDir } from "../git/gitFixture.ts"
import { MemoryObjects, scaled } from "./mergeFixture.ts"

afterAll(removeTempDirs)

const lines = (...xs: string[]) => Buffer.from(xs.map((x) => `${x}\n`).join(""))
const BASE = lines("one", "two", "three", "four", "five", "six", "seven", "eight")

describe("content merge", () => {
  it("merges edits to different parts of a file cleanly", () => {
    const ours = lines("one", "TWO", "three", "four", "five", "six", "seven", "eight")
    const theirs = lines("one", "two", "three", "four", "five", "six", "SEVEN", "eight", "nine")
    const r = merge3(BASE, ours, theirs)
    expect(r.clean).toBe(true)
    expect(r.content.toString()).toBe(
      lines("one", "TWO", "three", "four", "five", "six", "SEVEN", "eight", "nine").toString(),
    )
  })

  it("conflicts on overlapping edits, between git's markers", () => {
    const ours = lines("one", "two", "THREE", "FOUR", "five", "six", "seven", "eight")
    const theirs = lines("one", "two", "three", "4", "five", "six", "seven", "eight")
    const r = merge3(BASE, ours, theirs, { labels: { ours: "main", theirs: "feature" } })
    expect(r.clean).toBe(false)
    expect(r.conflicts).toBe(1)
    expect(r.content.toString()).toBe(
      "one\ntwo\n<<<<<<< main\nTHREE\nFOUR\n=======\nthree\n4\n>>>>>>> feature\n" +
        "five\nsix\nseven\neight\n",
    )
  })

  it("conflicts on edits to adjacent lines, as git does", () => {
    const ours = lines("one", "two", "THREE", "four", "five", "six", "seven", "eight")
    const theirs = lines("one", "two", "three", "FOUR", "five", "six", "seven", "eight")
    expect(merge3(BASE, ours, theirs).clean).toBe(false)
  })

  it("takes a change both sides made identically once", () => {
    const both = lines("one", "two", "3", "four", "five", "six", "seven", "eight")
    const r = merge3(BASE, both, both)
    expect(r).toMatchObject({ clean: true, conflicts: 0 })
    expect(r.content.equals(both)).toBe(true)
  })

  it("gives the other side's bytes exactly when one side did not change", () => {
    const theirs = Buffer.from("entirely\r\ndifferent")
    expect(merge3(BASE, BASE, theirs).content.equals(theirs)).toBe(true)
    expect(merge3(BASE, theirs, BASE).content.equals(theirs)).toBe(true)
  })

  it("shows the base version between the sides in the diff3 style", () => {
    const ours = lines("one", "2", "three", "four", "five", "six", "seven", "eight")
    const theirs = lines("one", "II", "three", "four", "five", "six", "seven", "eight")
    const r = merge3(BASE, ours, theirs, { style: "diff3" })
    expect(r.content.toString()).toBe(
      "one\n<<<<<<< ours\n2\n||||||| base\ntwo\n=======\nII\n>>>>>>> theirs\n" +
        "three\nfour\nfive\nsix\nseven\neight\n",
    )
  })

  it("ends a side without a final newline before the next marker", () => {
    const r = merge3(Buffer.from("a\nb"), Buffer.from("a\nours"), Buffer.from("a\ntheirs"))
    expect(r.content.toString()).toBe("a\n<<<<<<< ours\nours\n=======\ntheirs\n>>>>>>> theirs\n")
  })

  it("does not merge binary content line by line: a conflict that keeps ours", () => {
    const base = Buffer.from([1, 0, 2])
    const ours = Buffer.from([1, 0, 3])
    const r = merge3(base, ours, Buffer.from([1, 0, 4]))
    expect(r).toMatchObject({ clean: false, binary: true, conflicts: 1 })
    expect(r.content.equals(ours)).toBe(true)
    expect(merge3(base, ours, base)).toMatchObject({ clean: true, binary: true })
  })

  it("matches git merge-file byte for byte, markers and exit status, on generated edits", () => {
    const dir = tempDir("merge-file")
    const word = fc.oneof(
      fc.constantFrom("alpha", "beta", "gamma", "delta"),
      fc.nat(30).map((n) => `line ${n}`),
    )
    const text = fc.array(word, { maxLength: 25 })
    const edit = fc.array(
      fc.record({ at: fc.nat(), remove: fc.nat(2), insert: fc.array(word, { maxLength: 2 }) }),
      { maxLength: 4 },
    )
    const apply = (xs: string[], ops: Array<{ at: number; remove: number; insert: string[] }>) => {
      const out = [...xs]
      for (const op of ops) out.splice(op.at % (out.length + 1), op.remove, ...op.insert)
      return out
    }
    const file = (xs: string[], eol: boolean) => {
      const s = xs.map((x) => `${x}\n`).join("")
      return Buffer.from(eol ? s : s.replace(/\n$/, ""))
    }
    const cases = fc.sample(fc.tuple(text, edit, edit, fc.boolean(), fc.boolean()), {
      seed: 31,
      numRuns: scaled(120),
    })
    let conflicted = 0
    for (const [base, e1, e2, eol1, eol2] of cases) {
      const b = file(base, true)
      const o = file(apply(base, e1), eol1)
      const t = file(apply(base, e2), eol2)
      for (const [name, content] of [
        ["o", o],
        ["b", b],
        ["t", t],
      ] as const)
        fs.writeFileSync(path.join(dir, name), content)
      const labels = ["-L", "ours", "-L", "base", "-L", "theirs"]
      const r = gitTry(dir, undefined, "merge-file", "-p", ...labels, "o", "b", "t")
      const ours = merge3(b, o, t)
      expect(ours.content.toString("latin1")).toBe(r.stdout.toString("latin1"))
      // merge-file exits with the number of conflicts.
      expect(ours.conflicts).toBe(r.code)
      if (r.code > 0) conflicted++
    }
    expect(conflicted).toBeGreaterThan(10)
    expect(conflicted).toBeLessThan(cases.length - 10)
  })
})

describe("tree merge cases", () => {
  const names = (m: MemoryObjects, tree: string) => {
    const entries = parseTree(m.objects.get(tree)!.content)
    if (!Array.isArray(entries)) throw entries
    return entries.map((e) => `${e.mode} ${textString(e.name)}`)
  }

  it("combines one side's mode change with the other side's edit", () => {
    const m = new MemoryObjects()
    const base = m.files({ "run.sh": "echo a\n" })
    const ours = m.files({ "run.sh": ["100755", "echo a\n"] })
    const theirs = m.files({ "run.sh": "echo b\n" })
    const r = Effect.runSync(mergeTrees(m.load, base, ours, theirs))
    expect(r.clean).toBe(true)
    expect(r.tree).toBe(m.files({ "run.sh": ["100755", "echo b\n"] }))
  })

  it("keeps the modified version of a file deleted on the other side, as a conflict", () => {
    const m = new MemoryObjects()
    const base = m.files({ "a.txt": "a\n", "b.txt": "b\n" })
    const ours = m.files({ "a.txt": "a\n" })
    const theirs = m.files({ "a.txt": "a\n", "b.txt": "b changed\n" })
    const r = Effect.runSync(mergeTrees(m.load, base, ours, theirs))
    expect(r.conflicts).toEqual([
      expect.objectContaining({ path: "b.txt", kind: "modify/delete", ours: undefined }),
    ])
    expect(r.tree).toBe(theirs)
  })

  it("reports a file against a directory and moves the file aside", () => {
    const m = new MemoryObjects()
    const base = m.files({ "x.txt": "x\n" })
    const ours = m.files({ "x.txt": "x\n", lib: "a file\n" })
    const theirs = m.files({ "x.txt": "x\n", "lib/mod.c": "int x;\n" })
    const r = Effect.runSync(
      mergeTrees(m.load, base, ours, theirs, { labels: { ours: "HEAD", theirs: "topic" } }),
    )
    expect(r.conflicts.map((c) => [c.path, c.kind])).toEqual([["lib", "directory/file"]])
    // The merged tree comes back among the created objects.
    for (const o of r.objects) m.put(o.type, o.content)
    expect(names(m, r.tree).sort()).toEqual(["100644 lib~HEAD", "100644 x.txt", "40000 lib"])
  })

  it("reports a file that became a symlink on one side and changed on the other", () => {
    const m = new MemoryObjects()
    const base = m.files({ cfg: "a\n" })
    const ours = m.files({ cfg: ["120000", "elsewhere"] })
    const theirs = m.files({ cfg: "b\n" })
    const r = Effect.runSync(mergeTrees(m.load, base, ours, theirs))
    expect(r.conflicts.map((c) => [c.path, c.kind])).toEqual([["cfg", "type"]])
    expect(r.tree).toBe(ours)
  })

  it("drops directories left empty, down to the empty tree", () => {
    const m = new MemoryObjects()
    const base = m.files({ "a/b/c.txt": "c\n", "d.txt": "d\n" })
    const ours = m.files({ "d.txt": "d\n" })
    const theirs = m.files({ "a/b/c.txt": "c\n" })
    const r = Effect.runSync(mergeTrees(m.load, base, ours, theirs))
    expect(r).toMatchObject({ clean: true, tree: EMPTY_TREE_ID })
    expect(r.objects).toEqual([expect.objectContaining({ id: EMPTY_TREE_ID, type: "tree" })])
  })
})
