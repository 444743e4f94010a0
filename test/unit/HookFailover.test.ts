/**
 * Who sends a webhook delivery, and when: the owner is hash(guid) mod n and the backups
 * follow in cluster order; each rank's slot starts a takeover window after the previous
 * one, and a rank starts only early enough to finish its attempts before the next slot;
 * a timing whose window does not exceed the retry window is refused.
 */
import { describe, expect, it } from "vitest"
import {
  latestStart,
  ownerOf,
  rankOf,
  ranking,
  retryWindowMs,
  slotStart,
  timingProblem,
} from "../../src/domain/HookFailover.ts"

const timing = { attempts: 3, attemptTimeoutMs: 500, takeoverMs: 9000 }

describe("webhook failover", () => {
  it("orders the validators from the owner, the same way on every node", () => {
    const guid = "0000000b-aaaa-bbbb-cccc-dddddddddddd" // 11 mod 4 = 3
    expect(ownerOf(guid, 4)).toBe(3)
    expect(ranking(guid, 4)).toEqual([3, 0, 1, 2])
    expect([0, 1, 2, 3].map((me) => rankOf(guid, 4, me))).toEqual([1, 2, 3, 0])
    expect(ranking(guid, 1)).toEqual([0])
  })

  it("gives each rank a slot, and a start deadline that leaves time to finish before the next", () => {
    expect(retryWindowMs(timing)).toBe(3 * 500 + 200 + 600)
    const t = 1_000_000
    expect(slotStart(timing, t, 0)).toBe(t)
    expect(slotStart(timing, t, 2)).toBe(t + 18_000)
    const deadline = latestStart(timing, t, 1, 4)
    expect(deadline).toBe(t + 9000 + Math.floor(((9000 - 2300) * 2) / 3))
    // Starting at the deadline and using the whole retry window still ends before rank 2.
    expect(deadline + retryWindowMs(timing)).toBeLessThan(slotStart(timing, t, 2))
    expect(latestStart(timing, t, 3, 4)).toBe(Number.POSITIVE_INFINITY)
  })

  it("refuses a takeover window that does not exceed the retry window", () => {
    expect(timingProblem(timing)).toBeUndefined()
    expect(timingProblem({ ...timing, takeoverMs: 3000 })).toMatch(
      /must exceed the retry window .* 2300 ms/,
    )
  })
})
