/**
 * Pack index v2 details beyond the git interoperability tests (in packReader and
 * packWriter): CRC32 matches zlib's, offsets past 2 GiB go through the 8-byte table and
 * back, lookups find every id, and a damaged index is a PackIndexError.
 */
import { createHash } from "node:crypto"
import * as zlib from "node:zlib"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import {
  crc32,
  crc32Table,
  type IndexEntry,
  PackIndexError,
  readPackIndex,
  writePackIndex,
} from "../../src/domain/git/PackIndex.ts"

const runs = Number(process.env.GUTS_FUZZ_RUNS ?? 200)

const idOf = (n: number) => createHash("sha1").update(String(n)).digest("hex") as ObjectId

describe("CRC32", () => {
  it("the table implementation equals zlib's, also when continued across pieces", () => {
    const native = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const whole = Buffer.concat([a, b])
        expect(crc32Table(b, crc32Table(a))).toBe(crc32Table(whole))
        expect(crc32(b, crc32(a))).toBe(crc32Table(whole))
        if (native) expect(crc32Table(whole)).toBe(native(whole) >>> 0)
      }),
      { numRuns: runs },
    )
    expect(crc32Table(Buffer.from("123456789"))).toBe(0xcbf43926)
  })
})

describe("index files", () => {
  const packChecksum = createHash("sha1").update("pack").digest()

  it("round-trips offsets below and beyond 2 GiB (the 8-byte offset table)", () => {
    const entries: IndexEntry[] = Array.from({ length: 300 }, (_, i) => ({
      id: idOf(i),
      offset: i % 3 === 0 ? 2 ** 31 + i * 1_000_003 : 12 + i * 977,
      crc32: (i * 2654435761) >>> 0,
    }))
    const idx = writePackIndex(entries, packChecksum)
    const large = entries.filter((e) => e.offset >= 2 ** 31).length
    expect(idx.length).toBe(8 + 1024 + 300 * 28 + large * 8 + 40)
    const index = readPackIndex(idx)
    if (index instanceof PackIndexError) throw index
    expect(index.count).toBe(300)
    expect(index.packChecksum.equals(packChecksum)).toBe(true)
    for (const e of entries) {
      expect(index.lookup(e.id)).toBe(e.offset)
      expect(index.crcOf(e.id)).toBe(e.crc32)
    }
    expect(index.lookup(idOf(1000))).toBeUndefined()
    expect(index.lookup("not an id" as ObjectId)).toBeUndefined()
    expect(index.entries().map((e) => e.id)).toEqual(entries.map((e) => e.id).sort())
  })

  it("an empty pack has an index too", () => {
    const index = readPackIndex(writePackIndex([], packChecksum))
    if (index instanceof PackIndexError) throw index
    expect(index.count).toBe(0)
    expect(index.lookup(idOf(1))).toBeUndefined()
  })

  it("a damaged index is a PackIndexError saying what is wrong", () => {
    const idx = writePackIndex(
      Array.from({ length: 10 }, (_, i) => ({ id: idOf(i), offset: 12 + i, crc32: i })),
      packChecksum,
    )
    const reseal = (b: Buffer) => {
      const out = Buffer.from(b)
      createHash("sha1")
        .update(out.subarray(0, out.length - 20))
        .digest()
        .copy(out, out.length - 20)
      return out
    }
    const message = (b: Buffer) => (readPackIndex(b) as PackIndexError).message
    expect(message(idx.subarray(0, 100))).toMatch(/truncated/)
    const magic = Buffer.from(idx)
    magic[0] = 0
    expect(message(reseal(magic))).toMatch(/version 2/)
    const flipped = Buffer.from(idx)
    flipped[2000 % idx.length]! ^= 1
    expect(message(flipped)).toMatch(/checksum/)
    const fanout = Buffer.from(idx)
    fanout.writeUInt32BE(0xffff, 8 + 10 * 4)
    expect(message(reseal(fanout))).toMatch(/monotonic|truncated/)
    const unsorted = Buffer.from(idx)
    unsorted.copy(unsorted, 8 + 1024, 8 + 1024 + 20, 8 + 1024 + 40) // first id := second id
    expect(message(reseal(unsorted))).toMatch(/sorted/)
  })

  it("never throws on random or mutated bytes", () => {
    const idx = writePackIndex(
      Array.from({ length: 5 }, (_, i) => ({ id: idOf(i), offset: 12 + i, crc32: i })),
      packChecksum,
    )
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 1200 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        (random, edits) => {
          expect(readPackIndex(Buffer.from(random))).toBeInstanceOf(PackIndexError)
          const m = Buffer.from(idx)
          for (const [at, v] of edits) m[at % (m.length - 20)] = v
          createHash("sha1")
            .update(m.subarray(0, m.length - 20))
            .digest()
            .copy(m, m.length - 20)
          const r = readPackIndex(m)
          if (!(r instanceof PackIndexError))
            for (const e of r.entries()) expect(r.lookup(e.id)).toBe(e.offset)
        },
      ),
      { numRuns: runs },
    )
  })
})
