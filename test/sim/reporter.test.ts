import { describe, expect, it } from "vitest"
import type { Activity } from "../../src/domain/consensus/Engine.ts"
import type { Proposal } from "../../src/domain/consensus/Types.ts"
import { leaderSummary, RecordingReporter, ViewBits } from "../../src/layers/sim/Reporter.ts"

const EPOCH = 333n
const N = 4
// Round-robin: the leader of view v is (333 + v) mod 4, so view 3 is led by 0, view 4 by 1.
const round = (view: bigint) => ({ epoch: EPOCH, view })
const proposal = (view: bigint): Proposal => ({
  round: round(view),
  parent: view - 1n,
  payload: new Uint8Array(32).fill(Number(view)),
})
const certificate = { signers: { size: N, indices: [0, 1, 2] }, signatures: [] }
const attestation = (signer: number) => ({ signer, signature: new Uint8Array(32) })

const finalization = (view: bigint): Activity => ({
  _tag: "Finalization",
  proposal: proposal(view),
  certificate,
})
const notarization = (view: bigint): Activity => ({
  _tag: "Notarization",
  proposal: proposal(view),
  certificate,
})
const nullification = (view: bigint): Activity => ({
  _tag: "Nullification",
  round: round(view),
  certificate,
})
const nullify = (view: bigint, signer: number): Activity => ({
  _tag: "Nullify",
  round: round(view),
  attestation: attestation(signer),
})

describe("RecordingReporter: view changes by leader", () => {
  it("counts each view once per outcome, under the leader of that view", () => {
    const r = new RecordingReporter(2, N)
    for (const a of [
      notarization(3n),
      finalization(3n),
      finalization(3n), // a repeated report of the same view counts once
      nullify(4n, 2), // our own nullify: a timeout on leader 1's view
      nullify(4n, 3), // a peer's nullify is not our timeout
      nullification(4n),
      nullification(4n),
      nullification(8n), // led by 1 too
      finalization(5n),
    ])
      r.record(a, 0)
    expect(r.leaders[0]).toEqual({ finalized: 1, notarized: 1, nullified: 0, timeouts: 0 })
    expect(r.leaders[1]).toEqual({ finalized: 0, notarized: 0, nullified: 2, timeouts: 1 })
    expect(r.leaders[2]).toEqual({ finalized: 1, notarized: 0, nullified: 0, timeouts: 0 })
    expect(r.leaders[3]).toEqual({ finalized: 0, notarized: 0, nullified: 0, timeouts: 0 })
    expect(r.lastFinalized).toBe(5n)
    expect(r.finalizedCount).toBe(2)
    expect(r.nullifiedCount).toBe(2)
    expect(r.ownVotes.Nullify).toBe(1)
    expect(r.count("Finalization")).toBe(3)
  })

  it("sums timeouts over nodes and takes the fullest view of each outcome across them", () => {
    const a = new RecordingReporter(0, N)
    const b = new RecordingReporter(2, N)
    for (const r of [a, b]) {
      r.record(nullification(4n), 0)
      r.record(nullify(4n, r.identity), 0)
    }
    a.record(finalization(3n), 0) // b never saw view 3 finalized
    expect(leaderSummary([a, b], N)).toEqual([
      { finalized: 1, notarized: 0, nullified: 0, timeouts: 0 },
      { finalized: 0, notarized: 0, nullified: 1, timeouts: 2 },
      { finalized: 0, notarized: 0, nullified: 0, timeouts: 0 },
      { finalized: 0, notarized: 0, nullified: 0, timeouts: 0 },
    ])
  })
})

describe("ViewBits", () => {
  it("is a set of views, small and huge, that finds the next view above any view", () => {
    const s = new ViewBits()
    const huge = (1n << 63n) + 5n
    for (const v of [0n, 31n, 32n, 5000n, huge]) expect(s.add(v)).toBe(true)
    expect(s.add(31n)).toBe(false)
    expect(s.add(huge)).toBe(false)
    expect(s.size).toBe(5)
    expect([0n, 31n, 32n, 5000n, huge].every((v) => s.has(v))).toBe(true)
    expect([1n, 33n, 4999n, huge - 1n].some((v) => s.has(v))).toBe(false)
    expect(s.firstAbove(0n)).toBe(31n)
    expect(s.firstAbove(31n)).toBe(32n)
    expect(s.firstAbove(32n)).toBe(5000n)
    expect(s.firstAbove(5000n)).toBe(huge)
    expect(s.firstAbove(huge)).toBeUndefined()
  })
})
