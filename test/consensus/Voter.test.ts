import { describe, expect, it } from "vitest"
import { JournalCorrupt, type Output } from "../../src/domain/consensus/Engine.ts"
import { maxFaults, quorum } from "../../src/domain/consensus/Types.ts"
import { GENESIS } from "./Harness.ts"
import {
  blocked,
  EPOCH,
  Fixture,
  ofTag,
  reportTags,
  reports,
  sentCertificates,
  sentResolver,
  sentVotes,
} from "./Fixture.ts"

// n = 4, epoch 333: leader(v) = (333 + v) mod 4, so view 1 → 2, 2 → 3, 3 → 0, 4 → 1.

const proposeOutput = (outs: Output[]) => ofTag(outs, "Propose")[0]
const verifyOutput = (outs: Output[]) => ofTag(outs, "Verify")[0]
const certifyOutput = (outs: Output[]) => ofTag(outs, "Certify")[0]

/** Brings a non-leader node 0 through view 1 to a verified notarize of p1. */
const notarizedView1 = () => {
  const f = new Fixture(4, 0)
  f.start()
  const p1 = f.proposal(1n, 0n)
  f.vote(2, f.notarize(2, p1))
  f.handle({ _tag: "Verified", view: 1n, digest: p1.payload, ok: true })
  return { f, p1 }
}

describe("quorum arithmetic (N3f1: q = n − f, not 2f + 1)", () => {
  it.each([
    [4, 1, 3],
    [5, 1, 4],
    [6, 1, 5],
    [7, 2, 5],
    [10, 3, 7],
  ])("n = %i gives f = %i and q = %i", (n, f, q) => {
    expect(maxFaults(n)).toBe(f)
    expect(quorum(n)).toBe(q)
  })

  it.each([4, 5, 6, 7, 10])(
    "an observer of n = %i forms a nullification at exactly q distinct signers",
    (n) => {
      const f = new Fixture(n, undefined)
      f.start()
      const q = quorum(n)
      for (let i = 0; i < q - 1; i++) f.vote(i, f.nullify(i, 1n))
      // The same signer again adds nothing.
      f.vote(0, f.nullify(0, 1n))
      expect(f.engine.currentView).toBe(1n)
      expect(reportTags(f.log)).not.toContain("Nullification")
      f.vote(q - 1, f.nullify(q - 1, 1n))
      const cert = reports(f.log).find((a) => a._tag === "Nullification")
      expect(cert?._tag === "Nullification" && cert.certificate.signers.indices).toEqual([
        ...Array(q).keys(),
      ])
      expect(f.engine.currentView).toBe(2n)
    },
  )

  it("rejects a certificate with fewer than q signers and blocks its sender", () => {
    const f = new Fixture(5, 0)
    f.start()
    const outs = f.cert(1, f.nullification(1n, [1, 2, 3])) // q = 4
    expect(blocked(outs)).toEqual([1])
    expect(reportTags(outs)).toContain("InvalidSignature")
    expect(f.engine.currentView).toBe(1n)
  })
})

describe("Voter: proposing", () => {
  it("the leader of view 1 builds on genesis, relays, and sends its notarize after the journal sync", () => {
    const f = new Fixture(4, 2)
    const started = f.start()
    const ask = proposeOutput(started)
    expect(ask.context.round).toEqual({ epoch: EPOCH, view: 1n })
    expect(ask.context.leader).toBe(2)
    expect(ask.context.parent).toEqual({ view: 0n, digest: GENESIS })
    const p1 = f.proposal(1n, 0n)
    const outs = f.handle({ _tag: "Proposed", view: 1n, digest: p1.payload })
    const tags = outs.map((o) => o._tag)
    expect(tags.indexOf("Append")).toBeLessThan(tags.indexOf("Sync"))
    expect(tags.indexOf("Sync")).toBeLessThan(tags.indexOf("Send"))
    expect(ofTag(outs, "Relay")[0].plan).toEqual({
      _tag: "Propose",
      round: { epoch: EPOCH, view: 1n },
    })
    const [vote] = sentVotes(outs)
    expect(vote._tag === "Notarize" && vote.proposal).toEqual(p1)
    expect(vote.attestation.signer).toBe(2)
  })

  it("nullifies at once when the application declines to propose", () => {
    const f = new Fixture(4, 2)
    f.start()
    const outs = f.handle({ _tag: "Proposed", view: 1n, digest: undefined })
    expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Nullify"])
    expect(f.engine.round(1n)?.sentNullify).toBe(true)
  })

  it("builds on the highest certified view, across nullified views", () => {
    const f = new Fixture(4, 1) // leads view 4
    f.start()
    const p1 = f.proposal(1n, 0n)
    f.cert(2, f.notarization(p1, [0, 2, 3]))
    f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    f.cert(2, f.nullification(2n, [0, 2, 3]))
    const outs = f.cert(2, f.nullification(3n, [0, 2, 3]))
    const ask = proposeOutput(outs)
    expect(ask.context.round.view).toBe(4n)
    expect(ask.context.parent).toEqual({ view: 1n, digest: p1.payload })
  })

  it("asks the resolver for a missing nullification before proposing", () => {
    const f = new Fixture(4, 1) // leads view 4
    f.start()
    // Jump to view 4 via a nullification of view 3; views 1 and 2 are unknown.
    const outs = f.cert(2, f.nullification(3n, [0, 2, 3]))
    expect(f.engine.currentView).toBe(4n)
    expect(proposeOutput(outs)).toBeUndefined()
    expect(f.engine.fetches).toContainEqual({ view: 2n, kind: "nullification" })
    f.cert(3, f.nullification(1n, [0, 2, 3]))
    const after = f.cert(3, f.nullification(2n, [0, 2, 3]))
    expect(proposeOutput(after).context.parent).toEqual({ view: 0n, digest: GENESIS })
  })

  it("ignores a proposal answer for a view it has already left", () => {
    const f = new Fixture(4, 2)
    f.start()
    f.cert(0, f.nullification(1n, [0, 1, 3]))
    const outs = f.handle({ _tag: "Proposed", view: 1n, digest: f.proposal(1n, 0n).payload })
    expect(sentVotes(outs)).toEqual([])
    expect(ofTag(outs, "Relay")).toEqual([])
  })
})

describe("Voter: verifying the leader's proposal", () => {
  it("asks the application to verify against the parent, then notarizes", () => {
    const f = new Fixture(4, 0)
    f.start()
    const p1 = f.proposal(1n, 0n)
    const outs = f.vote(2, f.notarize(2, p1))
    const ask = verifyOutput(outs)
    expect(ask.context).toEqual({
      round: p1.round,
      leader: 2,
      parent: { view: 0n, digest: GENESIS },
    })
    expect(ask.digest).toEqual(p1.payload)
    const after = f.handle({ _tag: "Verified", view: 1n, digest: p1.payload, ok: true })
    expect(sentVotes(after).map((v) => v._tag)).toEqual(["Notarize"])
  })

  it("nullifies at once when verification fails or the request is dropped", () => {
    const f = new Fixture(4, 0)
    f.start()
    const p1 = f.proposal(1n, 0n)
    f.vote(2, f.notarize(2, p1))
    const outs = f.handle({ _tag: "Verified", view: 1n, digest: p1.payload, ok: false })
    expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Nullify"])
    // Never a notarize after that, even if a late positive answer arrived.
    const late = f.handle({ _tag: "Verified", view: 1n, digest: p1.payload, ok: true })
    expect(sentVotes(late)).toEqual([])
  })

  it.each([
    ["parent not before the view", 1n, 1n],
    ["parent in the future", 1n, 5n],
  ])(
    "treats a proposal whose %s as invalid and nullifies without verifying",
    (_what, view, parent) => {
      const f = new Fixture(4, 0)
      f.start()
      const bad = f.proposal(view, parent)
      const outs = f.vote(2, f.notarize(2, bad))
      expect(verifyOutput(outs)).toBeUndefined()
      expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Nullify"])
    },
  )

  it("treats a proposal whose parent is below the last finalized view as invalid", () => {
    const f = new Fixture(4, 1) // not the leader of view 3 (0) nor 4 (1 — us); view 3's leader is 0
    f.start()
    const p2 = f.proposal(2n, 0n)
    f.cert(3, f.finalization(p2, [0, 2, 3]))
    expect(f.engine.lastFinalized).toBe(2n)
    const stale = f.proposal(3n, 1n, "stale")
    const outs = f.vote(0, f.notarize(0, stale))
    expect(verifyOutput(outs)).toBeUndefined()
    expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Nullify"])
  })

  it("waits for a missing nullification, fetching it from the proposal's leader", () => {
    const f = new Fixture(4, 1)
    f.start()
    f.cert(2, f.nullification(1n, [0, 2, 3])) // now in view 2 (leader 3)
    f.cert(2, f.nullification(2n, [0, 2, 3])) // view 3 (leader 0)
    // Leader 0 of view 3 builds on genesis; we hold the nullifications of 1 and 2: fine.
    const ok = f.vote(0, f.notarize(0, f.proposal(3n, 0n)))
    expect(verifyOutput(ok)).toBeDefined()

    const g = new Fixture(4, 1)
    g.start()
    g.cert(2, g.nullification(2n, [0, 2, 3])) // jumps to view 3, view 1 unknown
    const outs = g.vote(0, g.notarize(0, g.proposal(3n, 0n)))
    expect(verifyOutput(outs)).toBeUndefined()
    const asked = sentResolver(g.log).filter((r) => r.msg._tag === "Request" && r.msg.view === 1n)
    expect(asked.map((r) => r.to)).toContainEqual([0])
    const after = g.cert(3, g.nullification(1n, [0, 2, 3]))
    expect(verifyOutput(after).context.parent).toEqual({ view: 0n, digest: GENESIS })
  })

  it("fetches a missed parent notarization from the leader, certifies it, then verifies", () => {
    const f = new Fixture(4, 1)
    f.start()
    const p1 = f.proposal(1n, 0n)
    // A finalize quorum is not needed: view 2's leader (3) proposes on p1, which we missed.
    const p2 = f.proposal(2n, 1n)
    f.cert(3, f.nullification(1n, [0, 2, 3])) // we believed view 1 failed
    const outs = f.vote(3, f.notarize(3, p2))
    expect(verifyOutput(outs)).toBeUndefined()
    const [req] = sentResolver(outs)
    expect(req.to).toEqual([3])
    expect(req.msg._tag === "Request" && req.msg.view).toBe(1n)
    // The leader answers with the notarization of view 1.
    const answered = f.resolver(3, {
      _tag: "Response",
      id: req.msg.id,
      certificate: f.notarization(p1, [0, 2, 3]),
    })
    expect(certifyOutput(answered).round.view).toBe(1n)
    const certified = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(verifyOutput(certified).context.parent).toEqual({ view: 1n, digest: p1.payload })
  })

  it("latches an immediate timeout when the leader nullifies its own view", () => {
    const f = new Fixture(4, 0)
    f.start()
    const outs = f.vote(2, f.nullify(2, 1n))
    expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Nullify"])
  })

  it("skips a silent leader when a quorum is active", () => {
    const f = new Fixture(4, 0, {
      skipTimeoutMs: 10_000,
      leaderTimeoutMs: 60_000,
      certificationTimeoutMs: 90_000,
    })
    f.start()
    // Everyone but view 2's leader (3) votes in view 1.
    const p1 = f.proposal(1n, 0n)
    f.vote(2, f.notarize(2, p1))
    f.vote(1, f.notarize(1, p1))
    f.now += 11_000
    f.vote(2, f.finalize(2, p1))
    f.vote(1, f.finalize(1, p1))
    // Now a notarization of view 1 certifies and moves us to view 2, led by silent node 3.
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    const outs = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(f.engine.currentView).toBe(2n)
    expect(
      sentVotes(outs).map(
        (v) => `${v._tag}:${v._tag === "Nullify" ? v.round.view : v.proposal.round.view}`,
      ),
    ).toContain("Nullify:2")
  })

  it("fails open: does not skip a leader when fewer than a quorum were recently active", () => {
    const f = new Fixture(4, 0, {
      skipTimeoutMs: 10_000,
      leaderTimeoutMs: 60_000,
      certificationTimeoutMs: 90_000,
    })
    f.start()
    const p1 = f.proposal(1n, 0n)
    f.now += 11_000
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    const outs = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(f.engine.currentView).toBe(2n)
    expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Finalize"])
  })
})

describe("Voter: certification and finalization", () => {
  it("forms a notarization at quorum, broadcasts it once, certifies, enters the next view and finalizes", () => {
    const { f, p1 } = notarizedView1()
    f.vote(2, f.notarize(2, p1)) // duplicate: ignored
    const outs = f.vote(1, f.notarize(1, p1))
    const [cert] = sentCertificates(outs)
    expect(cert._tag).toBe("Notarization")
    expect(cert.certificate.signers.indices).toEqual([0, 1, 2])
    expect(certifyOutput(outs)).toEqual({ _tag: "Certify", round: p1.round, digest: p1.payload })
    expect(sentCertificates(f.vote(3, f.notarize(3, p1)))).toEqual([])
    const certified = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(reportTags(certified)).toContain("Certification")
    expect(f.engine.currentView).toBe(2n)
    expect(sentVotes(certified).map((v) => v._tag)).toEqual(["Finalize"])
    f.vote(1, f.finalize(1, p1))
    const fin = f.vote(2, f.finalize(2, p1))
    expect(sentCertificates(fin).map((c) => c._tag)).toEqual(["Finalization"])
    expect(f.engine.lastFinalized).toBe(1n)
  })

  it("nullifies when certification fails and never builds on that proposal", () => {
    const { f, p1 } = notarizedView1()
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    const outs = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: false })
    expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Nullify"])
    expect(f.engine.currentView).toBe(1n)
    f.cert(1, f.nullification(1n, [1, 2, 3]))
    // View 2's leader proposes on the failed p1: invalid.
    const child = f.vote(3, f.notarize(3, f.proposal(2n, 1n)))
    expect(verifyOutput(child)).toBeUndefined()
    expect(sentVotes(child).map((v) => v._tag)).toEqual(["Nullify"])
  })

  it("keeps certifying after a nullification of the same view, without finalizing", () => {
    const { f, p1 } = notarizedView1()
    f.advance(2_000) // certification timeout: nullify(1)
    expect(f.engine.round(1n)?.sentNullify).toBe(true)
    f.cert(1, f.nullification(1n, [1, 2, 3]))
    expect(f.engine.currentView).toBe(2n)
    const outs = f.cert(1, f.notarization(p1, [1, 2, 3]))
    expect(certifyOutput(outs).round.view).toBe(1n)
    const certified = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(reportTags(certified)).toContain("Certification")
    expect(sentVotes(certified)).toEqual([]) // no finalize after nullify
  })

  it("certifies after its own timeout when the notarization arrives late", () => {
    const { f, p1 } = notarizedView1()
    const timedOut = f.advance(2_000)
    expect(sentVotes(timedOut).map((v) => v._tag)).toEqual(["Nullify"])
    const outs = f.cert(2, f.notarization(p1, [1, 2, 3]))
    expect(certifyOutput(outs).round.view).toBe(1n)
    f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(f.engine.currentView).toBe(2n)
  })

  it("cancels in-flight certification when a finalization arrives", () => {
    const { f, p1 } = notarizedView1()
    const outs = f.cert(1, f.notarization(p1, [1, 2, 3]))
    expect(certifyOutput(outs)).toBeDefined()
    f.cert(1, f.finalization(p1, [1, 2, 3]))
    expect(f.engine.lastFinalized).toBe(1n)
    expect(f.engine.currentView).toBe(2n)
    const late = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(reportTags(late)).not.toContain("Certification")
    expect(ofTag(late, "Append")).toEqual([])
    expect(sentVotes(late)).toEqual([])
  })

  it("drops an in-flight verification when a finalization moves it past the view", () => {
    const f = new Fixture(4, 0)
    f.start()
    const p1 = f.proposal(1n, 0n)
    expect(verifyOutput(f.vote(2, f.notarize(2, p1)))).toBeDefined()
    f.cert(1, f.finalization(p1, [1, 2, 3]))
    expect(f.engine.currentView).toBe(2n)
    const late = f.handle({ _tag: "Verified", view: 1n, digest: p1.payload, ok: true })
    expect(sentVotes(late)).toEqual([])
    expect(f.engine.round(1n)?.sentNotarize).toBe(false)
  })

  it("counts finalize votes for a view it already left (unchained finalization)", () => {
    const { f, p1 } = notarizedView1()
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    f.cert(1, f.nullification(2n, [1, 2, 3]))
    expect(f.engine.currentView).toBe(3n)
    f.vote(1, f.finalize(1, p1))
    f.vote(2, f.finalize(2, p1))
    expect(f.engine.lastFinalized).toBe(1n)
  })

  it("fast-forwards on a valid certificate far ahead", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.cert(1, f.nullification(50n, [1, 2, 3]))
    expect(f.engine.currentView).toBe(51n)
    f.cert(1, f.finalization(f.proposal(60n, 55n), [1, 2, 3]))
    expect(f.engine.currentView).toBe(61n)
    expect(f.engine.lastFinalized).toBe(60n)
  })
})

describe("Voter: nullify retries", () => {
  it("rebroadcasts the nullify with the entry certificate every timeout_retry", () => {
    const f = new Fixture(4, 0, { timeoutRetryMs: 5_000 })
    f.start()
    f.cert(1, f.nullification(1n, [1, 2, 3])) // entered view 2 by a nullification
    const first = f.advance(1_000) // leader timeout of view 2
    expect(sentVotes(first).map((v) => v._tag)).toEqual(["Nullify"])
    expect(sentCertificates(first)).toEqual([])
    expect(sentVotes(f.advance(4_000))).toEqual([])
    const retry = f.advance(1_000)
    expect(sentVotes(retry).map((v) => v._tag)).toEqual(["Nullify"])
    const [entry] = sentCertificates(retry)
    expect(entry._tag === "Nullification" && entry.round.view).toBe(1n)
    // A retry re-sends the same vote; it is journaled only once.
    expect(ofTag(retry, "Append")).toEqual([])
  })
})

describe("Voter: equivocation and evidence", () => {
  it("marks a round equivocated when the leader sends two proposals, blocks it, and does not notarize", () => {
    const f = new Fixture(4, 0)
    f.start()
    const a = f.proposal(1n, 0n, "a")
    const b = f.proposal(1n, 0n, "b")
    f.vote(2, f.notarize(2, a))
    const outs = f.vote(2, f.notarize(2, b))
    expect(reportTags(outs)).toContain("ConflictingNotarize")
    expect(blocked(outs)).toEqual([2])
    const late = f.handle({ _tag: "Verified", view: 1n, digest: a.payload, ok: true })
    expect(sentVotes(late)).toEqual([])
  })

  it("adopts a notarization for a different proposal, blocks the leader and withholds finalize", () => {
    const { f, p1 } = notarizedView1()
    const other = f.proposal(1n, 0n, "other")
    const outs = f.cert(1, f.notarization(other, [1, 2, 3]))
    expect(blocked(outs)).toEqual([2])
    expect(f.engine.round(1n)?.proposal?.payload).toEqual(other.payload)
    expect(certifyOutput(outs).digest).toEqual(other.payload)
    const certified = f.handle({ _tag: "Certified", view: 1n, digest: other.payload, ok: true })
    expect(f.engine.currentView).toBe(2n)
    expect(sentVotes(certified)).toEqual([])
    expect(p1.payload).not.toEqual(other.payload)
  })

  it("reports conflicting finalizes and a nullify-finalize pair, blocking the signer", () => {
    const f = new Fixture(4, 0)
    f.start()
    const a = f.proposal(1n, 0n, "a")
    const b = f.proposal(1n, 0n, "b")
    f.vote(1, f.finalize(1, a))
    const conflict = f.vote(1, f.finalize(1, b))
    expect(reports(conflict).map((r) => r._tag)).toEqual(["ConflictingFinalize"])
    expect(blocked(conflict)).toEqual([1])

    f.vote(3, f.nullify(3, 1n))
    const both = f.vote(3, f.finalize(3, a))
    const evidence = reports(both).find((r) => r._tag === "NullifyFinalize")
    expect(evidence?._tag === "NullifyFinalize" && evidence.nullify.attestation.signer).toBe(3)
    expect(blocked(both)).toEqual([3])
  })
})

describe("Voter: admission window and blocking", () => {
  it("admits votes only in [lastFinalized − view_retention, current + 1]", () => {
    const f = new Fixture(4, 0, { viewRetention: 2n })
    f.start()
    expect(reportTags(f.vote(1, f.nullify(1, 2n)))).toEqual(["Nullify"]) // current + 1
    expect(reportTags(f.vote(1, f.nullify(1, 3n)))).toEqual([]) // current + 2
    f.cert(1, f.finalization(f.proposal(10n, 0n), [1, 2, 3]))
    expect(reportTags(f.vote(2, f.nullify(2, 7n)))).toEqual([]) // below 10 − 2
    expect(reportTags(f.vote(2, f.nullify(2, 8n)))).toEqual(["Nullify"])
    expect(blocked(f.log)).toEqual([])
  })

  it("admits certificates at any view at or above the floor, and ignores older ones", () => {
    const f = new Fixture(4, 0, { viewRetention: 2n })
    f.start()
    f.cert(1, f.finalization(f.proposal(10n, 0n), [1, 2, 3]))
    expect(reportTags(f.cert(1, f.nullification(5n, [1, 2, 3])))).toEqual([])
    expect(reportTags(f.cert(1, f.nullification(1_000n, [1, 2, 3])))).toEqual(["Nullification"])
    expect(f.engine.currentView).toBe(1_001n)
  })

  it("blocks a sender whose vote carries another signer index", () => {
    const f = new Fixture(4, 0)
    f.start()
    const outs = f.vote(1, f.nullify(3, 1n))
    expect(blocked(outs)).toEqual([1])
    // Nothing more from a blocked peer is processed.
    expect(f.vote(1, f.nullify(1, 1n))).toEqual([])
  })

  it("blocks a sender of a bad signature and reports it", () => {
    const f = new Fixture(4, 0)
    f.start()
    const v = f.nullify(1, 1n)
    const sig = Uint8Array.from(v.attestation.signature)
    sig[0] ^= 1
    const outs = f.vote(1, { ...v, attestation: { signer: 1, signature: sig } })
    expect(blocked(outs)).toEqual([1])
    expect(reports(outs)).toEqual([{ _tag: "InvalidSignature", peer: 1, channel: "vote" }])
  })

  it("blocks a sender of undecodable bytes on every channel", () => {
    const f = new Fixture(4, 0)
    f.start()
    for (const [from, channel] of [
      [1, "vote"],
      [2, "certificate"],
      [3, "resolver"],
    ] as const) {
      const outs = f.handle({ _tag: "Message", from, channel, bytes: Uint8Array.from([9, 9, 9]) })
      expect(blocked(outs)).toEqual([from])
    }
  })

  it("blocks a sender of votes or certificates from another epoch", () => {
    const f = new Fixture(4, 0)
    f.start()
    expect(blocked(f.vote(1, f.nullify(1, 1n, EPOCH + 1n)))).toEqual([1])
    const foreign = f.nullification(1n, [1, 2, 3])
    const outs = f.cert(2, { ...foreign, round: { epoch: EPOCH + 1n, view: 1n } })
    expect(blocked(outs)).toEqual([2])
  })
})

describe("Voter: journal", () => {
  it("appends own votes, certificates and certification results, syncing before any send", () => {
    const { f, p1 } = notarizedView1()
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    const entries = f.journal
      .map((e) => f.signing.codec.decodeJournalEntry(e))
      .map((e) => (e._tag === "Right" ? e.right._tag : "bad"))
    expect(entries).toEqual(["OwnVote", "Certificate", "Certification", "OwnVote"])
    // In every step, no Send precedes the Sync of that step's appends.
    let appended = false
    for (const o of f.log) {
      if (o._tag === "Append") appended = true
      if (o._tag === "Sync") appended = false
      if (o._tag === "Send") expect(appended).toBe(false)
    }
  })

  it("prunes state and journal below lastFinalized − view_retention", () => {
    const f = new Fixture(4, 0, { viewRetention: 3n })
    f.start()
    f.cert(1, f.nullification(1n, [1, 2, 3]))
    const outs = f.cert(1, f.finalization(f.proposal(10n, 0n), [1, 2, 3]))
    expect(ofTag(outs, "Prune")).toEqual([{ _tag: "Prune", belowView: 7n }])
    expect(f.engine.round(1n)).toBeUndefined()
    expect(f.engine.round(10n)?.finalization).toBeDefined()
  })
})

describe("Voter: restart and replay", () => {
  it("does not re-certify a view whose certification was journaled", () => {
    const { f, p1 } = notarizedView1()
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    const outs = f.restart()
    expect(certifyOutput(outs)).toBeUndefined()
    expect(f.engine.currentView).toBe(2n)
    expect(f.engine.round(1n)?.certify).toBe("certified")
  })

  it("asks again for a certification that was outstanding at the crash", () => {
    const { f, p1 } = notarizedView1()
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    const outs = f.restart()
    expect(certifyOutput(outs)?.round.view).toBe(1n)
  })

  it("replays a journaled certification result and still sends the owed finalize", () => {
    const { f, p1 } = notarizedView1()
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    // The certification result is durable but the crash hits before the finalize is sent.
    const outs = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(sentVotes(outs).map((v) => v._tag)).toEqual(["Finalize"])
    f.journal.pop() // lose the finalize append (never synced in this scenario)
    const restarted = f.restart()
    expect(sentVotes(restarted).map((v) => v._tag)).toEqual(["Finalize"])
  })

  it("never proposes again for a view whose notarize it journaled", () => {
    const f = new Fixture(4, 2)
    f.start()
    f.handle({ _tag: "Proposed", view: 1n, digest: f.proposal(1n, 0n).payload })
    const outs = f.restart()
    expect(proposeOutput(outs)).toBeUndefined()
    expect(f.engine.round(1n)?.sentNotarize).toBe(true)
  })

  it("never verifies or notarizes again after a restart, even for a different proposal", () => {
    const { f } = notarizedView1()
    f.restart()
    const again = f.vote(2, f.notarize(2, f.proposal(1n, 0n)))
    expect(verifyOutput(again)).toBeUndefined()
    const other = f.vote(1, f.notarize(1, f.proposal(1n, 0n, "other")))
    expect(sentVotes(other)).toEqual([])
  })

  it("never notarizes or finalizes a view it nullified before the crash", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.advance(1_000) // leader timeout: nullify(1)
    f.restart()
    const p1 = f.proposal(1n, 0n)
    const outs = f.vote(2, f.notarize(2, p1))
    expect(verifyOutput(outs)).toBeUndefined()
    f.cert(1, f.notarization(p1, [1, 2, 3]))
    const certified = f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    expect(sentVotes(certified)).toEqual([])
  })

  it("resends its journaled nullify on retry after a restart", () => {
    const f = new Fixture(4, 0, { timeoutRetryMs: 500 })
    f.start()
    const first = sentVotes(f.advance(1_000))
    f.restart()
    const retry = sentVotes(f.advance(500))
    expect(retry).toEqual(first)
  })

  it("refuses to replay an undecodable journal entry", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.advance(1_000)
    const g = new Fixture(4, 0)
    expect(() => g.engine.replay([...f.journal, Uint8Array.from([7, 7])])).toThrow(JournalCorrupt)
  })

  it("refuses a journal written by another signer", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.advance(1_000)
    const g = new Fixture(4, 1)
    expect(() => g.engine.replay(f.journal)).toThrow(/signer 0/)
  })
})

describe("Voter: reporting", () => {
  it("reports votes by default and can leave them out", () => {
    for (const reportVotes of [true, false]) {
      const f = new Fixture(4, 0, { reportVotes })
      f.start()
      const p1 = f.proposal(1n, 0n)
      f.vote(2, f.notarize(2, p1))
      f.handle({ _tag: "Verified", view: 1n, digest: p1.payload, ok: true })
      f.vote(1, f.notarize(1, p1))
      const tags = reportTags(f.log)
      expect(tags.includes("Notarize")).toBe(reportVotes)
      expect(tags).toContain("Notarization")
    }
  })
})

describe("Voter: observer", () => {
  it("follows certificates without signing or sending anything", () => {
    const f = new Fixture(4, undefined)
    f.start()
    const p1 = f.proposal(1n, 0n)
    for (const i of [1, 2, 3]) f.vote(i, f.notarize(i, p1))
    f.handle({ _tag: "Certified", view: 1n, digest: p1.payload, ok: true })
    for (const i of [1, 2, 3]) f.vote(i, f.finalize(i, p1))
    expect(f.engine.lastFinalized).toBe(1n)
    f.advance(60_000)
    expect(ofTag(f.log, "Send").filter((o) => o.channel !== "resolver")).toEqual([])
    expect(ofTag(f.log, "Append").length).toBeGreaterThan(0)
  })
})
