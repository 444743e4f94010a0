import { randomBytes } from "node:crypto"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { ObjectId } from "../../src/domain/git/ObjectId.ts"
import { RawIdSet } from "../../src/domain/git/RawIdSet.ts"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex") as ObjectId

describe("RawIdSet", () => {
  it("agrees with a Set of hex strings over random ids, duplicates and growth", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 20, maxLength: 20 }), { maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 400 }),
        (ids, repeats) => {
          const set = new RawIdSet(2) // starts tiny: growth is exercised
          const reference = new Set<string>()
          const all = [
            ...ids,
            ...repeats.map((i) => ids[i % Math.max(ids.length, 1)]!).filter(Boolean),
          ]
          for (const id of all) {
            expect(set.addRaw(id, 0)).toBe(!reference.has(hex(id)))
            reference.add(hex(id))
          }
          expect(set.size).toBe(reference.size)
          for (const id of ids) expect(set.has(hex(id))).toBe(true)
        },
      ),
      { numRuns: 200 },
    )
  })

  it("numbers ids in the order they were first added and gives each back", () => {
    const set = new RawIdSet(2)
    const ids = Array.from({ length: 300 }, () => randomBytes(20))
    ids.forEach((id, i) => {
      expect(set.indexOfRaw(id, 0)).toBe(i)
    })
    ids.forEach((id, i) => {
      expect(set.indexOf(hex(id))).toBe(i)
      expect(set.idAt(i)).toBe(hex(id))
    })
    expect(set.size).toBe(300)
  })

  it("finds ids that share their first four bytes (the hash) but differ later", () => {
    const set = new RawIdSet()
    const a = Buffer.alloc(20, 0)
    const b = Buffer.alloc(20, 0)
    b[19] = 1
    const c = Buffer.alloc(20, 0)
    c[10] = 7
    expect(set.addRaw(a, 0)).toBe(true)
    expect(set.addRaw(b, 0)).toBe(true)
    expect(set.hasRaw(c, 0)).toBe(false)
    expect(set.hasRaw(a, 0)).toBe(true)
    expect(set.hasRaw(b, 0)).toBe(true)
    expect(set.size).toBe(2)
  })

  it("reads an id where it lies inside a larger buffer (a tree's entry)", () => {
    const ids = Array.from({ length: 5000 }, () => randomBytes(20))
    const set = new RawIdSet()
    for (const id of ids) set.add(hex(id))
    const tree = Buffer.concat(
      ids.slice(0, 100).map((id) => Buffer.concat([Buffer.from("100644 f\0"), id])),
    )
    let found = 0
    for (let at = 9; at < tree.length; at += 29) if (set.hasRaw(tree, at)) found++
    expect(found).toBe(100)
    expect(set.has(hex(randomBytes(20)))).toBe(false)
  })
})
