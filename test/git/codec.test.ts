/**
 * The git codecs against the real git: packs git writes are read exactly, packs and
 * indexes we write are accepted by git, ref names are judged like check-ref-format.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { beforeAll, describe, expect, it } from "vitest"
import { applyDelta, DeltaError } from "../../src/domain/git/Delta.ts"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { crc32, readPackIndex, writePackIndex } from "../../src/domain/git/PackIndex.ts"
import {
  PackError,
  PackParser,
  readPack,
  refBasesNotInPack,
  resolvePack,
} from "../../src/domain/git/PackReader.ts"
import {
  FLUSH_PKT,
  PktLineDecoder,
  PktLineError,
  parsePackets,
  pktLine,
} from "../../src/domain/git/PktLine.ts"
import { refNameProblem } from "../../src/domain/git/RefName.ts"
import { PackStream } from "../../src/services/git/PackStream.ts"
import { commitAll, git, gitWithInput, initRepo, runGit, write } from "../support/Git.ts"
import { tempDir } from "../support/TestNode.ts"

let repo: string
let allObjects: Array<{ id: string; type: string }>

/** A history with many revisions of similar files, so git makes real delta chains. */
beforeAll(async () => {
  repo = path.join(tempDir("codec"), "repo")
  await initRepo(repo)
  const lines = Array.from({ length: 300 }, (_, i) => `line ${i}: ${"x".repeat(i % 40)}\n`)
  for (let c = 0; c < 40; c++) {
    lines[(c * 7) % lines.length] = `changed in commit ${c}\n`
    write(repo, "big.txt", lines.join(""))
    write(repo, `dir/f${c % 4}.txt`, `file ${c}\n`.repeat(50))
    await commitAll(repo, `commit ${c}`, c)
  }
  await git(repo, ["tag", "-a", "v1", "-m", "annotated"])
  const out = await git(repo, [
    "cat-file",
    "--batch-check=%(objectname) %(objecttype)",
    "--batch-all-objects",
  ])
  allObjects = out
    .trim()
    .split("\n")
    .map((l) => {
      const [id, type] = l.split(" ")
      return { id: id!, type: type! }
    })
}, 60_000)

const packOf = async (args: string[]) => {
  const list = allObjects.map((o) => o.id).join("\n")
  const r = await new Promise<Buffer>((resolve, reject) => {
    const { spawn } = require("node:child_process") as typeof import("node:child_process")
    const child = spawn("git", ["pack-objects", "--stdout", ...args], { cwd: repo })
    const chunks: Buffer[] = []
    child.stdout.on("data", (d: Buffer) => chunks.push(d))
    child.on("close", (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`pack-objects ${code}`)),
    )
    child.stdin.end(`${list}\n`)
  })
  return r
}

const catFile = async (id: string) => {
  const { execFileSync } = await import("node:child_process")
  const type = execFileSync("git", ["cat-file", "-t", id], { cwd: repo }).toString().trim()
  return {
    type,
    content: execFileSync("git", ["cat-file", type, id], { cwd: repo, maxBuffer: 1 << 28 }),
  }
}

describe("pkt-line", () => {
  it("encodes length-prefixed packets and the special packets", () => {
    expect(pktLine("hello\n").toString()).toBe("000ahello\n")
    expect(FLUSH_PKT.toString()).toBe("0000")
    expect(() => pktLine(Buffer.alloc(65517))).toThrow(/exceeds/)
  })

  it("decodes across arbitrary chunk boundaries", () => {
    const stream = Buffer.concat([pktLine("one\n"), Buffer.from("0001"), pktLine("two"), FLUSH_PKT])
    for (let split = 1; split < stream.length; split++) {
      const d = new PktLineDecoder()
      const got: string[] = []
      for (const part of [stream.subarray(0, split), stream.subarray(split)]) {
        d.push(part)
        for (;;) {
          const p = d.next()
          if (p === undefined) break
          if (p instanceof PktLineError) throw p
          got.push(p.kind === "data" ? p.data.toString() : p.kind)
        }
      }
      expect(got).toEqual(["one\n", "delim", "two", "flush"])
    }
  })

  it("rejects oversized, malformed and truncated packets with a reason", () => {
    expect(parsePackets(Buffer.from("fff0abc"))).toBeInstanceOf(PktLineError)
    expect((parsePackets(Buffer.from("ffff")) as PktLineError).message).toMatch(
      /exceeds the maximum/,
    )
    expect((parsePackets(Buffer.from("zz12")) as PktLineError).message).toMatch(/malformed/)
    expect((parsePackets(Buffer.from("0003")) as PktLineError).message).toMatch(/invalid/)
    expect((parsePackets(Buffer.from("0009abc")) as PktLineError).message).toMatch(/ends inside/)
  })
})

describe("ref names", () => {
  const names = [
    "refs/heads/main",
    "refs/heads/feature/x",
    "refs/tags/v1.0",
    "refs/heads/bad..name",
    "refs/heads/.hidden",
    "refs/heads/x.lock",
    "refs/heads/sp ace",
    "refs/heads/ends.",
    "refs/heads/a@{b",
    "refs/heads//double",
    "refs/heads/trailing/",
    "refs/heads/colon:x",
    "refs/heads/star*",
    "refs/heads/tilde~1",
    "refs/heads/caret^",
    "refs/heads/q?",
    "refs/heads/bracket[",
    "refs/heads/back\\slash",
    "@",
    "nohierarchy",
  ]
  it("agrees with git check-ref-format on every case", async () => {
    for (const name of names) {
      const r = await runGit(repo, ["check-ref-format", name])
      expect({ name, valid: refNameProblem(name) === undefined }).toEqual({
        name,
        valid: r.code === 0,
      })
    }
  })
})

describe("reading packs git wrote", () => {
  for (const [label, args] of [
    ["OFS deltas", ["--delta-base-offset", "--depth=50"]],
    ["REF deltas", ["--depth=50"]],
  ] as const) {
    it(`resolves every object of a pack with ${label} to what git cat-file says`, async () => {
      const pack = await packOf([...args])
      const r = readPack(pack)
      if (r instanceof PackError) throw r
      expect(r.objects.length).toBe(allObjects.length)
      expect(r.objects.filter((o) => o.repr.kind === "delta").length).toBeGreaterThan(20)
      const byId = new Map(r.objects.map((o) => [o.id, o]))
      for (const o of allObjects) {
        const ours = byId.get(o.id as ObjectId)
        expect(ours?.type).toBe(o.type)
      }
      // Contents: spot-check all non-blob objects and the deepest delta.
      for (const [id, c] of r.contents) {
        const theirs = await catFile(id)
        expect(Buffer.from(c.content).equals(theirs.content)).toBe(true)
      }
    })
  }

  it("reads a thin pack with bases supplied from outside", async () => {
    const head = (await git(repo, ["rev-parse", "HEAD"])).trim()
    const { spawnSync } = await import("node:child_process")
    const out = spawnSync(
      "git",
      ["pack-objects", "--stdout", "--thin", "--revs", "--delta-base-offset"],
      {
        cwd: repo,
        input: `${head}\n^${head}~3\n`,
      },
    )
    const thin = out.stdout
    const parser = new PackParser()
    expect(parser.push(thin) ?? parser.end()).toBeUndefined()
    const bases = refBasesNotInPack(parser.entries)
    expect(bases.length).toBeGreaterThan(0)
    const missing = resolvePack(parser.entries, new Map())
    expect(missing).toBeInstanceOf(PackError)
    expect((missing as PackError).message).toMatch(/delta base [0-9a-f]{40} is missing/)
    const external = new Map()
    for (const id of bases) {
      const o = await catFile(id)
      external.set(id, { type: o.type, content: o.content })
    }
    const r = resolvePack(parser.entries, external)
    if (r instanceof PackError) throw r
    expect(r.externalBases.length).toBe(bases.length)
  })

  it("names what is wrong with a broken pack", async () => {
    const pack = await packOf(["--delta-base-offset"])
    expect((readPack(pack.subarray(0, pack.length - 100)) as PackError).message).toMatch(
      /truncated/,
    )
    const flipped = Buffer.from(pack)
    flipped[flipped.length - 1]! ^= 1
    expect((readPack(flipped) as PackError).message).toMatch(/checksum mismatch/)
    const corrupt = Buffer.from(pack)
    corrupt[40]! ^= 0xff
    expect(readPack(corrupt)).toBeInstanceOf(PackError)
    expect((readPack(Buffer.from("NOTAPACK00000000")) as PackError).message).toMatch(/signature/)
  })
})

describe("writing packs and indexes git accepts", () => {
  it("streams stored representations (whole, OFS and REF deltas) into a pack that git index-pack and verify-pack accept, with an identical .idx", async () => {
    const source = readPack(await packOf(["--delta-base-offset", "--depth=50"]))
    if (source instanceof PackError) throw source
    const pack = new PackStream(source.objects.length)
    const parts: Buffer[] = [pack.header()]
    const index: Array<{ id: ObjectId; offset: number; crc32: number }> = []
    let offset = 12
    let i = 0
    for (const o of source.objects) {
      let bytes: Buffer
      if (o.repr.kind === "whole") bytes = pack.whole(o.id, o.type, o.size, o.repr.deflated)
      else {
        const baseOffset = pack.offsetOf(o.repr.base)
        bytes =
          baseOffset !== undefined && i++ % 2 === 0
            ? pack.ofsDelta(o.id, baseOffset, o.repr.deltaSize, o.repr.deflated)
            : pack.refDelta(o.id, o.repr.base, o.repr.deltaSize, o.repr.deflated)
      }
      index.push({ id: o.id, offset, crc32: crc32(bytes) })
      offset += bytes.length
      parts.push(bytes)
    }
    const trailer = pack.trailer()
    parts.push(trailer)
    const bytes = Buffer.concat(parts)
    const dir = tempDir("packwrite")
    const packPath = path.join(dir, "test.pack")
    fs.writeFileSync(packPath, bytes)
    const ours = writePackIndex(index, trailer)
    // git's own index of our pack is byte-identical to ours.
    const idx = await runGit(dir, ["index-pack", "-o", path.join(dir, "git.idx"), packPath])
    expect({ code: idx.code, stderr: idx.stderr }).toEqual({ code: 0, stderr: "" })
    expect(ours.equals(fs.readFileSync(path.join(dir, "git.idx")))).toBe(true)
    fs.writeFileSync(path.join(dir, "test.idx"), ours)
    const verify = await runGit(dir, ["verify-pack", "-v", path.join(dir, "test.idx")])
    expect(verify.code).toBe(0)
    expect(verify.stdout).toContain("chain length")
    // And our reader reads its own index back.
    const parsed = readPackIndex(ours)
    if ("message" in parsed) throw parsed
    expect(parsed.count).toBe(source.objects.length)
    expect(parsed.lookup(index[5]!.id)).toBe(index[5]!.offset)
    // Fed to a repository as a fetch would: accepted with --strict object checks.
    const bare = path.join(dir, "bare.git")
    await git(dir, ["init", "-q", "--bare", bare])
    const fed = await gitWithInput(bare, ["index-pack", "--stdin", "--strict"], bytes)
    expect({ code: fed.code, stderr: fed.stderr }).toEqual({ code: 0, stderr: "" })
  })

  it("deflated entries and zlib agree (the store keeps git's own bytes)", () => {
    const content = Buffer.from("same bytes\n")
    expect(zlib.inflateSync(zlib.deflateSync(content)).equals(content)).toBe(true)
  })
})

describe("deltas", () => {
  it("applies copy and insert instructions and checks every bound", () => {
    const base = Buffer.from("hello world")
    // source 11, target 8, copy offset 6 size 5 ("world"), insert "!!!"
    const delta = Buffer.from([11, 8, 0x80 | 0x01 | 0x10, 6, 5, 3, 0x21, 0x21, 0x21])
    expect((applyDelta(base, delta) as Buffer).toString()).toBe("world!!!")
    expect(applyDelta(Buffer.from("short"), delta)).toBeInstanceOf(DeltaError)
    const outOfBounds = Buffer.from([11, 8, 0x80 | 0x01 | 0x10, 9, 5, 3, 0x21, 0x21, 0x21])
    expect((applyDelta(base, outOfBounds) as DeltaError).message).toMatch(/outside/)
    expect((applyDelta(base, Buffer.from([11, 8, 0])) as DeltaError).message).toMatch(/reserved/)
    expect((applyDelta(base, Buffer.from([11, 8, 5, 1])) as DeltaError).message).toMatch(
      /truncated/,
    )
  })
})
