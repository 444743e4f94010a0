/**
 * PackSpool: a push's pack kept in an unlinked temporary file. Appends and reads across the
 * write stage, large appends, bounds, reads after close; the parser with a spool gives the
 * same objects, byte for byte, as without one; a spool that fails becomes a PackError that
 * says what to do, never a crash.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type DeflatedSpool,
  PackError,
  PackParser,
  parsePack,
  resolvePack,
} from "../../src/domain/git/PackReader.ts"
import { copyDeflated } from "../../src/services/ObjectStore.ts"
import { ingestPack } from "../../src/services/git/PackIngest.ts"
import { type FileSpool, SpoolError, scopedSpool } from "../../src/services/git/PackSpool.ts"
import type { BodyReader } from "../../src/services/git/BodyReader.ts"

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "guts-spool-test-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const withSpool = <A>(body: (spool: FileSpool) => A): A =>
  Effect.runSync(Effect.scoped(Effect.map(scopedSpool(dir), (spool) => body(spool!))))

/** A real pack made by git: a few commits with edits, so it has deltas. */
const gitPack = (): Buffer => {
  const repo = fs.mkdtempSync(path.join(dir, "repo-"))
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", repo, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.com",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.com",
      },
    })
  git("init", "-q")
  const lines = Array.from({ length: 400 }, (_, i) => `line ${i} of a file that changes a little\n`)
  for (let c = 0; c < 6; c++) {
    lines[c * 37] = `edited in commit ${c}\n`
    fs.writeFileSync(path.join(repo, "file.txt"), lines.join(""))
    fs.writeFileSync(path.join(repo, `note-${c}.txt`), `note ${c}\n`)
    git("add", ".")
    git("commit", "-q", "-m", `commit ${c}`)
  }
  return execFileSync(
    "git",
    ["-C", repo, "pack-objects", "--stdout", "--revs", "--delta-base-offset"],
    {
      input: "HEAD\n",
    },
  )
}

describe("FileSpool", () => {
  it("reads back what it was given, staged or written, and across the stage boundary", () =>
    withSpool((spool) => {
      const pieces = Array.from({ length: 300 }, (_, i) => Buffer.alloc(5000 + i, i % 251))
      const at = pieces.map((p) => spool.append(p))
      // A piece larger than the stage goes straight to the file.
      const big = Buffer.alloc(3 * 1024 * 1024, 7)
      const bigAt = spool.append(big)
      const tail = Buffer.from("still staged")
      const tailAt = spool.append(tail)
      for (const [i, p] of pieces.entries())
        expect(spool.read(at[i]!, p.length).equals(p)).toBe(true)
      expect(spool.read(bigAt, big.length).equals(big)).toBe(true)
      expect(spool.read(tailAt, tail.length).toString()).toBe("still staged")
      expect(spool.size).toBe(tailAt + tail.length)
    }))

  it("refuses a read past its end and any use after close, and leaves no file behind", () => {
    const spool = withSpool((spool) => {
      spool.append(Buffer.from("abc"))
      expect(() => spool.read(1, 5)).toThrow(/past its end/)
      // Unlinked as soon as it was opened: the directory never shows it.
      expect(fs.readdirSync(dir).filter((f) => f.endsWith(".spool"))).toEqual([])
      return spool
    })
    expect(() => spool.read(0, 1)).toThrow(/after the push that owned it ended/)
    expect(() => spool.append(Buffer.from("x"))).toThrow(/after the push that owned it ended/)
  })

  it("is absent, with a warning, when its directory cannot be made (the push then uses memory)", () => {
    const file = path.join(dir, "a-file")
    fs.writeFileSync(file, "not a directory")
    const spool = Effect.runSync(Effect.scoped(scopedSpool(path.join(file, "tmp"))))
    expect(spool).toBeUndefined()
  })
})

describe("PackParser with a spool", () => {
  it("gives the same objects and the same stored bytes as without one", () => {
    const pack = gitPack()
    const plain = parsePack(pack)
    if (plain instanceof PackError) throw plain
    const expected = resolvePack(plain.entries)
    if (expected instanceof PackError) throw expected
    expect(expected.objects.some((o) => o.repr.kind === "delta")).toBe(true)
    withSpool((spool) => {
      const parser = new PackParser({ spool })
      // Fed in small pieces, as a request body arrives.
      for (let i = 0; i < pack.length; i += 997) {
        const err = parser.push(Buffer.from(pack.subarray(i, i + 997)))
        if (err) throw err
      }
      const end = parser.end()
      if (end) throw end
      const got = resolvePack(parser.entries)
      if (got instanceof PackError) throw got
      expect(got.objects.map((o) => o.id)).toEqual(expected.objects.map((o) => o.id))
      got.objects.forEach((o, i) => {
        const want = expected.objects[i]!
        expect(o.repr.kind).toBe(want.repr.kind)
        expect(o.repr.deflatedLength).toBe(want.repr.deflated.length)
        expect(Buffer.from(o.repr.deflated).equals(Buffer.from(want.repr.deflated))).toBe(true)
        // Copied into a record without a buffer of its own, at an offset.
        const record = Buffer.alloc(3 + want.repr.deflated.length)
        copyDeflated(o.repr, record, 3)
        expect(record.subarray(3).equals(Buffer.from(want.repr.deflated))).toBe(true)
      })
      // Nothing of the pack is held in the entries: their bytes are in the spool.
      expect(spool.size).toBe(expected.objects.reduce((n, o) => n + o.repr.deflated.length, 0))
    })
  })

  it("turns a spool that fails (a full disk) into a PackError saying what to do", () => {
    const pack = gitPack()
    const failing: DeflatedSpool = {
      append: () => {
        throw new SpoolError("pack spool write: ENOSPC: no space left on device")
      },
      read: () => Buffer.alloc(0),
      readInto: () => {},
    }
    const chunks = [pack]
    const reader: BodyReader = {
      next: Effect.sync(() => chunks.shift()),
      unshift: (bytes) => {
        chunks.unshift(bytes)
      },
    }
    const result = Effect.runSync(
      ingestPack(reader, {
        maxBytes: 1 << 30,
        lookup: () => Effect.succeed([]),
        spool: failing,
      }),
    )
    expect(result).toBeInstanceOf(PackError)
    expect((result as PackError).message).toMatch(/ENOSPC.*check the node's disk space/)
  })
})
