/**
 * The pack entry inflater agrees with zlib: for streams zlib writes (every level and
 * strategy, so stored, fixed and dynamic blocks) it gives the same bytes and finds the
 * stream's exact end; truncated streams are "incomplete"; corrupted ones fail (or, when zlib
 * also accepts them, give zlib's bytes); nothing throws.
 */
import * as zlib from "node:zlib"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  inflateEntry,
  inflateLarge,
  inflateSmall,
  JS_INFLATE_LIMIT,
} from "../../src/domain/git/Inflate.ts"

const runs = Number(process.env.GUTS_FUZZ_RUNS ?? 200)

const STRATEGIES = [
  zlib.constants.Z_DEFAULT_STRATEGY,
  zlib.constants.Z_FILTERED,
  zlib.constants.Z_HUFFMAN_ONLY,
  zlib.constants.Z_RLE,
  zlib.constants.Z_FIXED,
]

/** Bytes with some repetition, like text: literals from a small alphabet and back-references. */
const textLike = fc
  .tuple(fc.integer({ min: 0, max: 6000 }), fc.integer({ min: 1, max: 255 }), fc.integer())
  .map(([size, alphabet, seed]) => {
    let s = seed >>> 0
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0
      return s / 4294967296
    }
    const b = Buffer.alloc(size)
    for (let i = 0; i < size; i++)
      b[i] =
        i > 8 && next() < 0.4 ? b[i - 1 - Math.floor(next() * 8)]! : Math.floor(next() * alphabet)
    return b
  })

const settings = fc.tuple(fc.integer({ min: 0, max: 9 }), fc.constantFrom(...STRATEGIES))

describe("inflating pack entries", () => {
  it("gives zlib's bytes and the exact stream length, with data after the stream", () => {
    fc.assert(
      fc.property(textLike, settings, (data, [level, strategy]) => {
        const stream = zlib.deflateSync(data, { level, strategy })
        const input = Buffer.concat([stream, Buffer.from("next entry")])
        for (const inflate of [inflateSmall, inflateLarge, inflateEntry]) {
          const r = inflate(input, data.length)
          if (typeof r === "string" || !("out" in r))
            throw new Error(`failed: ${JSON.stringify(r)}`)
          expect(r.out.equals(data)).toBe(true)
          expect(r.used).toBe(stream.length)
        }
      }),
      { numRuns: runs },
    )
  })

  it("reports a truncated stream as incomplete and a wrong declared size as a size failure", () => {
    fc.assert(
      fc.property(textLike, settings, fc.nat(), (data, [level, strategy], cut) => {
        const stream = zlib.deflateSync(data, { level, strategy })
        expect(inflateSmall(stream.subarray(0, cut % stream.length), data.length)).toBe(
          "incomplete",
        )
        const smaller = inflateSmall(stream, Math.max(0, data.length - 1))
        if (data.length > 0) expect(smaller).toMatchObject({ kind: "size" })
        expect(inflateSmall(stream, data.length + 1)).toMatchObject({ kind: "size" })
      }),
      { numRuns: runs },
    )
  })

  it("refuses corrupted streams, or agrees with zlib when the damage is harmless", () => {
    fc.assert(
      fc.property(
        textLike,
        settings,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), {
          minLength: 1,
          maxLength: 3,
        }),
        (data, [level, strategy], flips) => {
          const stream = zlib.deflateSync(data, { level, strategy })
          for (const [at, bit] of flips) stream[at % stream.length]! ^= 1 << bit
          let expected: Buffer | undefined
          try {
            expected = zlib.inflateSync(stream)
          } catch {
            expected = undefined
          }
          const r = inflateSmall(stream, data.length)
          if (typeof r !== "string" && "out" in r)
            expect(expected && r.out.equals(expected)).toBe(true)
          else expect(r === "incomplete" || r.kind === "zlib" || r.kind === "size").toBe(true)
        },
      ),
      { numRuns: runs },
    )
  })

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 5000 }), (bytes, size) => {
        for (const inflate of [inflateSmall, inflateLarge]) {
          const r = inflate(bytes, size)
          expect(r === "incomplete" || "out" in r || ["zlib", "size"].includes(r.kind)).toBe(true)
        }
      }),
      { numRuns: runs },
    )
  })

  it("uses node:zlib above the size limit, with the same answers", () => {
    const data = Buffer.from("x".repeat(JS_INFLATE_LIMIT * 3))
    const r = inflateEntry(
      Buffer.concat([zlib.deflateSync(data), Buffer.from("tail")]),
      data.length,
    )
    expect(typeof r !== "string" && "out" in r && r.out.equals(data)).toBe(true)
    expect(inflateEntry(zlib.deflateSync(data), data.length - 1)).toMatchObject({ kind: "size" })
  })
})
