/**
 * PackReader against packs the real git writes: every object resolves to exactly what
 * `git cat-file` gives (OFS and REF deltas, chains as deep as --depth=50 allows, thin
 * packs), whatever the chunking, with bounded caches; our .idx of a git pack equals git's;
 * and each kind of broken pack is a specific PackError.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hashObject } from "../../src/domain/git/GitObject.ts"
import type { ObjectId, ObjectType } from "../../src/domain/git/ObjectId.ts"
import { readPackIndex, writePackIndex } from "../../src/domain/git/PackIndex.ts"
import {
  type ExternalBase,
  PackError,
  type PackEntry,
  PackParser,
  PackResolver,
  type PackProblem,
  packIndexEntries,
  parsePack,
  readPack,
  resolvePack,
} from "../../src/domain/git/PackReader.ts"
import { PackWriter } from "../../src/domain/git/PackWriter.ts"
import type { StoredObject } from "../../src/services/ObjectStore.ts"
import {
  allObjects,
  fixTrailer,
  git,
  makeRepo,
  packObjects,
  prng,
  randomHistory,
  rawEntryHeader,
  rawPack,
  readAllObjects,
  removeTempDirs,
  tempDir,
} from "./gitFixture.ts"

afterAll(removeTempDirs)

let repo: string
let ids: string[]
let truth: Map<string, { type: string; content: Buffer }>

beforeAll(() => {
  repo = makeRepo(path.join(tempDir("reader"), "repo"))
  randomHistory(repo, { commits: 80, seed: 11 })
  ids = allObjects(repo).map((o) => o.id)
  truth = readAllObjects(repo, ids)
})

const all = () => `${ids.join("\n")}\n`

/** Feeds a pack in chunks of seeded random sizes (1 byte to 8 KiB). */
const parseChunked = (pack: Buffer, seed: number, options = {}) => {
  const parser = new PackParser(options)
  const rnd = prng(seed)
  for (let at = 0; at < pack.length; ) {
    const n = 1 + rnd.int(rnd.int(4) === 0 ? 16 : 8192)
    const err = parser.push(pack.subarray(at, at + n))
    if (err) return err
    at += n
  }
  return parser.end() ?? parser
}

const keepAll = () => true

/** Longest delta chain among resolved objects. */
const deepestChain = (objects: ReadonlyArray<StoredObject>) => {
  const baseOf = new Map<ObjectId, ObjectId>()
  for (const o of objects) if (o.repr.kind === "delta") baseOf.set(o.id, o.repr.base)
  const depthOf = new Map<ObjectId, number>()
  let deepest = 0
  for (const id of baseOf.keys()) {
    // Walk up to a known depth, then fill in the depths on the way back.
    const path: ObjectId[] = []
    let cur: ObjectId | undefined = id
    while (cur && baseOf.has(cur) && !depthOf.has(cur)) {
      path.push(cur)
      cur = baseOf.get(cur)
    }
    let depth = cur && depthOf.has(cur) ? depthOf.get(cur)! : 0
    for (let i = path.length - 1; i >= 0; i--) depthOf.set(path[i]!, ++depth)
    deepest = Math.max(deepest, depth)
  }
  return deepest
}

const expectProblem = (r: unknown, reason: PackProblem) => {
  expect(r).toBeInstanceOf(PackError)
  expect({ reason: (r as PackError).reason, message: (r as PackError).message }).toMatchObject({
    reason,
  })
  return r as PackError
}

describe("reading packs git wrote", () => {
  for (const [label, flags, kind] of [
    ["OFS deltas", ["--delta-base-offset", "--depth=50", "--window=50"], "ofs-delta"],
    ["REF deltas", ["--depth=50", "--window=50"], "ref-delta"],
  ] as const) {
    it(`resolves every object of a pack with ${label} to exactly what git cat-file gives`, () => {
      const pack = packObjects(repo, all(), ...flags)
      const parser = parseChunked(pack, 1)
      if (parser instanceof PackError) throw parser
      const kinds = new Set(parser.entries.map((e) => e.kind))
      expect(kinds.has(kind)).toBe(true)
      expect(kinds.has(kind === "ofs-delta" ? "ref-delta" : "ofs-delta")).toBe(false)
      const r = resolvePack(parser.entries, { keepContent: keepAll })
      if (r instanceof PackError) throw r
      expect(r.objects.length).toBe(ids.length)
      expect(deepestChain(r.objects)).toBeGreaterThanOrEqual(30)
      for (const o of r.objects) {
        const expected = truth.get(o.id)!
        expect({ id: o.id, type: o.type, size: o.size }).toEqual({
          id: o.id,
          type: expected.type,
          size: expected.content.length,
        })
        expect(r.contents.get(o.id)!.content.equals(expected.content)).toBe(true)
      }
    })
  }

  it("keeps each entry's deflated bytes: whole objects inflate to their content, deltas to their declared size", () => {
    const pack = packObjects(repo, all(), "--delta-base-offset")
    const r = readPack(pack)
    if (r instanceof PackError) throw r
    for (const o of r.objects) {
      const inflated = zlib.inflateSync(o.repr.deflated)
      if (o.repr.kind === "whole") expect(inflated.equals(truth.get(o.id)!.content)).toBe(true)
      else expect(inflated.length).toBe(o.repr.deltaSize)
    }
  })

  it("gives the same objects whatever the chunking, and with a cache too small to hold any base", () => {
    const pack = packObjects(repo, all(), "--delta-base-offset", "--depth=50")
    const whole = parsePack(pack)
    if (whole instanceof PackError) throw whole
    const reference = resolvePack(whole.entries)
    if (reference instanceof PackError) throw reference
    for (const seed of [2, 3, 4]) {
      const parser = parseChunked(pack, seed, { retainDeltaBytes: seed === 2 ? 0 : 1 << 20 })
      if (parser instanceof PackError) throw parser
      const r = resolvePack(parser.entries, { cacheBytes: seed === 4 ? 1 : 1 << 16 })
      if (r instanceof PackError) throw r
      expect(r.objects.map((o) => o.id)).toEqual(reference.objects.map((o) => o.id))
    }
    // Byte-at-a-time on the first few kilobytes still parses (headers split anywhere).
    const parser = new PackParser()
    for (let i = 0; i < 4096; i++) expect(parser.push(pack.subarray(i, i + 1))).toBeUndefined()
    expect(parser.push(pack.subarray(4096)) ?? parser.end()).toBeUndefined()
    expect(parser.entries.length).toBe(ids.length)
  })

  it("writes a .idx byte-identical to git index-pack's, and reads git's back", () => {
    const dir = tempDir("idx")
    const pack = packObjects(repo, all(), "--delta-base-offset", "--depth=50")
    const parsed = parsePack(pack)
    if (parsed instanceof PackError) throw parsed
    const r = resolvePack(parsed.entries)
    if (r instanceof PackError) throw r
    const packPath = path.join(dir, "p.pack")
    fs.writeFileSync(packPath, pack)
    git(dir, "index-pack", "-o", path.join(dir, "git.idx"), packPath)
    const gitIdx = fs.readFileSync(path.join(dir, "git.idx"))
    const ours = writePackIndex(packIndexEntries(parsed.entries, r), parsed.checksum)
    expect(ours.equals(gitIdx)).toBe(true)
    const index = readPackIndex(gitIdx)
    if ("message" in index) throw index
    expect(index.count).toBe(ids.length)
    for (let i = 0; i < parsed.entries.length; i++) {
      expect(index.lookup(r.objects[i]!.id)).toBe(parsed.entries[i]!.offset)
      expect(index.crcOf(r.objects[i]!.id)).toBe(parsed.entries[i]!.crc32)
    }
    expect(index.lookup("0".repeat(40) as ObjectId)).toBeUndefined()
  })

  it("resolves a delta chain thousands deep without recursion", () => {
    const depth = 3000
    // Each version changes one byte of the previous one: copy, insert one byte, copy.
    const versions: Buffer[] = [Buffer.alloc(1000, 0x2e)]
    const deltas: Buffer[] = []
    for (let i = 1; i <= depth; i++) {
      const prev = versions[i - 1]!
      const at = i % prev.length
      const next = Buffer.from(prev)
      next[at] = 0x41 + (i % 26)
      versions.push(next)
      const parts = [varint(prev.length), varint(next.length)]
      if (at > 0) parts.push(copyOp(0, at))
      parts.push(Buffer.from([1, next[at]!]))
      if (at + 1 < prev.length) parts.push(copyOp(at + 1, prev.length - at - 1))
      deltas.push(Buffer.concat(parts))
    }
    const writer = new PackWriter({ count: depth + 1 })
    const parts = [
      writer.header(),
      writer.write({ kind: "content", type: "blob", content: versions[0]! }) as Buffer,
    ]
    for (let i = 1; i <= depth; i++)
      parts.push(
        writer.write({
          kind: "delta",
          id: hashObject("blob", versions[i]!),
          base: hashObject("blob", versions[i - 1]!),
          deltaSize: deltas[i - 1]!.length,
          deflated: zlib.deflateSync(deltas[i - 1]!),
        }) as Buffer,
      )
    parts.push(writer.trailer() as Buffer)
    const parsed = parsePack(Buffer.concat(parts))
    if (parsed instanceof PackError) throw parsed
    // Both with room for the chain and with a cache smaller than one object.
    for (const cacheBytes of [1 << 24, 100]) {
      const r = resolvePack(parsed.entries, { keepContent: keepAll, cacheBytes })
      if (r instanceof PackError) throw r
      expect(deepestChain(r.objects)).toBe(depth)
      expect(r.objects.map((o) => o.id)).toEqual(versions.map((v) => hashObject("blob", v)))
    }
  })
})

const varint = (n: number) => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}

/** A copy instruction with all offset and size bytes present where non-zero. */
const copyOp = (offset: number, size: number) => {
  const bytes: number[] = []
  let op = 0x80
  for (let i = 0; i < 4; i++)
    if ((offset >>> (8 * i)) & 0xff) {
      op |= 1 << i
      bytes.push((offset >>> (8 * i)) & 0xff)
    }
  for (let i = 0; i < 3; i++)
    if ((size >>> (8 * i)) & 0xff) {
      op |= 0x10 << i
      bytes.push((size >>> (8 * i)) & 0xff)
    }
  return Buffer.from([op, ...bytes])
}

describe("thin packs", () => {
  const thinPack = () => {
    const head = git(repo, "rev-parse", "HEAD").trim()
    return packObjects(repo, `${head}\n^${head}~6\n`, "--revs", "--thin", "--delta-base-offset")
  }
  const lookup = (id: ObjectId): ExternalBase | undefined => {
    const o = truth.get(id)
    return o ? { type: o.type as ObjectType, content: o.content } : undefined
  }

  it("asks for exactly the bases outside the pack, then resolves every object as git stores it", () => {
    const parsed = parsePack(thinPack())
    if (parsed instanceof PackError) throw parsed
    const resolver = new PackResolver(parsed.entries, { keepContent: keepAll })
    const first = resolver.step()
    if (first instanceof PackError || first._tag !== "NeedBases")
      throw new Error(`expected NeedBases, got ${JSON.stringify(first)}`)
    const inPack = new Set(
      parsed.entries.filter((e) => e.kind === "whole").map((e) => (e as { id: ObjectId }).id),
    )
    expect(first.ids.length).toBeGreaterThan(0)
    for (const id of first.ids) {
      expect(inPack.has(id)).toBe(false)
      expect(truth.has(id)).toBe(true)
    }
    resolver.provide(new Map(first.ids.map((id) => [id, lookup(id)])))
    const done = resolver.step()
    if (done instanceof PackError || done._tag !== "Done") throw new Error("expected Done")
    expect(done.result.externalBases.length).toBe(first.ids.length)
    for (const o of done.result.objects)
      expect(done.result.contents.get(o.id)!.content.equals(truth.get(o.id)!.content)).toBe(true)
    // The same through a synchronous lookup.
    const again = resolvePack(parsed.entries, lookup)
    if (again instanceof PackError) throw again
    expect(again.objects.map((o) => o.id)).toEqual(done.result.objects.map((o) => o.id))
  })

  it("names the missing base when the caller has none, and refuses a base that is not what it claims", () => {
    const parsed = parsePack(thinPack())
    if (parsed instanceof PackError) throw parsed
    const missing = expectProblem(resolvePack(parsed.entries, new Map()), "missing-base")
    expect(truth.has(missing.id!)).toBe(true)
    expect(missing.message).toContain(missing.id)
    const lying = expectProblem(
      resolvePack(parsed.entries, (id) => ({ type: "blob", content: Buffer.from(`not ${id}`) })),
      "id-mismatch",
    )
    expect(lying.id).toMatch(/^[0-9a-f]{40}$/)
  })

  it("can be stepped with a small budget, so a caller can yield between steps", () => {
    const parsed = parsePack(thinPack())
    if (parsed instanceof PackError) throw parsed
    const resolver = new PackResolver(parsed.entries, { external: lookup })
    let steps = 0
    for (;;) {
      const s = resolver.step(3)
      if (s instanceof PackError) throw s
      steps++
      if (s._tag === "Done") {
        expect(s.result.objects.length).toBe(parsed.entries.length)
        break
      }
      expect(s._tag).toBe("More")
    }
    expect(steps).toBeGreaterThan(1)
  })
})

describe("broken packs are specific PackErrors", () => {
  let pack: Buffer
  let parsed: { entries: PackEntry[]; checksum: Buffer }
  beforeAll(() => {
    pack = packObjects(repo, all(), "--delta-base-offset")
    parsed = parsePack(pack) as typeof parsed
  })
  const blobBytes = Buffer.from("a base blob with some text in it\n")
  const blobEntry = () =>
    Buffer.concat([rawEntryHeader(3, blobBytes.length), zlib.deflateSync(blobBytes)])

  it("truncated anywhere: inside the header, an entry or the trailer", () => {
    expectProblem(readPack(pack.subarray(0, 7)), "truncated")
    expectProblem(readPack(pack.subarray(0, pack.length - 100)), "truncated")
    expectProblem(readPack(pack.subarray(0, pack.length - 5)), "truncated")
    expectProblem(readPack(Buffer.alloc(0)), "truncated")
  })

  it("a flipped trailer byte is a checksum mismatch", () => {
    const flipped = Buffer.from(pack)
    flipped[flipped.length - 1]! ^= 1
    expectProblem(readPack(flipped), "checksum")
  })

  it("a wrong signature or version", () => {
    expectProblem(readPack(Buffer.from("NOTAPACK0000000000000000")), "signature")
    expectProblem(readPack(rawPack([blobEntry()], { version: 4 })), "version")
  })

  it("an object count that disagrees with the objects present, either way", () => {
    expectProblem(readPack(rawPack([blobEntry()], { count: 2 })), "count")
    expectProblem(readPack(rawPack([blobEntry(), blobEntry()], { count: 1 })), "count")
  })

  it("corrupt zlib data (a broken checksum inside the stream)", () => {
    const stream = zlib.deflateSync(blobBytes)
    stream[stream.length - 1]! ^= 0xff
    expectProblem(
      readPack(rawPack([Buffer.concat([rawEntryHeader(3, blobBytes.length), stream])])),
      "zlib",
    )
    // And a corrupted byte inside a real pack's first entry, trailer fixed up.
    const corrupt = Buffer.from(pack)
    corrupt[12 + 4]! ^= 0xff
    expect(["zlib", "size"]).toContain((readPack(fixTrailer(corrupt)) as PackError).reason)
  })

  it("a missing delta base is named", () => {
    const absent = "1234567890123456789012345678901234567890" as ObjectId
    const delta = Buffer.concat([varint(5), varint(5), copyOp(0, 5)])
    const entry = Buffer.concat([
      rawEntryHeader(7, delta.length),
      Buffer.from(absent, "hex"),
      zlib.deflateSync(delta),
    ])
    const e = expectProblem(readPack(rawPack([entry])), "missing-base")
    expect(e.id).toBe(absent)
    expect(e.message).toContain(absent)
  })

  it("a delta that copies outside its base", () => {
    const baseId = hashObject("blob", blobBytes)
    const delta = Buffer.concat([
      varint(blobBytes.length),
      varint(10),
      copyOp(blobBytes.length - 2, 10),
    ])
    const entry = Buffer.concat([
      rawEntryHeader(7, delta.length),
      Buffer.from(baseId, "hex"),
      zlib.deflateSync(delta),
    ])
    const e = expectProblem(readPack(rawPack([blobEntry(), entry])), "delta")
    expect(e.delta).toBe("out-of-bounds")
  })

  it("an entry whose size disagrees with its data, an invalid type, an OFS delta pointing nowhere", () => {
    const wrongSize = Buffer.concat([
      rawEntryHeader(3, blobBytes.length + 3),
      zlib.deflateSync(blobBytes),
    ])
    expectProblem(readPack(rawPack([wrongSize])), "size")
    const badType = Buffer.concat([
      rawEntryHeader(5, blobBytes.length),
      zlib.deflateSync(blobBytes),
    ])
    expectProblem(readPack(rawPack([badType])), "type")
    const delta = Buffer.concat([varint(5), varint(5), copyOp(0, 5)])
    const ofs = Buffer.concat([
      rawEntryHeader(6, delta.length),
      Buffer.from([3]),
      zlib.deflateSync(delta),
    ])
    expectProblem(readPack(rawPack([blobEntry(), ofs])), "offset")
  })

  it("refuses an entry larger than the configured limit before inflating it", () => {
    const parser = new PackParser({ maxObjectSize: 16 })
    expectProblem(parser.push(rawPack([blobEntry()])) ?? parser.end(), "too-large")
  })

  it("errors are sticky: pushing more after an error repeats it", () => {
    const parser = new PackParser()
    const first = parser.push(Buffer.from("JUNKJUNKJUNKJUNK"))
    expect(first).toBeInstanceOf(PackError)
    expect(parser.push(pack)).toBe(first)
    expect(parser.end()).toBe(first)
    expect(parsed.entries.length).toBe(ids.length)
  })
})
