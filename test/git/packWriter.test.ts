/**
 * PackWriter against the real git: packs we write — whole objects, reused deltas as OFS or
 * REF, fresh deltas from `deltify`, thin packs — are accepted by `git index-pack` and
 * `git verify-pack`, hold exactly the objects we put in, and our .idx for them is the one
 * git writes.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { applyDelta } from "../../src/domain/git/Delta.ts"
import { hashObject } from "../../src/domain/git/GitObject.ts"
import type { ObjectId, ObjectType } from "../../src/domain/git/ObjectId.ts"
import { writePackIndex } from "../../src/domain/git/PackIndex.ts"
import { PackError, type PackEntry, parsePack, readPack } from "../../src/domain/git/PackReader.ts"
import {
  deltify,
  itemFromStored,
  type PackItem,
  PackWriteError,
  PackWriter,
  writePack,
  writePackAsync,
} from "../../src/domain/git/PackWriter.ts"
import { SIDEBAND_64K_PAYLOAD } from "../../src/domain/git/PktLine.ts"
import {
  allObjects,
  git,
  gitInput,
  gitTry,
  makeRepo,
  packObjects,
  randomHistory,
  readAllObjects,
  removeTempDirs,
  tempDir,
} from "./gitFixture.ts"

afterAll(removeTempDirs)

let repo: string
let objects: Array<{ id: string; type: string; size: number }>
let truth: Map<string, { type: string; content: Buffer }>

beforeAll(() => {
  repo = makeRepo(path.join(tempDir("writer"), "repo"))
  randomHistory(repo, { commits: 60, seed: 21 })
  objects = allObjects(repo)
  truth = readAllObjects(
    repo,
    objects.map((o) => o.id),
  )
})

/** Writes items into a pack with the given options, returning the bytes. */
const packOf = (
  items: ReadonlyArray<PackItem>,
  options: { ofsDelta?: boolean; thin?: boolean } = {},
) => {
  const writer = new PackWriter({ count: items.length, ...options })
  const parts = [writer.header()]
  for (const item of items) {
    const bytes = writer.write(item)
    if (bytes instanceof PackWriteError) throw bytes
    parts.push(bytes)
  }
  const trailer = writer.trailer()
  if (trailer instanceof PackWriteError) throw trailer
  parts.push(trailer)
  return { bytes: Buffer.concat(parts), writer }
}

/** A fresh bare repository fed the pack with `git index-pack --stdin` (+ extra flags). */
const feed = (bytes: Buffer, ...flags: string[]) => {
  const bare = makeRepo(path.join(tempDir("feed"), "bare.git"), { bare: true })
  const r = gitTry(bare, bytes, "index-pack", "--stdin", ...flags)
  return { bare, code: r.code, stderr: r.stderr }
}

const objectSet = (bare: string) =>
  allObjects(bare)
    .map((o) => `${o.id} ${o.type}`)
    .sort()

const expectedSet = () => objects.map((o) => `${o.id} ${o.type}`).sort()

describe("packs git accepts", () => {
  it("a pack of raw contents (deflated by the writer) passes index-pack --strict and holds exactly those objects", () => {
    const items: PackItem[] = objects.map((o) => ({
      kind: "content",
      type: o.type as ObjectType,
      content: truth.get(o.id)!.content,
    }))
    const { bytes } = packOf(items)
    const fed = feed(bytes, "--strict")
    expect({ code: fed.code, stderr: fed.stderr }).toEqual({ code: 0, stderr: "" })
    expect(objectSet(fed.bare)).toEqual(expectedSet())
  })

  for (const ofsDelta of [true, false]) {
    it(`stored representations reused verbatim become ${ofsDelta ? "OFS" : "REF"} deltas; git accepts the pack and our .idx is git's`, () => {
      const source = readPack(
        packObjects(repo, objects.map((o) => o.id).join("\n"), "--delta-base-offset", "--depth=50"),
      )
      if (source instanceof PackError) throw source
      const { bytes, writer } = packOf(source.objects.map(itemFromStored), { ofsDelta })
      const reparsed = parsePack(bytes)
      if (reparsed instanceof PackError) throw reparsed
      const kinds = new Set(reparsed.entries.map((e: PackEntry) => e.kind))
      expect(kinds.has(ofsDelta ? "ofs-delta" : "ref-delta")).toBe(true)
      expect(kinds.has(ofsDelta ? "ref-delta" : "ofs-delta")).toBe(false)
      // Bytes reused verbatim: each entry's zlib stream is the stored one.
      reparsed.entries.forEach((e, i) => {
        expect(e.deflated.equals(source.objects[i]!.repr.deflated)).toBe(true)
      })

      const dir = tempDir("verify")
      const packPath = path.join(dir, "ours.pack")
      fs.writeFileSync(packPath, bytes)
      const ourIdx = writePackIndex(writer.indexEntries(), writer.packChecksum!)
      git(dir, "index-pack", "-o", path.join(dir, "git.idx"), packPath)
      expect(ourIdx.equals(fs.readFileSync(path.join(dir, "git.idx")))).toBe(true)
      // Our idx next to our pack: git verify-pack checks both against each other.
      fs.writeFileSync(path.join(dir, "ours.idx"), ourIdx)
      const verify = gitTry(dir, undefined, "verify-pack", "-v", path.join(dir, "ours.idx"))
      expect(verify.code).toBe(0)
      expect(verify.stdout.toString()).toMatch(/chain length = \d+: \d+ objects?/)

      const fed = feed(bytes, "--strict")
      expect({ code: fed.code, stderr: fed.stderr }).toEqual({ code: 0, stderr: "" })
      expect(objectSet(fed.bare)).toEqual(expectedSet())
    })
  }

  it("deltify: blobs as deltas over the previous version of their path, accepted by git and much smaller", () => {
    // Every version of CHANGELOG.md, oldest first, each a delta over the previous one.
    const commits = git(repo, "log", "--reverse", "--format=%H", "--", "CHANGELOG.md")
      .trim()
      .split("\n")
    const versions = gitInput(
      repo,
      commits.map((c) => `${c}:CHANGELOG.md\n`).join(""),
      "cat-file",
      "--batch-check=%(objectname)",
    )
      .toString()
      .trim()
      .split("\n")
    const unique = [...new Set(versions)]
    const items: PackItem[] = []
    let deltaBytes = 0
    let wholeBytes = 0
    for (let i = 0; i < unique.length; i++) {
      const content = truth.get(unique[i]!)!.content
      wholeBytes += content.length
      const base = i > 0 ? unique[i - 1]! : undefined
      const delta = base
        ? deltify(
            { type: "blob", content },
            { id: base as ObjectId, type: "blob", content: truth.get(base)!.content },
          )
        : undefined
      if (delta) {
        expect(applyDelta(truth.get(base!)!.content, zlib.inflateSync(delta.deflated))).toEqual(
          content,
        )
        deltaBytes += delta.deltaSize
        items.push(delta)
      } else items.push({ kind: "content", type: "blob", content })
    }
    // Every version past the first few lines is a delta; tiny ones are not worth one.
    const sizable = unique.slice(1).filter((id) => truth.get(id)!.content.length >= 200).length
    expect(sizable).toBeGreaterThan(40)
    expect(items.filter((i) => i.kind === "delta").length).toBeGreaterThanOrEqual(sizable)
    expect(deltaBytes).toBeLessThan(wholeBytes / 10)
    const { bytes } = packOf(items)
    const fed = feed(bytes)
    expect({ code: fed.code, stderr: fed.stderr }).toEqual({ code: 0, stderr: "" })
    expect(
      allObjects(fed.bare)
        .map((o) => o.id)
        .sort(),
    ).toEqual([...unique].sort())
  })

  it("deltify declines when a delta would not pay: different types, unrelated or tiny content", () => {
    const a = {
      id: hashObject("blob", Buffer.from("x")),
      type: "blob" as const,
      content: Buffer.alloc(5000, 1),
    }
    expect(deltify({ type: "tree", content: Buffer.alloc(5000, 1) }, a)).toBeUndefined()
    const noise = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251))
    expect(deltify({ type: "blob", content: noise }, a)).toBeUndefined()
    expect(deltify({ type: "blob", content: Buffer.from("tiny") }, a)).toBeUndefined()
    expect(
      deltify(
        { type: "blob", content: Buffer.concat([Buffer.alloc(5000, 1), Buffer.from("!")]) },
        a,
      ),
    ).toBeDefined()
  })

  it("a thin pack (deltas over objects the receiver has) is completed by git index-pack --fix-thin", () => {
    const head = git(repo, "rev-parse", "HEAD").trim()
    const old = `${head}~5`
    // The receiver: a repository holding history up to old.
    const receiver = makeRepo(path.join(tempDir("thin"), "r.git"), { bare: true })
    git(repo, "push", "-q", receiver, `${old}:refs/heads/main`)
    const newIds = git(repo, "rev-list", "--objects", "--no-object-names", head, `^${old}`)
      .trim()
      .split("\n")
    const oldTree = new Map(
      git(repo, "ls-tree", "-r", old)
        .trim()
        .split("\n")
        .map((l) => {
          const [meta, name] = l.split("\t")
          return [name!, meta!.split(" ")[2]!]
        }),
    )
    const newPaths = new Map(
      git(repo, "ls-tree", "-r", head)
        .trim()
        .split("\n")
        .map((l) => {
          const [meta, name] = l.split("\t")
          return [meta!.split(" ")[2]!, name!]
        }),
    )
    let thinDeltas = 0
    const writer = new PackWriter({ count: newIds.length, thin: true })
    const parts = [writer.header()]
    for (const id of newIds) {
      const o = truth.get(id)!
      const basePath = newPaths.get(id)
      const baseId = basePath ? oldTree.get(basePath) : undefined
      const delta =
        o.type === "blob" && baseId && writer.canDelta(baseId as ObjectId)
          ? deltify(
              { type: "blob", content: o.content, id: id as ObjectId },
              {
                id: baseId as ObjectId,
                type: "blob",
                content: truth.get(baseId)!.content,
              },
            )
          : undefined
      if (delta) thinDeltas++
      parts.push(
        writer.write(
          delta ?? { kind: "content", type: o.type as ObjectType, content: o.content },
        ) as Buffer,
      )
    }
    parts.push(writer.trailer() as Buffer)
    expect(thinDeltas).toBeGreaterThan(0)
    const r = gitTry(receiver, Buffer.concat(parts), "index-pack", "--stdin", "--fix-thin")
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" })
    git(receiver, "update-ref", "refs/heads/main", head)
    expect(gitTry(receiver, undefined, "fsck", "--connectivity-only").code).toBe(0)
    for (const id of newIds)
      expect(git(receiver, "cat-file", "-t", id).trim()).toBe(truth.get(id)!.type)
  })
})

describe("the writer's contract", () => {
  const blob = (s: string) => ({
    kind: "content" as const,
    type: "blob" as const,
    content: Buffer.from(s),
  })

  it("refuses a delta whose base is not in the pack unless thin packs are allowed; canDelta tells first", () => {
    const base = hashObject("blob", Buffer.from("base"))
    const delta: PackItem = {
      kind: "delta",
      id: hashObject("blob", Buffer.from("x")),
      base,
      deltaSize: 3,
      deflated: zlib.deflateSync(Buffer.from([4, 1, 0])),
    }
    const strict = new PackWriter({ count: 2 })
    strict.header()
    expect(strict.canDelta(base)).toBe(false)
    const refused = strict.write(delta)
    expect(refused).toBeInstanceOf(PackWriteError)
    expect((refused as PackWriteError).reason).toBe("base-not-sent")
    expect(strict.write(blob("base"))).toBeInstanceOf(Buffer)
    expect(strict.canDelta(base)).toBe(true)
    const thin = new PackWriter({ count: 1, thin: true })
    thin.header()
    expect(thin.canDelta(base)).toBe(true)
    expect(thin.write(delta)).toBeInstanceOf(Buffer)
  })

  it("refuses more or fewer objects than the header announced", () => {
    const w = new PackWriter({ count: 1 })
    w.header()
    expect((w.trailer() as PackWriteError).reason).toBe("count")
    expect(w.write(blob("one"))).toBeInstanceOf(Buffer)
    expect((w.write(blob("two")) as PackWriteError).reason).toBe("count")
    expect(w.trailer()).toBeInstanceOf(Buffer)
  })

  it("streams the same bytes in side-band-sized chunks, sync and async", async () => {
    const items = objects.slice(0, 200).map((o) => ({
      kind: "content" as const,
      type: o.type as ObjectType,
      content: truth.get(o.id)!.content,
    }))
    const { bytes } = packOf(items)
    const chunks = [...writePack(items, { count: items.length })]
    expect(chunks.every((c) => c.length <= SIDEBAND_64K_PAYLOAD)).toBe(true)
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true)
    async function* source() {
      for (const item of items) yield item
    }
    const asyncChunks: Buffer[] = []
    for await (const c of writePackAsync(source(), { count: items.length, chunkSize: 1000 }))
      asyncChunks.push(c)
    expect(asyncChunks.every((c) => c.length <= 1000)).toBe(true)
    expect(Buffer.concat(asyncChunks).equals(bytes)).toBe(true)
    expect(() => [...writePack(items, { count: items.length + 1 })]).toThrow(PackWriteError)
  })
})
