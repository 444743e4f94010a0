import { describe, expect, it } from "vitest"
import type { Activity } from "../../src/domain/consensus/Engine.ts"
import { Ed25519Scheme } from "../../src/domain/consensus/Scheme.ts"
import { digestHex } from "../../src/domain/consensus/Types.ts"
import { Cluster, honestApp } from "./Harness.ts"

const FAULTS = new Set([
  "ConflictingNotarize",
  "ConflictingFinalize",
  "NullifyFinalize",
  "InvalidSignature",
])

/** Finalized payload per view, as reported by node i. */
const finalized = (c: Cluster, i: number): Map<bigint, string> => {
  const m = new Map<bigint, string>()
  for (const a of c.reports[i])
    if (a._tag === "Finalization") m.set(a.proposal.round.view, digestHex(a.proposal.payload))
  return m
}

/** No two nodes finalized different payloads for a view; nobody reported a fault. */
const expectSafe = (c: Cluster) => {
  const seen = new Map<bigint, string>()
  for (let i = 0; i < c.n; i++) {
    for (const [view, payload] of finalized(c, i)) {
      const other = seen.get(view)
      if (other !== undefined) expect(payload).toBe(other)
      seen.set(view, payload)
    }
    const faults = c.reports[i].filter((a: Activity) => FAULTS.has(a._tag))
    expect(faults).toEqual([])
  }
  return seen
}

describe("a 4-validator cluster (synchronous harness)", () => {
  it("finalizes 20 views with a certificate for every view and identical payloads everywhere", () => {
    const c = new Cluster(4).start()
    c.run(() => c.engines.every((e) => e!.lastFinalized >= 20n))
    const all = expectSafe(c)
    for (let v = 1n; v <= 20n; v++) expect(all.has(v)).toBe(true)
    for (const e of c.engines) expect(e!.blocked.size).toBe(0)
  })

  it("finalizes 20 views with real Ed25519 signatures", () => {
    const c = new Cluster(4, new Ed25519Scheme()).start()
    c.run(() => c.engines.every((e) => e!.lastFinalized >= 20n))
    expectSafe(c)
  })

  it("progresses with one validator offline, nullifying the views it leads", () => {
    const c = new Cluster(4, undefined, honestApp, {}, new Set([3])).start()
    c.run(() => [0, 1, 2].every((i) => c.engine(i).lastFinalized >= 20n))
    expectSafe(c)
    // (333 + v) mod 4 = 3 for v = 2, 6, 10, ...: those views have nullifications, not finalizations.
    const nullified = c.reports[0].flatMap((a) =>
      a._tag === "Nullification" ? [a.round.view] : [],
    )
    expect(nullified).toContain(2n)
    expect(nullified).toContain(6n)
    expect(finalized(c, 0).has(2n)).toBe(false)
  })

  it("lets a late validator join at the tip from certificates", () => {
    const c = new Cluster(4, undefined, honestApp, {}, new Set([0])).start()
    c.run(() => c.engine(1).lastFinalized >= 30n)
    c.boot(0)
    c.run(() => c.engine(0).lastFinalized >= 40n)
    expect(c.engine(0).currentView).toBeGreaterThan(40n)
    expectSafe(c)
  })

  it("recovers when every validator crashes right after journaling nullify(1)", () => {
    // n = 5; view 1's leader ((333 + 1) mod 5 = 4) never starts.
    const c = new Cluster(5, undefined, honestApp, { timeoutRetryMs: 500 }, new Set([4])).start()
    for (let i = 0; i < 4; i++) for (let j = 0; j < 5; j++) c.cut.add(`${i}>${j}`)
    c.run(() => [0, 1, 2, 3].every((i) => c.engine(i).round(1n)?.sentNullify === true))
    for (let i = 0; i < 4; i++) expect(c.engine(i).round(1n)?.nullification).toBeUndefined()
    for (let i = 0; i < 4; i++) c.crash(i)
    c.cut.clear()
    for (let i = 0; i < 4; i++) c.boot(i)
    for (let i = 0; i < 4; i++) expect(c.engine(i).round(1n)?.sentNullify).toBe(true)
    c.run(() => [0, 1, 2, 3].every((i) => c.engine(i).lastFinalized >= 5n))
    for (let i = 0; i < 4; i++) expect(c.engine(i).round(1n)?.nullification).toBeDefined()
    expectSafe(c)
  })

  it("survives validators crashing and restarting from their journals (hailstorm-lite)", () => {
    const c = new Cluster(5, undefined, honestApp, {
      timeoutRetryMs: 500,
      leaderTimeoutMs: 200,
      certificationTimeoutMs: 400,
    }).start()
    let target = 10n
    for (let round = 0; round < 8; round++) {
      c.run(() => c.engines.every((e) => e === undefined || e.lastFinalized >= target))
      const victim = round % 5
      c.crash(victim)
      target += 5n
      c.run(() => c.engines.every((e) => e === undefined || e.lastFinalized >= target))
      c.boot(victim)
      target += 5n
    }
    c.run(() => c.engines.every((e) => e!.lastFinalized >= target))
    expectSafe(c)
  })
})
