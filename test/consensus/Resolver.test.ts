import { describe, expect, it } from "vitest"
import type { Output } from "../../src/domain/consensus/Engine.ts"
import { MAX_INFLIGHT_FETCHES } from "../../src/domain/consensus/Resolver.ts"
import type { Certificate, ResolverRequest } from "../../src/domain/consensus/Types.ts"
import { blocked, Fixture, sentResolver } from "./Fixture.ts"

const answer = (f: Fixture, from: number, view: bigint) => {
  const outs = f.resolver(from, { _tag: "Request", id: 42n, view })
  const [sent] = sentResolver(outs)
  expect(sent.to).toEqual([from])
  if (sent.msg._tag !== "Response") throw new Error("expected a response")
  expect(sent.msg.id).toBe(42n)
  return sent.msg.certificate
}

const describeCert = (c: Certificate | undefined) =>
  c === undefined
    ? "nothing"
    : `${c._tag}:${c._tag === "Nullification" ? c.round.view : c.proposal.round.view}`

const requests = (f: Fixture, from = 0) => requestsIn(f.log.slice(from))

const requestsIn = (outs: Output[]) =>
  sentResolver(outs).flatMap((r) =>
    r.msg._tag === "Request" ? [{ to: r.to as number[], msg: r.msg as ResolverRequest }] : [],
  )

describe("Resolver: serving view-keyed requests", () => {
  it("answers with nothing while it knows nothing", () => {
    const f = new Fixture(4, 0)
    f.start()
    expect(answer(f, 1, 3n)).toBeUndefined()
  })

  it("prefers the highest finalization, then the certified notarization, then the nullification, then the floor", () => {
    const f = new Fixture(4, 0)
    f.start()
    const p5 = f.proposal(5n, 0n)
    f.cert(1, f.finalization(p5, [1, 2, 3]))
    const p7 = f.proposal(7n, 5n)
    f.cert(1, f.nullification(6n, [1, 2, 3]))
    f.cert(1, f.notarization(p7, [1, 2, 3]))
    f.handle({ _tag: "Certified", view: 7n, digest: p7.payload, ok: true })
    const p8 = f.proposal(8n, 7n)
    f.cert(1, f.notarization(p8, [1, 2, 3]))
    f.handle({ _tag: "Certified", view: 8n, digest: p8.payload, ok: false })
    f.cert(1, f.nullification(9n, [1, 2, 3]))

    expect(describeCert(answer(f, 1, 3n))).toBe("Finalization:5")
    expect(describeCert(answer(f, 1, 5n))).toBe("Finalization:5")
    expect(describeCert(answer(f, 1, 6n))).toBe("Nullification:6")
    expect(describeCert(answer(f, 1, 7n))).toBe("Notarization:7")
    // Failed certification: never served; the floor (7) is served instead.
    expect(describeCert(answer(f, 1, 8n))).toBe("Notarization:7")
    expect(describeCert(answer(f, 1, 9n))).toBe("Nullification:9")
    expect(describeCert(answer(f, 1, 50n))).toBe("Notarization:7")
  })

  it("serves non-participants too (observers backfilling)", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.cert(1, f.finalization(f.proposal(3n, 0n), [1, 2, 3]))
    expect(describeCert(answer(f, 9, 1n))).toBe("Finalization:3")
  })
})

describe("Resolver: fetching", () => {
  it("repairs every missing nullification between the floor and the current view", () => {
    const f = new Fixture(10, 0)
    f.start()
    f.cert(1, f.nullification(20n, [1, 2, 3, 4, 5, 6, 7]))
    const sent = requests(f)
    expect(sent.length).toBe(MAX_INFLIGHT_FETCHES)
    expect(sent.map((r) => r.msg.view)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n])
    expect(f.engine.fetches.map((x) => x.view)).toEqual(
      [...Array(19).keys()].map((k) => BigInt(k + 1)),
    )
    // Answering one frees a slot for the next missing view.
    const first = sent[0]
    const outs = f.resolver(first.to[0], {
      _tag: "Response",
      id: first.msg.id,
      certificate: f.nullification(1n, [1, 2, 3, 4, 5, 6, 7]),
    })
    expect(requestsIn(outs).map((r) => r.msg.view)).toEqual([9n])
    expect(f.engine.fetches.some((x) => x.view === 1n)).toBe(false)
  })

  it("accepts a finalization at or above the requested view as the answer", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.cert(1, f.nullification(3n, [1, 2, 3]))
    const [r1] = requests(f)
    f.resolver(r1.to[0], {
      _tag: "Response",
      id: r1.msg.id,
      certificate: f.finalization(f.proposal(3n, 0n), [1, 2, 3]),
    })
    expect(f.engine.lastFinalized).toBe(3n)
    expect(f.engine.fetches).toEqual([])
  })

  it("moves on to another peer without penalty after an empty or unhelpful answer", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.cert(1, f.nullification(2n, [1, 2, 3])) // view 1 missing
    const [r1] = requests(f)
    const mark = f.log.length
    f.resolver(r1.to[0], { _tag: "Response", id: r1.msg.id, certificate: undefined })
    const [r2] = requests(f, mark)
    expect(r2.msg.view).toBe(1n)
    expect(r2.to).not.toEqual(r1.to)
    const mark2 = f.log.length
    // A valid certificate that does not answer the question (a nullification of another
    // view) is handed to the voter, and the fetch goes on with the next peer.
    f.resolver(r2.to[0], {
      _tag: "Response",
      id: r2.msg.id,
      certificate: f.nullification(2n, [1, 2, 3]),
    })
    const [r3] = requests(f, mark2)
    expect(r3.msg.view).toBe(1n)
    expect(new Set([r1.to[0], r2.to[0], r3.to[0]]).size).toBe(3)
    expect(blocked(f.log)).toEqual([])
  })

  it("asks the next peer when a request times out, and backs off after trying everyone", () => {
    const f = new Fixture(4, 0, {
      fetchTimeoutMs: 1_000,
      leaderTimeoutMs: 100_000,
      certificationTimeoutMs: 200_000,
    })
    f.start()
    f.cert(1, f.nullification(2n, [1, 2, 3]))
    const asked = () => requests(f).map((r) => r.to[0])
    expect(asked().length).toBe(1)
    f.now += 1_000
    f.handle({ _tag: "Timer", id: "resolver" })
    f.now += 1_000
    f.handle({ _tag: "Timer", id: "resolver" })
    expect(new Set(asked()).size).toBe(3)
    // All three peers tried: nothing for one fetch timeout, then a new round.
    f.now += 1_000
    f.handle({ _tag: "Timer", id: "resolver" })
    expect(asked().length).toBe(3)
    f.now += 1_000
    f.handle({ _tag: "Timer", id: "resolver" })
    expect(asked().length).toBe(4)
  })

  it("fetches the nullification of a view below its certified floor when a proposal skips that view, asking the proposal's leader first", () => {
    // We (node 2) hold a certified notarization of view 2 that the others never saw; they
    // nullified view 2 and 3, and the leader of view 4 builds on view 1. Background repair
    // stops at our floor (view 2), but verifying the proposal needs Nullification(2).
    const f = new Fixture(4, 2, { leaderTimeoutMs: 100_000, certificationTimeoutMs: 200_000 })
    f.start()
    f.cert(0, f.finalization(f.proposal(1n, 0n), [0, 1, 3]))
    const p2 = f.proposal(2n, 1n)
    f.cert(0, f.notarization(p2, [0, 1, 3]))
    f.handle({ _tag: "Certified", view: 2n, digest: p2.payload, ok: true })
    f.cert(0, f.nullification(3n, [0, 1, 3]))
    expect(f.engine.currentView).toBe(4n)
    expect(f.engine.fetches).toEqual([])
    const leader = f.leader(4n)
    expect(leader).toBe(1)
    const mark = f.log.length
    f.vote(leader, f.notarize(leader, f.proposal(4n, 1n)))
    const [ask] = requests(f, mark)
    expect(ask?.msg.view).toBe(2n)
    expect(ask?.to).toEqual([leader])
    expect(f.log.slice(mark).some((o) => o._tag === "Verify")).toBe(false)
    const outs = f.resolver(leader, {
      _tag: "Response",
      id: ask.msg.id,
      certificate: f.nullification(2n, [0, 1, 3]),
    })
    const verify = outs.find((o) => o._tag === "Verify")
    expect(verify?._tag === "Verify" && verify.context.parent.view).toBe(1n)
    expect(blocked(f.log)).toEqual([])
  })

  it("blocks a peer that answers with an invalid certificate, and ignores unsolicited answers", () => {
    const f = new Fixture(4, 0)
    f.start()
    f.cert(1, f.nullification(2n, [1, 2, 3]))
    const [r1] = requests(f)
    const unsolicited = f.resolver(r1.to[0] === 1 ? 2 : 1, {
      _tag: "Response",
      id: r1.msg.id,
      certificate: f.nullification(1n, [1, 2, 3]),
    })
    expect(unsolicited).toEqual([])
    const forged = f.nullification(1n, [1, 2, 3])
    const bad = {
      ...forged,
      certificate: {
        ...forged.certificate,
        signatures: forged.certificate.signatures.map((s) => s.map((b) => b ^ 1)),
      },
    }
    const outs = f.resolver(r1.to[0], { _tag: "Response", id: r1.msg.id, certificate: bad })
    expect(blocked(outs)).toEqual([r1.to[0]])
    expect(f.engine.round(1n)?.nullification).toBeUndefined()
  })
})
