import { describe, expect, it } from "vitest"
import { ViewMap, ViewSet } from "../../src/domain/consensus/ViewMap.ts"

const SAFE = BigInt(Number.MAX_SAFE_INTEGER)

describe("ViewMap and ViewSet (view-keyed, number-hashed)", () => {
  it("keep views on both sides of 2^53 apart, even where numbers would round them together", () => {
    const m = new ViewMap<string>()
    const views = [0n, 7n, SAFE, SAFE + 1n, SAFE + 2n, (1n << 64n) - 1n]
    for (const [i, v] of views.entries()) m.set(v, `v${i}`)
    expect(m.size).toBe(views.length)
    expect(views.map((v) => m.get(v))).toEqual(views.map((_, i) => `v${i}`))
    expect(m.has(SAFE + 3n)).toBe(false)
    expect(m.delete(SAFE + 1n)).toBe(true)
    expect(m.get(SAFE + 2n)).toBe("v4")
    expect([...m.keys()]).toEqual([0n, 7n, SAFE, SAFE + 2n, (1n << 64n) - 1n])
  })

  it("iterate in insertion order and tolerate deletion while iterating, like Map and Set", () => {
    const m = new ViewMap<number>()
    for (const v of [5n, 1n, 9n, 3n]) m.set(v, Number(v))
    const seen: bigint[] = []
    for (const [v] of m) {
      seen.push(v)
      if (v === 1n) m.delete(9n)
    }
    expect(seen).toEqual([5n, 1n, 3n])
    expect([...m.values()]).toEqual([5, 1, 3])
    const s = new ViewSet()
    for (const v of [4n, 2n, SAFE + 9n, 2n]) s.add(v)
    expect(s.size).toBe(3)
    expect([...s]).toEqual([4n, 2n, SAFE + 9n])
    s.delete(4n)
    expect(s.has(4n)).toBe(false)
    expect(s.has(SAFE + 9n)).toBe(true)
    s.clear()
    expect(s.size).toBe(0)
  })
})
