/**
 * Deltas: applying checks every bound and names what is wrong; the generator's deltas
 * rebuild their target exactly and are small for similar inputs. (That git accepts our
 * deltas and we apply git's is proven in the pack tests.)
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  applyDelta,
  createDelta,
  DeltaError,
  type DeltaProblem,
  deltaHeader,
  deltaTargetSize,
} from "../../src/domain/git/Delta.ts"

const runs = Number(process.env.GUTS_FUZZ_RUNS ?? 200)

const problem = (r: Buffer | DeltaError): DeltaProblem | "ok" =>
  r instanceof DeltaError ? r.reason : "ok"

describe("applying deltas", () => {
  const base = Buffer.from("hello world")

  it("copies and inserts", () => {
    // source 11, target 8: copy offset 6 size 5 ("world"), insert "!!!"
    const delta = Buffer.from([11, 8, 0x80 | 0x01 | 0x10, 6, 5, 3, 0x21, 0x21, 0x21])
    expect((applyDelta(base, delta) as Buffer).toString()).toBe("world!!!")
    expect(deltaHeader(delta)).toEqual({ sourceSize: 11, targetSize: 8, headerLength: 2 })
    expect(deltaTargetSize(delta)).toBe(8)
  })

  it("reads a copy with no size bytes as 0x10000 bytes", () => {
    const big = Buffer.alloc(0x10000, 7)
    const delta = Buffer.from([0x80, 0x80, 0x04, 0x80, 0x80, 0x04, 0x80])
    expect((applyDelta(big, delta) as Buffer).equals(big)).toBe(true)
  })

  it("names each way a delta can be wrong", () => {
    expect(problem(applyDelta(base, Buffer.from([11])))).toBe("header")
    expect(problem(applyDelta(base, Buffer.from([0x80, 0x80])))).toBe("header")
    expect(problem(applyDelta(Buffer.from("short"), Buffer.from([11, 1, 1, 0x41])))).toBe(
      "base-size",
    )
    expect(problem(applyDelta(base, Buffer.from([11, 8, 0x91, 9, 5])))).toBe("out-of-bounds")
    expect(problem(applyDelta(base, Buffer.from([11, 5, 0x91, 9])))).toBe("truncated")
    expect(problem(applyDelta(base, Buffer.from([11, 5, 3, 0x41])))).toBe("truncated")
    expect(problem(applyDelta(base, Buffer.from([11, 2, 3, 0x41, 0x42, 0x43])))).toBe("overflow")
    expect(problem(applyDelta(base, Buffer.from([11, 8, 0])))).toBe("reserved")
    expect(problem(applyDelta(base, Buffer.from([11, 8, 2, 0x41, 0x42])))).toBe("short")
    // A declared size its instructions could never produce is refused before allocating.
    expect(
      problem(applyDelta(base, Buffer.from([11, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0x41]))),
    ).toBe("overflow")
    expect(problem(applyDelta(base, Buffer.from([11, 100, 0x91, 0, 100]), 50))).toBe("overflow")
  })
})

/** Mutations of a base: replaced, inserted and deleted runs, as edits to a file make. */
const similarPair = fc
  .tuple(
    fc.uint8Array({ minLength: 0, maxLength: 3000 }),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.nat({ max: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.constantFrom("replace", "insert", "delete"),
      ),
      { maxLength: 8 },
    ),
  )
  .map(([base, edits]) => {
    let target = Buffer.from(base)
    for (const [at, len, bytes, op] of edits) {
      const i = target.length === 0 ? 0 : at % target.length
      if (op === "insert")
        target = Buffer.concat([target.subarray(0, i), bytes, target.subarray(i)])
      else if (op === "delete")
        target = Buffer.concat([target.subarray(0, i), target.subarray(i + len)])
      else target = Buffer.concat([target.subarray(0, i), bytes, target.subarray(i + bytes.length)])
    }
    return { base: Buffer.from(base), target }
  })

describe("creating deltas", () => {
  it("rebuilds the target exactly, for similar and for unrelated inputs", () => {
    fc.assert(
      fc.property(similarPair, fc.uint8Array({ maxLength: 500 }), ({ base, target }, other) => {
        for (const [b, t] of [
          [base, target],
          [base, other],
          [other, target],
        ] as const) {
          const delta = createDelta(b, t)!
          const out = applyDelta(b, delta)
          if (out instanceof DeltaError) throw out
          expect(out.equals(t)).toBe(true)
        }
      }),
      { numRuns: runs },
    )
  })

  it("is small when the target is a lightly edited base", () => {
    const lines = Array.from(
      { length: 2000 },
      (_, i) => `line ${i}: ${"lorem ipsum ".repeat(i % 7)}\n`,
    )
    const base = Buffer.from(lines.join(""))
    lines[100] = "changed line\n"
    lines.splice(1500, 3, "inserted\n")
    lines.push("appended at the end\n")
    const target = Buffer.from(lines.join(""))
    const delta = createDelta(base, target)!
    expect(delta.length).toBeLessThan(target.length / 100)
    expect((applyDelta(base, delta) as Buffer).equals(target)).toBe(true)
  })

  it("finds copies in repetitive input and across large offsets", () => {
    const base = Buffer.concat([
      Buffer.alloc(200_000, 0x61),
      Buffer.from("unique tail of the base"),
    ])
    const target = Buffer.concat([
      Buffer.from("unique tail of the base"),
      Buffer.alloc(150_000, 0x61),
    ])
    const delta = createDelta(base, target)!
    expect(delta.length).toBeLessThan(100)
    expect((applyDelta(base, delta) as Buffer).equals(target)).toBe(true)
  })

  it("gives up (undefined) once the delta would exceed maxSize", () => {
    const base = Buffer.from("a".repeat(100))
    const target = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) % 256))
    expect(createDelta(base, target, 100)).toBeUndefined()
    expect(createDelta(base, target)).toBeInstanceOf(Buffer)
  })
})
