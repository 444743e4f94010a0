/**
 * How far behind a node is: the best finalized height it trusts from the validators'
 * reports, which a single faulty validator cannot inflate, and how readiness uses it.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { trustedPeerHeight } from "../../src/layers/chain/PeerHeights.ts"
import { assessHealth } from "../../src/layers/http/HealthRoutes.ts"

describe("trusted peer height", () => {
  it("is the (f+1)-th highest report, never below the node's own height", () => {
    // 4 validators (f = 1): three peers report.
    expect(trustedPeerHeight([120, 118, 119], 1, 100)).toBe(119)
    // One faulty peer claims a huge height: it is not believed alone.
    expect(trustedPeerHeight([1_000_000, 101, 100], 1, 100)).toBe(101)
    // f or fewer reports prove nothing: the node's own height.
    expect(trustedPeerHeight([500], 1, 100)).toBe(100)
    expect(trustedPeerHeight([], 0, 7)).toBe(7)
    expect(trustedPeerHeight([90, 95], 0, 100)).toBe(100)
    // 7 validators (f = 2).
    expect(trustedPeerHeight([50, 40, 30, 20, 10, 5], 2, 1)).toBe(30)
  })

  it("makes a node unready while it lags more than ready-max-lag behind it", () => {
    const at = (own: number, reports: number[]) =>
      assessHealth({
        storage: Either.right(1e10),
        height: own,
        bootstrapped: true,
        cluster: {
          validators: 4,
          connected: ["a", "b", "c"],
          minPeers: "quorum",
          highestFinalized: trustedPeerHeight(reports, 1, own),
          maxLag: 10,
        },
      })
    expect(at(100, [111, 111, 111]).ready).toBe(false)
    expect(at(100, [111, 111, 111]).problems[0]).toContain("catching up: 11 block(s) behind")
    expect(at(100, [110, 111, 111]).ready).toBe(false)
    expect(at(100, [110, 110, 111]).ready).toBe(true)
    // A lone liar does not take a node out of rotation.
    expect(at(100, [1_000_000, 100, 100]).ready).toBe(true)
  })
})
