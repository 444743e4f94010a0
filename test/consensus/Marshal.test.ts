import { describe, expect, it } from "vitest"
import { type BlockRef, ForkBelowFinality, Marshal } from "../../src/domain/consensus/Marshal.ts"
import { digestOf, GENESIS } from "./Harness.ts"

const chain = (
  label: string,
  from: { digest: Uint8Array; height: bigint },
  length: number,
): BlockRef[] => {
  const out: BlockRef[] = []
  let parent = from
  for (let k = 1; k <= length; k++) {
    const ref = {
      digest: digestOf(`${label}-${parent.height + 1n}`),
      parent: parent.digest,
      height: parent.height + 1n,
    }
    out.push(ref)
    parent = ref
  }
  return out
}

const heights = (refs: ReadonlyArray<BlockRef>) => refs.map((r) => r.height)

describe("Marshal: ordered delivery of finalized blocks", () => {
  it("delivers the finalized block and its undelivered ancestors in height order", () => {
    const m = new Marshal({ digest: GENESIS, height: 0n })
    const blocks = chain("a", { digest: GENESIS, height: 0n }, 3)
    for (const b of [blocks[2], blocks[0], blocks[1]]) expect(m.block(b).deliver).toEqual([])
    const step = m.finalized(7n, blocks[2].digest)
    expect(heights(step.deliver)).toEqual([1n, 2n, 3n])
    expect(m.delivered.height).toBe(3n)
    expect(m.held).toBe(0)
  })

  it("names the missing parent and resumes when it arrives", () => {
    const m = new Marshal({ digest: GENESIS, height: 0n })
    const [b1, b2, b3] = chain("a", { digest: GENESIS, height: 0n }, 3)
    m.block(b3)
    const waiting = m.finalized(3n, b3.digest)
    expect(waiting.deliver).toEqual([])
    expect(waiting.missing).toEqual(b2.digest)
    expect(m.block(b2).missing).toEqual(b1.digest)
    expect(heights(m.block(b1).deliver)).toEqual([1n, 2n, 3n])
  })

  it("fetches the finalized block itself when it is unknown", () => {
    const m = new Marshal({ digest: GENESIS, height: 0n })
    const [b1] = chain("a", { digest: GENESIS, height: 0n }, 1)
    expect(m.finalized(1n, b1.digest).missing).toEqual(b1.digest)
    expect(heights(m.block(b1).deliver)).toEqual([1n])
  })

  it("never delivers blocks of nullified views or notarized blocks nobody extended", () => {
    const m = new Marshal({ digest: GENESIS, height: 0n })
    const [b1] = chain("a", { digest: GENESIS, height: 0n }, 1)
    const orphan = chain("orphan", b1, 1)[0] // notarized at some view, never extended
    const [b2] = chain("b", b1, 1) // the block that was finalized instead
    for (const b of [b1, orphan, b2]) m.block(b)
    const step = m.finalized(4n, b2.digest)
    expect(step.deliver.map((r) => r.digest)).toEqual([b1.digest, b2.digest])
    expect(m.held).toBe(0)
  })

  it("delivers each height once, ignoring older finalizations and repeats", () => {
    const m = new Marshal({ digest: GENESIS, height: 0n })
    const blocks = chain("a", { digest: GENESIS, height: 0n }, 4)
    for (const b of blocks) m.block(b)
    expect(heights(m.finalized(2n, blocks[1].digest).deliver)).toEqual([1n, 2n])
    expect(m.finalized(2n, blocks[1].digest).deliver).toEqual([])
    expect(m.finalized(1n, blocks[0].digest).deliver).toEqual([])
    expect(heights(m.finalized(9n, blocks[3].digest).deliver)).toEqual([3n, 4n])
  })

  it("resumes after the height the consumer applied (at least once across restarts)", () => {
    const blocks = chain("a", { digest: GENESIS, height: 0n }, 5)
    const m = new Marshal({ digest: blocks[1].digest, height: 2n })
    for (const b of blocks) m.block(b)
    expect(heights(m.finalized(5n, blocks[4].digest).deliver)).toEqual([3n, 4n, 5n])
  })

  it("throws when the finalized chain forks below what was delivered", () => {
    const m = new Marshal({ digest: GENESIS, height: 0n })
    const [a1] = chain("a", { digest: GENESIS, height: 0n }, 1)
    m.block(a1)
    m.finalized(1n, a1.digest)
    const [, b2] = chain("b", { digest: GENESIS, height: 0n }, 2)
    m.block(b2)
    expect(() => m.finalized(2n, b2.digest)).toThrow(ForkBelowFinality)
  })
})
