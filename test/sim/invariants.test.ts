import { describe, expect, it } from "vitest"
import { SimScheme, type Signer } from "../../src/domain/consensus/Scheme.ts"
import { Signing } from "../../src/domain/consensus/Signing.ts"
import type {
  Finalization,
  Notarization,
  Nullification,
  Proposal,
  Round,
} from "../../src/domain/consensus/Types.ts"
import { Cluster, EPOCH, NAMESPACE } from "../../src/layers/sim/Cluster.ts"
import { SafetyMonitor } from "../../src/layers/sim/Invariants.ts"
import { Prng } from "../../src/layers/sim/Prng.ts"

const n = 4
const scheme = new SimScheme()
const keys = Prng.derive(1, "test-keys")
const signers: Signer[] = Array.from({ length: n }, () => scheme.signerFromSeed(keys.bytes(32)))
const signing = new Signing(
  scheme,
  NAMESPACE,
  signers.map((s) => s.publicKey),
)

const monitor = (byzantine: number[] = []) =>
  new SafetyMonitor({
    n,
    byzantine: new Set(byzantine),
    signing,
    label: "scenario=negative_control seed=77",
    epoch: EPOCH,
  })

const round = (view: bigint): Round => ({ epoch: EPOCH, view })
const proposal = (view: bigint, fill: number): Proposal => ({
  round: round(view),
  parent: view - 1n,
  payload: new Uint8Array(32).fill(fill),
})

const finalization = (p: Proposal, by = [0, 1, 2]): Finalization => {
  const votes = by.map((i) => signing.finalize(signers[i], i, p))
  const { indices, signatures } = signing.assemble(votes)
  return {
    _tag: "Finalization",
    proposal: p,
    certificate: { signers: { size: n, indices }, signatures },
  }
}

const notarization = (p: Proposal, by = [0, 1, 2]): Notarization => {
  const votes = by.map((i) => signing.notarize(signers[i], i, p))
  const { indices, signatures } = signing.assemble(votes)
  return {
    _tag: "Notarization",
    proposal: p,
    certificate: { signers: { size: n, indices }, signatures },
  }
}

const nullification = (view: bigint, by = [1, 2, 3]): Nullification => {
  const votes = by.map((i) => signing.nullify(signers[i], i, round(view)))
  const { indices, signatures } = signing.assemble(votes)
  return {
    _tag: "Nullification",
    round: round(view),
    certificate: { signers: { size: n, indices }, signatures },
  }
}

describe("SafetyMonitor (negative controls: the checker catches each violation)", () => {
  it("accepts a consistent history: no violations", () => {
    const m = monitor()
    const p = proposal(1n, 1)
    m.observe(0, notarization(p))
    m.observe(0, finalization(p))
    m.observe(1, finalization(p))
    m.observe(2, nullification(2n))
    m.observeDelivery(0, 1n, p.payload)
    m.observeDelivery(1, 1n, p.payload)
    expect(m.violations).toEqual([])
    expect(m.ok).toBe(true)
  })

  it("catches a fabricated conflicting finalization and names scenario and seed", () => {
    const m = monitor()
    m.observe(0, finalization(proposal(5n, 1)))
    m.observe(1, finalization(proposal(5n, 2)))
    expect(m.ok).toBe(false)
    expect(m.violations[0]).toContain("view 5 finalized twice")
    expect(m.violations[0]).toContain("scenario=negative_control seed=77")
  })

  it("catches two notarized payloads in one view", () => {
    const m = monitor()
    m.observe(0, notarization(proposal(3n, 1)))
    m.observe(2, notarization(proposal(3n, 9)))
    expect(m.violations.join()).toContain("view 3 notarized twice")
  })

  it("catches a view that is both finalized and nullified, in either order", () => {
    const a = monitor()
    a.observe(0, finalization(proposal(4n, 1)))
    a.observe(1, nullification(4n))
    expect(a.violations.join()).toContain("view 4 is both nullified and finalized")
    const b = monitor()
    b.observe(1, nullification(4n))
    b.observe(0, finalization(proposal(4n, 1)))
    expect(b.violations.join()).toContain("view 4 is both finalized and nullified")
  })

  it("catches certificates with too few signers or an invalid signature", () => {
    const m = monitor()
    m.observe(0, finalization(proposal(6n, 1), [0, 1]))
    expect(m.violations.join()).toContain("2 distinct signers (quorum 3)")
    const bad = finalization(proposal(7n, 1))
    const sigs = bad.certificate.signatures.map((s) => s.slice())
    sigs[1][0] ^= 1
    m.observe(0, { ...bad, certificate: { ...bad.certificate, signatures: sigs } })
    expect(m.violations.join()).toContain("Finalization of view 7 with an invalid signature")
  })

  it("catches an honest node that both nullified and finalized a view", () => {
    const m = monitor()
    m.observe(2, signing.nullify(signers[2], 2, round(8n)))
    m.observe(2, signing.finalize(signers[2], 2, proposal(8n, 1)))
    expect(m.violations.join()).toContain("honest node 2 both nullified and finalized view 8")
  })

  it("attributes faults and blocks to Byzantine nodes and flags them against honest ones", () => {
    const m = monitor([3])
    const first = signing.notarize(signers[3], 3, proposal(9n, 1))
    const second = signing.notarize(signers[3], 3, proposal(9n, 2))
    m.observe(0, { _tag: "ConflictingNotarize", first, second })
    m.observeBlock(0, 3, "conflicting notarize votes")
    expect(m.ok).toBe(true)
    expect(m.attributedFaults.get(3)).toBe(1)
    expect(m.attributedBlocks.get(3)).toBe(1)
    const honestFirst = signing.notarize(signers[1], 1, proposal(9n, 1))
    const honestSecond = signing.notarize(signers[1], 1, proposal(9n, 2))
    m.observe(0, { _tag: "ConflictingNotarize", first: honestFirst, second: honestSecond })
    m.observeBlock(2, 1, "made up")
    m.observe(0, { _tag: "InvalidSignature", peer: 2, channel: "vote" })
    const all = m.violations.join("\n")
    expect(all).toContain("ConflictingNotarize against honest node 1")
    expect(all).toContain("honest node 2 blocked honest node 1")
    expect(all).toContain("invalid signature from honest node 2")
  })

  it("catches delivered chains that are not prefixes of one another", () => {
    const m = monitor()
    m.observeDelivery(0, 1n, new Uint8Array(32).fill(1))
    m.observeDelivery(1, 1n, new Uint8Array(32).fill(1))
    m.observeDelivery(1, 2n, new Uint8Array(32).fill(2))
    m.observeDelivery(0, 2n, new Uint8Array(32).fill(3))
    expect(m.violations.join()).toContain("chains are not prefixes of one another")
  })
})

describe("a cluster's verdict (end-to-end negative control)", () => {
  it("fails a healthy run once a forged, fully signed conflicting finalization is reported", () => {
    const c = new Cluster({ seed: 5, scenario: "forged", n: 4 })
    c.start()
    c.runUntilFinalized(5n, 60_000)
    expect(c.monitor.violations).toEqual([])
    const [view, payload] = [...c.monitor.finalizedViews].find(([v]) => v === 3n)!
    const forged = { round: round(view), parent: 2n, payload: payload.map((b) => b ^ 0xff) }
    const votes = [0, 1, 2, 3].map((i) => c.signing.finalize(c.signers[i], i, forged))
    const { indices, signatures } = c.signing.assemble(votes)
    // Every key signed it, so it is a valid certificate: only the invariant can object.
    c.monitor.observe(1, {
      _tag: "Finalization",
      proposal: forged,
      certificate: { signers: { size: 4, indices }, signatures },
    })
    expect(c.monitor.ok).toBe(false)
    expect(c.monitor.violations.join("\n")).toMatch(
      /\[scenario=forged seed=5\] view 3 finalized twice/,
    )
  })
})

describe("SafetyMonitor and honest leaders", () => {
  it("catches a certificate whose payload differs from what the view's honest leader proposed", () => {
    // Leader of view v is (epoch + v) mod n.
    const view = 10n
    const leader = Number((EPOCH + view) % BigInt(n))
    const m = monitor()
    m.observe(leader, signing.notarize(signers[leader], leader, proposal(view, 1)))
    m.observe((leader + 1) % n, notarization(proposal(view, 2)))
    expect(m.violations.join()).toContain(`its honest leader ${leader} proposed`)
    const b = monitor()
    b.observe((leader + 1) % n, finalization(proposal(view, 2)))
    b.observe(leader, signing.notarize(signers[leader], leader, proposal(view, 1)))
    expect(b.violations.join()).toContain(`view ${view} was finalized as`)
  })

  it("does not hold a Byzantine leader's proposals against the certificate", () => {
    const view = 10n
    const leader = Number((EPOCH + view) % BigInt(n))
    const m = monitor([leader])
    m.observe(leader, signing.notarize(signers[leader], leader, proposal(view, 1)))
    m.observe((leader + 1) % n, notarization(proposal(view, 2)))
    expect(m.violations).toEqual([])
  })
})
