import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  decodeVarint,
  decodeVarintExact,
  encodeVarint,
  varintLength,
} from "../../src/domain/consensus/Varint.ts"
import { U64_MAX } from "../../src/domain/consensus/Types.ts"

const u64 = fc.bigInt({ min: 0n, max: U64_MAX })
const problem = (bytes: number[]) => {
  const r = decodeVarintExact(Uint8Array.from(bytes))
  return Either.isLeft(r) ? r.left.problem : `ok ${r.right}`
}

describe("Varint (unsigned LEB128, u64)", () => {
  it("encodes known values to their minimal LEB128 form", () => {
    expect([...encodeVarint(0n)]).toEqual([0])
    expect([...encodeVarint(127n)]).toEqual([0x7f])
    expect([...encodeVarint(128n)]).toEqual([0x80, 0x01])
    expect([...encodeVarint(300n)]).toEqual([0xac, 0x02])
    expect([...encodeVarint(U64_MAX)]).toEqual([
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ])
  })

  it("round-trips every u64", () => {
    fc.assert(
      fc.property(u64, (v) => {
        const bytes = encodeVarint(v)
        expect(bytes.length).toBe(varintLength(v))
        expect(decodeVarintExact(bytes)).toEqual(Either.right(v))
      }),
    )
  })

  it("rejects overlong encodings", () => {
    expect(problem([0x80, 0x00])).toBe("Overlong")
    expect(problem([0x81, 0x80, 0x00])).toBe("Overlong")
    expect(problem([0xff, 0xff, 0xff, 0xff, 0x80, 0x00])).toBe("Overlong")
  })

  it("rejects values above 2^64-1 and encodings longer than ten bytes", () => {
    expect(problem([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])).toBe("Overflow")
    expect(problem([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00])).toBe(
      "Overflow",
    )
  })

  it("rejects truncated input and trailing bytes", () => {
    expect(problem([])).toBe("Truncated")
    expect(problem([0x80])).toBe("Truncated")
    expect(problem([0xff, 0xff, 0xff, 0xff, 0xff])).toBe("Truncated")
    expect(problem([0x01, 0x00])).toBe("TrailingBytes")
  })

  it("reports the offset after a varint inside a larger buffer", () => {
    const r = decodeVarint(Uint8Array.from([9, 0xac, 0x02, 7]), 1)
    expect(r).toEqual(Either.right({ value: 300n, next: 3 }))
  })

  it("never throws on random bytes, and accepts only canonical encodings", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 14 }), (bytes) => {
        const r = decodeVarintExact(bytes)
        if (Either.isRight(r)) expect([...encodeVarint(r.right)]).toEqual([...bytes])
      }),
      { numRuns: 5000 },
    )
  })

  it("refuses to encode values outside u64 (programmer error)", () => {
    expect(() => encodeVarint(-1n)).toThrow()
    expect(() => encodeVarint(U64_MAX + 1n)).toThrow()
  })
})
